/* rebalance-bot dashboard: reads /api/v1 every 5 s and draws it; sends the four commands with
   the bearer token after a confirmation. Every string from the API goes in through textContent
   or an SVG attribute, never as markup. The token lives in sessionStorage only. */
"use strict";

(function () {
  const API = "/api/v1";
  const REFRESH_MS = 5000;
  const TOKEN_KEY = "rebalance-bot.api-token";
  const SVG = "http://www.w3.org/2000/svg";
  const SERIES = 8; // colours in dashboard.css: .s0 ... .s7

  const $ = (id) => document.getElementById(id);
  let timer = null;
  let pending = null; // the command the dialog asks about

  // -- small helpers ----------------------------------------------------------------------------

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function svg(tag, attrs) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    return node;
  }

  function num(x) {
    const n = typeof x === "number" ? x : parseFloat(x);
    return Number.isFinite(n) ? n : null;
  }

  function pct(x, digits) {
    const n = num(x);
    return n === null ? "–" : (n * 100).toFixed(digits === undefined ? 1 : digits) + "%";
  }

  function fixed(x, digits) {
    const n = num(x);
    return n === null ? "–" : n.toFixed(digits);
  }

  function money(x) {
    const n = num(x);
    return n === null ? "–" : n.toLocaleString("en-US", { maximumFractionDigits: 2 });
  }

  function time(iso) {
    if (!iso) return "–";
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function say(text, kind) {
    const box = $("messages");
    const line = el("p", "msg " + (kind || "info"), text);
    box.appendChild(line);
    while (box.children.length > 4) box.removeChild(box.firstChild);
  }

  function clamp(x, lo, hi) {
    return Math.min(hi, Math.max(lo, x));
  }

  // -- reading ----------------------------------------------------------------------------------

  async function getJSON(path) {
    const resp = await fetch(API + path, { headers: { Accept: "application/json" } });
    let body = null;
    try {
      body = await resp.json();
    } catch (e) {
      body = null;
    }
    if (!resp.ok) {
      const why = body && typeof body.error === "string" ? body.error : resp.statusText;
      throw new Error(path + ": " + resp.status + " " + why);
    }
    return body;
  }

  let lastError = null;

  async function refresh() {
    try {
      const [status, current, history, snapshots] = await Promise.all([
        getJSON("/status"),
        getJSON("/rebalance/current"),
        getJSON("/rebalances?limit=20"),
        getJSON("/snapshots?limit=500"),
      ]);
      drawStatus(status || {});
      drawPositions(status || {});
      drawDrift(status || {}, Array.isArray(snapshots) ? snapshots : []);
      drawRunning(current || {});
      drawHistory(Array.isArray(history) ? history : []);
      const now = new Date();
      const stamp = $("updated");
      stamp.textContent = now.toLocaleTimeString();
      stamp.setAttribute("datetime", now.toISOString());
      document.body.classList.remove("stale");
      if (lastError !== null) say("Connected again.", "info");
      lastError = null;
    } catch (err) {
      document.body.classList.add("stale");
      const text = "Cannot read the bot's state: " + (err && err.message ? err.message : err);
      if (text !== lastError) say(text, "error");
      lastError = text;
    }
  }

  function schedule() {
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(async () => {
      await refresh();
      schedule();
    }, REFRESH_MS);
  }

  // -- drawing ----------------------------------------------------------------------------------

  function drawStatus(s) {
    $("mode").textContent = s.mode ? String(s.mode) : "?";
    $("value").textContent = s.value ? "Value " + money(s.value) + " " + (s.quote || "") : "";
    $("seen").textContent = s.seen_at
      ? "Last snapshot " + time(s.seen_at) + (s.running ? " · rebalancing now" : "")
      : "No snapshot in the journal yet.";
    const banner = $("banner");
    if (s.halted) {
      banner.className = "banner halted";
      $("banner-title").textContent = "Halted:";
      $("banner-text").textContent = String(s.halted);
      banner.hidden = false;
    } else if (s.paused) {
      banner.className = "banner paused";
      $("banner-title").textContent = "Paused:";
      $("banner-text").textContent = String(s.paused);
      banner.hidden = false;
    } else {
      banner.hidden = true;
    }
    const writes = !!(s.api && s.api.writes);
    $("readonly").hidden = writes;
    for (const id of ["pause", "rebalance", "cancel", "resume"]) $(id).disabled = !writes;
    $("cancel").disabled = !writes || !s.running;
    $("pause").disabled = !writes || !!s.paused;
  }

  function drawPositions(s) {
    const list = $("positions");
    clear(list);
    const positions = Array.isArray(s.positions) ? s.positions : [];
    const targets = (s.targets && s.targets.weights) || {};
    const rows = positions.length
      ? positions
      : Object.entries(targets).map(([asset, target]) => ({ asset, target }));
    // A common scale: up to the largest weight, band or target, rounded up to 10 points.
    let top = 0.1;
    for (const p of rows) {
      const band = Array.isArray(p.band) ? p.band : [];
      for (const v of [p.weight, p.target, band[1]]) {
        const n = num(v);
        if (n !== null) top = Math.max(top, n);
      }
    }
    top = Math.min(1, Math.ceil(top * 10 + 0.5) / 10);
    const W = 400;
    const H = 24;
    const x = (v) => clamp(num(v) / top, 0, 1) * W;
    for (const p of rows) {
      const known = num(p.weight) !== null;
      const inBand = p.in_band === true;
      const item = el("li", "position " + (!known ? "unknown" : inBand ? "in" : "out"));
      item.dataset.asset = String(p.asset);
      item.appendChild(el("span", "asset", p.asset));
      const bar = svg("svg", {
        viewBox: `0 0 ${W} ${H}`,
        preserveAspectRatio: "none",
        class: "bar",
        role: "img",
      });
      const label =
        `${p.asset}: weight ${pct(p.weight)}, target ${pct(p.target)}` +
        (Array.isArray(p.band) ? `, band ${pct(p.band[0])} to ${pct(p.band[1])}` : "") +
        (known ? (inBand ? ", in band" : ", out of band") : "");
      bar.setAttribute("aria-label", label);
      bar.appendChild(svg("rect", { x: 0, y: 0, width: W, height: H, class: "track" }));
      if (Array.isArray(p.band) && num(p.band[0]) !== null && num(p.band[1]) !== null) {
        const lo = x(p.band[0]);
        const hi = x(p.band[1]);
        bar.appendChild(
          svg("rect", { x: lo, y: 2, width: Math.max(hi - lo, 1), height: H - 4, class: "band" })
        );
      }
      if (num(p.target) !== null) {
        const t = x(p.target);
        bar.appendChild(svg("line", { x1: t, x2: t, y1: 0, y2: H, class: "target" }));
      }
      if (known) {
        const w = x(p.weight);
        bar.appendChild(svg("rect", { x: 0, y: 8, width: w, height: H - 16, class: "fill" }));
        bar.appendChild(svg("rect", { x: w - 3, y: 1, width: 6, height: H - 2, class: "marker" }));
      }
      item.appendChild(bar);
      const nums = el("span", "numbers");
      nums.appendChild(el("span", "num-weight", pct(p.weight)));
      nums.appendChild(document.createTextNode(" / "));
      nums.appendChild(el("span", "num-target", pct(p.target)));
      const d = num(p.drift);
      nums.appendChild(
        el("span", "num-drift", d === null ? "" : ` (${d >= 0 ? "+" : ""}${(d * 100).toFixed(1)} pt)`)
      );
      item.appendChild(nums);
      list.appendChild(item);
    }
    if (!rows.length) list.appendChild(el("li", "note", "No targets yet."));
  }

  function drawDrift(s, snapshots) {
    const box = $("drift");
    const legend = $("drift-legend");
    clear(box);
    clear(legend);
    const targets = (s.targets && s.targets.weights) || {};
    const assets = Object.keys(targets);
    const points = snapshots
      .map((snap) => ({ t: new Date(snap.at).getTime(), w: snap.weights || {} }))
      .filter((p) => Number.isFinite(p.t));
    if (!points.length || !assets.length) {
      box.appendChild(el("p", "note", "No snapshots yet."));
      return;
    }
    // Band half-widths in points, per asset, from the current positions.
    const half = {};
    for (const p of Array.isArray(s.positions) ? s.positions : []) {
      if (Array.isArray(p.band) && num(p.band[0]) !== null && num(p.band[1]) !== null) {
        half[p.asset] = ((num(p.band[1]) - num(p.band[0])) / 2) * 100;
      }
    }
    const halves = Object.values(half);
    const bandPt = halves.length ? Math.min(...halves) : null;
    const series = assets.map((asset) => ({
      asset,
      values: points.map((p) => {
        const w = num(p.w[asset]);
        const t = num(targets[asset]);
        return w === null || t === null ? null : (w - t) * 100;
      }),
    }));
    let span = bandPt === null ? 1 : bandPt * 1.5;
    for (const ser of series) for (const v of ser.values) if (v !== null) span = Math.max(span, Math.abs(v));
    span = Math.ceil(span);
    const W = 800;
    const H = 260;
    const L = 48;
    const R = 12;
    const T = 12;
    const B = 28;
    const t0 = points[0].t;
    const t1 = points[points.length - 1].t;
    const xs = (t) => (t1 === t0 ? L + (W - L - R) / 2 : L + ((t - t0) / (t1 - t0)) * (W - L - R));
    const ys = (v) => T + ((span - v) / (2 * span)) * (H - T - B);
    const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "drift", role: "img" });
    chart.setAttribute(
      "aria-label",
      `Drift of ${assets.length} assets over ${points.length} snapshots, in percentage points` +
        (bandPt === null ? "" : `; band ±${bandPt.toFixed(1)} points`)
    );
    chart.appendChild(svg("rect", { x: L, y: T, width: W - L - R, height: H - T - B, class: "plot" }));
    if (bandPt !== null) {
      chart.appendChild(
        svg("rect", {
          x: L,
          y: ys(bandPt),
          width: W - L - R,
          height: ys(-bandPt) - ys(bandPt),
          class: "band",
        })
      );
      for (const v of [bandPt, -bandPt]) {
        chart.appendChild(svg("line", { x1: L, x2: W - R, y1: ys(v), y2: ys(v), class: "band-edge" }));
      }
    }
    const step = span <= 4 ? 1 : span <= 10 ? 2 : span <= 25 ? 5 : 10;
    for (let v = -Math.floor(span / step) * step; v <= span; v += step) {
      chart.appendChild(svg("line", { x1: L, x2: W - R, y1: ys(v), y2: ys(v), class: v === 0 ? "zero" : "grid" }));
      const tick = svg("text", { x: L - 6, y: ys(v) + 4, class: "tick", "text-anchor": "end" });
      tick.textContent = (v > 0 ? "+" : "") + v + " pt";
      chart.appendChild(tick);
    }
    const first = svg("text", { x: L, y: H - 8, class: "tick", "text-anchor": "start" });
    first.textContent = time(new Date(t0).toISOString());
    chart.appendChild(first);
    if (t1 !== t0) {
      const last = svg("text", { x: W - R, y: H - 8, class: "tick", "text-anchor": "end" });
      last.textContent = time(new Date(t1).toISOString());
      chart.appendChild(last);
    }
    series.forEach((ser, i) => {
      const cls = "s" + (i % SERIES);
      let d = "";
      let pen = false;
      ser.values.forEach((v, j) => {
        if (v === null) {
          pen = false;
          return;
        }
        const vy = clamp(v, -span, span);
        d += `${pen ? "L" : "M"}${xs(points[j].t).toFixed(1)},${ys(vy).toFixed(1)} `;
        pen = true;
      });
      if (d) {
        const path = svg("path", { d: d.trim(), class: "series " + cls });
        path.dataset.asset = ser.asset;
        chart.appendChild(path);
        if (points.length === 1) {
          const v = ser.values[0];
          chart.appendChild(svg("circle", { cx: xs(points[0].t), cy: ys(v), r: 3, class: "dot " + cls }));
        }
      }
      const key = el("li", "");
      key.appendChild(el("span", "swatch " + cls));
      key.appendChild(document.createTextNode(ser.asset));
      legend.appendChild(key);
    });
    box.appendChild(chart);
  }

  function drawRunning(c) {
    const legs = Array.isArray(c.legs) ? c.legs : [];
    const table = $("legs");
    const body = table.tBodies[0];
    clear(body);
    $("running-none").hidden = !!c.running || legs.length > 0;
    $("running-none").textContent = "No rebalance is running.";
    table.hidden = legs.length === 0;
    if (c.running && !legs.length) {
      $("running-none").hidden = false;
      $("running-none").textContent = "A rebalance started " + time(c.started) + "; planning its legs.";
    }
    for (const leg of legs) {
      const planned = num(leg.planned !== undefined ? leg.planned : leg.amount);
      const filled = num(leg.filled);
      const row = el("tr");
      row.appendChild(el("td", "", leg.symbol || leg.key));
      row.appendChild(el("td", "", leg.side));
      row.appendChild(
        el("td", "num", `${filled === null ? "–" : leg.filled} / ${planned === null ? "–" : leg.planned ?? leg.amount}`)
      );
      const cell = el("td");
      const bar = el("progress", "fill");
      bar.max = planned && planned > 0 ? planned : 1;
      bar.value = filled === null ? 0 : clamp(filled, 0, bar.max);
      bar.setAttribute("aria-label", `${leg.symbol || "leg"} filled`);
      cell.appendChild(bar);
      cell.appendChild(el("span", "pct", planned ? " " + pct(filled / planned, 0) : ""));
      row.appendChild(cell);
      row.appendChild(el("td", "num", fixed(leg.shortfall_bps, 2)));
      row.appendChild(el("td", "", leg.outcome));
      body.appendChild(row);
    }
  }

  function drawHistory(rows) {
    const table = $("history");
    const body = table.tBodies[0];
    clear(body);
    table.hidden = rows.length === 0;
    $("history-none").hidden = rows.length > 0;
    for (const r of rows) {
      const tr = el("tr", "status-" + String(r.status).replace(/[^a-z_-]/gi, ""));
      const inBand = r.in_band_after === true ? "yes" : r.in_band_after === false ? "no" : "–";
      const cells = [
        [r.id, "num"],
        [time(r.started), ""],
        [r.status, ""],
        [r.reason, ""],
        [money(r.traded_value), "num"],
        [fixed(r.shortfall_bps, 2), "num"],
        [money(r.fees), "num"],
        [r.legs, "num"],
        [num(r.duration_s) === null ? "–" : fixed(r.duration_s, 1) + " s", "num"],
        [inBand, ""],
      ];
      for (const [text, cls] of cells) tr.appendChild(el("td", cls, text === null || text === undefined ? "–" : text));
      body.appendChild(tr);
    }
  }

  // -- commands ---------------------------------------------------------------------------------

  const COMMANDS = {
    pause: { path: "/pause", title: "Pause the bot?", text: "No new rebalance starts until you resume." },
    resume: { path: "/resume", title: "Resume?", text: "This ends a pause and clears a halt; the bot may trade again." },
    rebalance: { path: "/rebalance", title: "Rebalance now?", text: "The bot rebalances at its next round, through its usual risk checks." },
    cancel: { path: "/rebalance/cancel", title: "Cancel the running rebalance?", text: "Its open orders are cancelled; filled trades stay." },
  };

  function ask(name) {
    const cmd = COMMANDS[name];
    pending = name;
    $("confirm-title").textContent = cmd.title;
    $("confirm-text").textContent = cmd.text;
    $("reason-row").hidden = name !== "pause";
    $("reason").value = "";
    $("token").value = sessionStorage.getItem(TOKEN_KEY) || "";
    const dialog = $("confirm");
    dialog.showModal();
    (name === "pause" ? $("reason") : $("token")).focus();
  }

  async function send(name, token, reason) {
    const cmd = COMMANDS[name];
    const headers = { Accept: "application/json" };
    if (token) headers.Authorization = "Bearer " + token;
    let body;
    if (name === "pause" && reason) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify({ reason });
    }
    let resp;
    try {
      resp = await fetch(API + cmd.path, { method: "POST", headers, body, credentials: "omit" });
    } catch (err) {
      say("The command did not reach the bot: " + (err && err.message ? err.message : err), "error");
      return;
    }
    let data = null;
    try {
      data = await resp.json();
    } catch (e) {
      data = null;
    }
    if (resp.ok) {
      if (token) sessionStorage.setItem(TOKEN_KEY, token);
      say((data && data.message) || "Done.", "ok");
    } else {
      if (resp.status === 401 || resp.status === 403) sessionStorage.removeItem(TOKEN_KEY);
      const why = data && typeof data.error === "string" ? data.error : resp.statusText;
      say(`Refused (${resp.status}): ${why}`, "error");
    }
    await refresh();
    schedule();
  }

  function wire() {
    for (const name of Object.keys(COMMANDS)) $(name).addEventListener("click", () => ask(name));
    const dialog = $("confirm");
    $("confirm-no").addEventListener("click", () => {
      pending = null;
      $("token").value = "";
      dialog.close();
    });
    dialog.addEventListener("cancel", () => {
      pending = null;
      $("token").value = "";
    });
    $("confirm-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const name = pending;
      const token = $("token").value.trim();
      const reason = $("reason").value.trim();
      pending = null;
      $("token").value = "";
      dialog.close();
      if (name) send(name, token, reason);
    });
    $("forget").addEventListener("click", () => {
      sessionStorage.removeItem(TOKEN_KEY);
      say("The token is forgotten in this tab.", "info");
    });
  }

  document.addEventListener("DOMContentLoaded", async () => {
    wire();
    await refresh();
    schedule();
  });
})();
