"""A backtest's chart: every policy's value over time, and each policy's weights over time.

Two files from one call: a PNG (matplotlib, no display needed) and a self-contained HTML page (the
data inline, drawn as SVG by a small script: no network, no library). Series are thinned to at
most `MAX_POINTS` bars, always keeping the first and the last.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bot.lab.costs import Floats

MAX_POINTS = 1000
WEIGHT_POINTS = 500  # the small weight panels: enough for their width


@dataclass(frozen=True, slots=True)
class Line:
    """One policy's path for the chart."""

    name: str
    values: Floats
    weights: Floats  # bars x assets (the quote last)


def thin(n: int, limit: int = MAX_POINTS) -> npt.NDArray[np.int64]:
    """Indices of at most `limit` evenly spread bars of `n`, first and last included."""
    if n <= limit:
        return np.arange(n, dtype=np.int64)
    return np.unique(np.linspace(0, n - 1, limit).round().astype(np.int64))


def write_png(
    path: Path,
    timestamps: npt.NDArray[np.int64],
    lines: Sequence[Line],
    assets: Sequence[str],
    title: str,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    keep = thin(len(timestamps))
    days = timestamps[keep].astype("datetime64[ms]")
    cols = 4
    rows = -(-len(lines) // cols)
    fig = plt.figure(figsize=(16, 4.5 + 2.2 * rows), layout="constrained")
    grid = fig.add_gridspec(rows + 2, cols)
    top = fig.add_subplot(grid[:2, :])
    for line in lines:
        top.plot(
            days, line.values[keep], linewidth=1.6 if line.name == "none" else 0.8, label=line.name
        )
    top.set_yscale("log")
    top.set_title(title, loc="left")
    top.set_ylabel("value")
    top.legend(ncol=5, fontsize=7, loc="upper left")
    few = thin(len(timestamps), WEIGHT_POINTS)
    few_days = timestamps[few].astype("datetime64[ms]")
    for k, line in enumerate(lines):
        ax = fig.add_subplot(grid[2 + k // cols, k % cols])
        ax.stackplot(few_days, line.weights[few].T, labels=assets, linewidth=0)
        ax.set_ylim(0, 1)
        locator = mdates.AutoDateLocator(maxticks=4)  # type: ignore[no-untyped-call]
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
        ax.set_title(line.name, fontsize=8, loc="left")
        ax.tick_params(labelsize=6)
        if k == 0:
            ax.legend(fontsize=5, ncol=2, loc="lower left")
    fig.savefig(path, dpi=80)
    plt.close(fig)


def write_html(
    path: Path,
    timestamps: npt.NDArray[np.int64],
    lines: Sequence[Line],
    assets: Sequence[str],
    title: str,
) -> None:
    keep = thin(len(timestamps))
    data = {
        "t": timestamps[keep].tolist(),
        "assets": list(assets),
        "policies": [
            {
                "name": line.name,
                "v": np.round(line.values[keep], 2).tolist(),
                "w": np.round(line.weights[keep].T, 3).tolist(),
            }
            for line in lines
        ],
    }
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    page = _PAGE.replace("{{TITLE}}", html.escape(title)).replace("{{DATA}}", payload)
    path.write_text(page, encoding="utf-8")


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{TITLE}}</title>
<style>
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
svg{background:#fafafa;border:1px solid #ddd}
.legend span{display:inline-block;margin-right:1em;cursor:pointer}
.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:middle}
.off{opacity:.3}
</style></head><body>
<h1>{{TITLE}}</h1>
<h2>Value over time (log scale)</h2>
<div class="legend" id="lv"></div>
<svg id="value" width="1100" height="380"></svg>
<h2>Weights over time: <select id="pick"></select></h2>
<div class="legend" id="lw"></div>
<svg id="weights" width="1100" height="300"></svg>
<script>
const D = {{DATA}};
const C = ["#1f77b4","#ff7f0e","#2ca02c","#d62728","#9467bd","#8c564b","#e377c2","#7f7f7f",
  "#bcbd22","#17becf","#393b79","#637939","#8c6d31","#843c39","#7b4173","#3182bd","#e6550d",
  "#31a354","#756bb1","#636363"];
const NS = "http://www.w3.org/2000/svg", P = 50;
const hidden = new Set();
function el(name, attrs, parent) {
  const e = document.createElementNS(NS, name);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  parent.appendChild(e); return e;
}
function axes(svg, lo, hi, fmt) {
  const W = +svg.getAttribute("width"), H = +svg.getAttribute("height");
  const t0 = D.t[0], t1 = D.t[D.t.length - 1];
  const x = t => P + (t - t0) / (t1 - t0 || 1) * (W - 2 * P);
  const y = v => H - P + (lo - v) / (hi - lo || 1) * (H - 2 * P);
  for (let k = 0; k <= 4; k++) {
    const v = lo + (hi - lo) * k / 4;
    el("line", {x1: P, x2: W - P, y1: y(v), y2: y(v), stroke: "#e4e4e4"}, svg);
    el("text", {x: 4, y: y(v) + 4, "font-size": 11}, svg).textContent = fmt(v);
    const t = t0 + (t1 - t0) * k / 4;
    el("text", {x: x(t) - 30, y: H - P + 18, "font-size": 11}, svg).textContent =
      new Date(t).toISOString().slice(0, 10);
  }
  return [x, y];
}
function drawValue() {
  const svg = document.getElementById("value"); svg.innerHTML = "";
  const shown = D.policies.filter(p => !hidden.has(p.name));
  const logs = shown.flatMap(p => p.v.filter(v => v > 0).map(Math.log10));
  if (!logs.length) return;
  const [x, y] = axes(svg, Math.min(...logs), Math.max(...logs),
    v => Math.round(10 ** v).toLocaleString());
  D.policies.forEach((p, i) => {
    if (hidden.has(p.name)) return;
    const pts = p.v.map((v, k) => x(D.t[k]) + "," + y(Math.log10(Math.max(v, 1e-9)))).join(" ");
    el("polyline", {points: pts, fill: "none", stroke: C[i % C.length],
      "stroke-width": p.name === "none" ? 2.5 : 1.2}, svg);
  });
}
function drawWeights(i) {
  const svg = document.getElementById("weights"); svg.innerHTML = "";
  const [x, y] = axes(svg, 0, 1, v => Math.round(v * 100) + "%");
  const w = D.policies[i].w, base = D.t.map(() => 0);
  w.forEach((series, a) => {
    const top = base.map((b, k) => b + series[k]);
    const up = D.t.map((t, k) => x(t) + "," + y(top[k]));
    const down = D.t.map((t, k) => x(t) + "," + y(base[k])).reverse();
    el("polygon", {points: up.concat(down).join(" "), fill: C[a % C.length]}, svg);
    top.forEach((v, k) => base[k] = v);
  });
}
const lv = document.getElementById("lv"), lw = document.getElementById("lw");
const pick = document.getElementById("pick");
D.policies.forEach((p, i) => {
  const s = document.createElement("span");
  s.innerHTML = `<i style="background:${C[i % C.length]}"></i>`;
  s.appendChild(document.createTextNode(p.name));
  s.onclick = () => { hidden.has(p.name) ? hidden.delete(p.name) : hidden.add(p.name);
    s.classList.toggle("off"); drawValue(); };
  lv.appendChild(s);
  const o = document.createElement("option"); o.value = i; o.textContent = p.name;
  pick.appendChild(o);
});
D.assets.forEach((a, i) => {
  const s = document.createElement("span");
  s.innerHTML = `<i style="background:${C[i % C.length]}"></i>`;
  s.appendChild(document.createTextNode(a)); lw.appendChild(s);
});
pick.onchange = () => drawWeights(+pick.value);
drawValue(); drawWeights(0);
</script></body></html>
"""


def write_charts(
    out: Path,
    timestamps: npt.NDArray[np.int64],
    lines: Sequence[Line],
    assets: Sequence[str],
    title: str,
) -> tuple[Path, Path]:
    """`out` with `.png` and `.html` suffixes: both charts; their paths."""
    png, page = out.with_suffix(".png"), out.with_suffix(".html")
    out.parent.mkdir(parents=True, exist_ok=True)
    write_png(png, timestamps, lines, assets, title)
    write_html(page, timestamps, lines, assets, title)
    return png, page
