"""The `monitoring` profile: Prometheus and Grafana files agree with the bot and with each other.

- every PromQL expression of the Grafana dashboard names only series a real `Metrics` exports
  (after a poll, a rebalance, flows, errors), with labels those series carry;
- the dashboard has Grafana's basics (uid, title, panels with unique ids and a grid position,
  every query on the provisioned data source);
- docker-compose.yml parses; `prometheus` and `grafana` only run with the `monitoring` profile and
  publish on 127.0.0.1 only; the bot and the simulator keep no profile and their ports;
- Prometheus scrapes the bot at the port config/docker.toml and config/docker-demo.toml listen on.

PyYAML is not a dependency: `load_yaml` reads the subset of YAML these files use (block mappings
and sequences, flow sequences, anchors, aliases and merge keys, `|` blocks), and is checked against
PyYAML where PyYAML happens to be installed.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.domain.flows import Flow, FlowKind, FlowStatus
from bot.domain.market import Side
from bot.domain.status import LegOutcome, RebalanceStatus
from bot.execution.reports import LegReport, RebalanceReport
from bot.metrics import Metrics
from bot.runtime.planning import plan_from_snapshot
from bot.settings import load_settings
from bot.snapshot import load_snapshot

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "monitoring"
DASHBOARD = MONITORING / "grafana" / "dashboards" / "rebalance-bot.json"
DATASOURCES = MONITORING / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
PROVIDERS = MONITORING / "grafana" / "provisioning" / "dashboards" / "dashboards.yml"
PROMETHEUS = MONITORING / "prometheus.yml"
COMPOSE = ROOT / "docker-compose.yml"

METRIC = re.compile(r"\brebalance_[a-z0-9_]+")
STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
BY = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*\"")
LEGEND = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")
VARIABLE = re.compile(r"\$(?:\{)?([a-zA-Z_][a-zA-Z0-9_]*)")
GRAFANA_VARIABLES = {"__rate_interval", "__interval", "__range", "__range_s", "__interval_ms"}
# Prometheus's own series about the scrape, with the labels it gives them.
SCRAPE_SERIES = {"up": {"job", "instance"}}
# What the dashboard must show (issue #20 item 4), by series.
REQUIRED = {
    "rebalance_portfolio_value",
    "rebalance_asset_weight",
    "rebalance_asset_target",
    "rebalance_asset_drift",
    "rebalance_rebalances_finished_total",
    "rebalance_shortfall_bps_bucket",
    "rebalance_shortfall_bps_sum",
    "rebalance_shortfall_bps_count",
    "rebalance_fees_total",
    "rebalance_api_errors_total",
    "rebalance_halted",
    "rebalance_last_poll_timestamp_seconds",
    "rebalance_loop_lag_seconds",
    "rebalance_deposited_total",
    "rebalance_withdrawn_total",
}


# ---- a minimal YAML reader ------------------------------------------------------------------


def _strip_comment(line: str) -> str:
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i]
    return line


def _scalar(text: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return None if text in ("", "~", "null") else text


def load_yaml(text: str) -> Any:
    """The YAML subset of this repository's Compose and monitoring files, as plain Python."""
    lines: list[tuple[int, str, str]] = []  # indentation, content, the line as written
    for number, raw in enumerate(text.splitlines(), 1):
        body = _strip_comment(raw).rstrip()
        if not body.strip():
            continue
        indent = len(body) - len(body.lstrip(" "))
        if body[indent:].startswith("\t"):
            raise ValueError(f"line {number}: a tab in the indentation")
        lines.append((indent, body.strip(), raw.rstrip()))
    anchors: dict[str, Any] = {}

    def value(rest: str, i: int, indent: int) -> tuple[Any, int]:
        anchor = None
        if rest.startswith("&"):
            anchor, _, rest = rest.partition(" ")
            anchor, rest = anchor[1:], rest.strip()
        if rest.startswith("*"):
            result: Any = anchors[rest[1:]]
        elif rest == "|":  # a literal block, its lines kept as written (no blank line inside)
            first, literal = (lines[i][0] if i < len(lines) else 0), []
            while i < len(lines) and lines[i][0] > indent:
                literal.append(lines[i][2][first:])
                i += 1
            result = "\n".join(literal) + "\n"
        elif rest.startswith("["):
            if not rest.endswith("]"):
                raise ValueError(f"unclosed flow sequence: {rest}")
            inner = rest[1:-1].strip()
            result = [_scalar(x) for x in inner.split(",")] if inner else []
        elif rest:
            result = _scalar(rest)
        elif i < len(lines) and lines[i][0] > indent:
            result, i = block(i, lines[i][0])
        elif i < len(lines) and lines[i][0] == indent and lines[i][1].startswith("- "):
            result, i = block(i, indent)  # a sequence may sit at its key's indentation
        else:
            result = None
        if anchor:
            anchors[anchor] = result
        return result, i

    def block(i: int, indent: int) -> tuple[Any, int]:
        if lines[i][1].startswith("- ") or lines[i][1] == "-":
            seq = []
            while i < len(lines) and lines[i][0] == indent and lines[i][1].startswith("-"):
                content = lines[i][1][1:].lstrip(" ")
                if re.match(r"[\w.<-]+:(\s|$)", content):  # a mapping as an item: "- key: v"
                    at = indent + len(lines[i][1]) - len(content)
                    lines[i] = (at, content, lines[i][2])
                    item, i = block(i, at)
                else:
                    item, i = value(content, i + 1, indent)
                seq.append(item)
            return seq, i
        mapping: dict[str, Any] = {}
        merged: dict[str, Any] = {}
        while i < len(lines) and lines[i][0] == indent:
            line = lines[i][1]
            if line.startswith("-"):
                break
            key, sep, rest = line.partition(":")
            if not sep or (rest and not rest.startswith(" ")):
                raise ValueError(f"not a mapping entry: {line}")
            key = str(_scalar(key))
            if key in mapping:
                raise ValueError(f"duplicate key: {key}")
            item, i = value(rest.strip(), i + 1, indent)
            if key == "<<":
                merged.update(item)
            else:
                mapping[key] = item
        if i < len(lines) and lines[i][0] > indent:
            raise ValueError(f"bad indentation at: {lines[i][1]}")
        return {**merged, **mapping}, i

    if not lines:
        return None
    result, end = block(0, lines[0][0])
    if end != len(lines):
        raise ValueError(f"unparsed from: {lines[end][1]}")
    return result


# ---- what the bot exports -------------------------------------------------------------------


def _leg(symbol: str, side: Side, move: str) -> LegReport:
    price = Decimal(100) + (Decimal(move) if side is Side.BUY else -Decimal(move))
    return LegReport(
        key=f"rb01-1-{symbol}",
        symbol=symbol,
        side=side,
        planned=Decimal(1),
        arrival_mid=Decimal(100),
        quote="USDT",
        filled=Decimal(1),
        cost=price,
        fees=Decimal("0.1"),
        children=3,
        children_filled=2,
        children_cancelled=1,
        children_rejected=1,
        outcome=LegOutcome.DONE,
    )


@pytest.fixture(scope="module")
def exported() -> dict[str, set[str]]:
    """Sample name -> label names, as a scrape of a real `Metrics` sees them after a poll, a
    heartbeat, a rebalance with fills, a deposit, a withdrawal, API errors, loop lag, a halt."""
    settings = load_settings(ROOT / "config" / "demo.toml")
    plan = plan_from_snapshot(
        settings.portfolio_spec(),
        settings.rebalance.policy(),
        load_snapshot(ROOT / "config" / "snapshots" / "demo.json"),
    )
    m = Metrics(10.0, clock=lambda: 1_700_000_000.0)
    m.observe_poll(plan.valuation)
    m.heartbeat()
    m.rebalance_started()
    legs = [_leg("SOL/USDT", Side.SELL, "0.03"), _leg("LINK/USDT", Side.BUY, "0.08")]
    m.rebalance_finished(
        RebalanceReport(1, RebalanceStatus.DONE, "", plan, started=0.0, finished=9.0, legs=legs)
    )
    m.rebalance_started()
    m.rebalance_finished(
        RebalanceReport(2, RebalanceStatus.HALTED, "x", plan, started=10.0, finished=12.0)
    )
    m.flow(Flow("d1", FlowKind.DEPOSIT, "USDT", Decimal(500), FlowStatus.OK), None)
    m.flow(
        Flow("w1", FlowKind.WITHDRAWAL, "BTC", Decimal("0.1"), FlowStatus.OK, Decimal("0.0001")),
        None,
    )
    m.api_error("RateLimitExceeded")
    m.loop_lag(0.02)
    m.halted(True)
    series: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(m.render().decode()):
        for sample in family.samples:
            series.setdefault(sample.name, set()).update(sample.labels)
    return series


# ---- the dashboard --------------------------------------------------------------------------


def dashboard() -> dict[str, Any]:
    data = json.loads(DASHBOARD.read_text())
    assert isinstance(data, dict)
    return data


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, those inside collapsed rows included."""
    out = []
    for panel in board["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def expressions(board: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(where, expr, legend) of every query: the panels' targets and the query variables."""
    found = []
    for panel in panels(board):
        for target in panel.get("targets", []):
            where = f"panel {panel['id']} {panel.get('title')!r} {target.get('refId')}"
            found.append((where, target["expr"], target.get("legendFormat", "")))
    for var in board.get("templating", {}).get("list", []):
        if var.get("type") == "query":
            query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            found.append((f"variable {var['name']}", query, ""))
    return found


def names_in(expr: str) -> set[str]:
    """The bot's metric names an expression reads (label values in quotes left out)."""
    return set(METRIC.findall(STRING.sub('""', expr)))


def test_every_expression_names_only_exported_series(exported: dict[str, set[str]]) -> None:
    board = dashboard()
    exprs = expressions(board)
    assert len(exprs) >= 20
    used: set[str] = set()
    for where, expr, _ in exprs:
        names = names_in(expr)
        unknown = names - exported.keys()
        assert not unknown, (
            f"{where}: {sorted(unknown)} not exported; the bot exports {sorted(exported)}"
        )
        used |= names
        if not names:  # a band line (vector($band)) or Prometheus's own `up`
            assert re.fullmatch(r'vector\(-?\$band\)|up\{job="[^"]+"\}', expr.strip()), (
                where,
                expr,
            )
    assert used >= REQUIRED, f"no panel shows {sorted(REQUIRED - used)}"


def test_every_label_an_expression_uses_is_exported(exported: dict[str, set[str]]) -> None:
    for where, expr, legend in expressions(dashboard()):
        names = names_in(expr)
        labels: set[str] = set().union(*(exported.get(n, set()) for n in names)) if names else set()
        for series, its in SCRAPE_SERIES.items():
            if re.search(rf"\b{series}\{{", expr):
                labels |= its
        if "histogram_quantile" in expr:
            labels.add("le")
        stripped = STRING.sub('""', expr)
        used = {x.strip() for group in BY.findall(stripped) for x in group.split(",") if x.strip()}
        used |= set(MATCHER.findall(expr)) | set(LEGEND.findall(legend))
        used.discard("__name__")
        assert used <= labels, f"{where}: labels {sorted(used - labels)} not on {sorted(names)}"


def test_dashboard_has_grafanas_basics() -> None:
    board = dashboard()
    assert re.fullmatch(r"[a-zA-Z0-9_-]{1,40}", board["uid"])
    assert board["title"].strip()
    assert isinstance(board["schemaVersion"], int) and board["schemaVersion"] >= 36
    assert "id" not in board or board["id"] is None  # provisioning gives the id
    ds_uid = provisioned_datasource()["uid"]
    variables = {v["name"] for v in board["templating"]["list"]}
    ids = [p["id"] for p in panels(board)]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    assert all(isinstance(i, int) for i in ids)
    cells: dict[tuple[int, int], int] = {}
    for panel in panels(board):
        assert panel.get("type") and panel.get("title"), panel["id"]
        grid = panel["gridPos"]
        assert all(isinstance(grid[k], int) for k in ("h", "w", "x", "y")), panel["id"]
        assert grid["w"] > 0 and grid["h"] > 0 and grid["x"] >= 0 and grid["x"] + grid["w"] <= 24
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"panels {cells[(x, y)]} and {panel['id']} overlap"
                cells[(x, y)] = panel["id"]
        if panel.get("repeat"):
            assert panel["repeat"] in variables
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": ds_uid}, panel["id"]
        assert panel["targets"], panel["id"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["id"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == ds_uid, (panel["id"], target["refId"])
            for var in VARIABLE.findall(target["expr"] + " " + panel["title"]):
                assert var in variables | GRAFANA_VARIABLES, (panel["id"], var)
    for var in board["templating"]["list"]:
        if var.get("datasource"):
            assert var["datasource"]["uid"] == ds_uid


def provisioned_datasource() -> dict[str, Any]:
    sources = load_yaml(DATASOURCES.read_text())["datasources"]
    assert len(sources) == 1
    return sources[0]  # type: ignore[no-any-return]


def test_grafana_provisioning_points_at_the_compose_services() -> None:
    compose = load_yaml(COMPOSE.read_text())
    source = provisioned_datasource()
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    assert "prometheus" in compose["services"]
    mounts = {}
    for volume in compose["services"]["grafana"]["volumes"]:
        parts = volume.split(":")
        if parts[0].startswith("./"):
            assert parts[-1] == "ro", f"{volume}: not read-only"
            mounts[parts[1]] = (ROOT / parts[0]).resolve()
    assert mounts["/etc/grafana/provisioning"] == (MONITORING / "grafana" / "provisioning")
    (provider,) = load_yaml(PROVIDERS.read_text())["providers"]
    assert provider["type"] == "file"
    assert mounts[provider["options"]["path"]] == DASHBOARD.parent


# ---- docker-compose.yml ---------------------------------------------------------------------


def test_compose_parses_and_the_monitoring_services_are_in_their_profile() -> None:
    compose = load_yaml(COMPOSE.read_text())
    services = compose["services"]
    assert "name" not in compose  # docker-compose 1.29 refuses a top-level name
    assert {"sim", "bot", "prometheus", "grafana"} <= services.keys()
    for name, service in services.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
    for name in ("prometheus", "grafana"):
        service = services[name]
        assert service["profiles"] == ["monitoring"], name
        image, _, tag = service["image"].rpartition(":")
        assert image and re.fullmatch(r"v?\d+\.\d+\.\d+", tag), (
            f"{name}: {service['image']} not pinned"
        )
        assert service["ports"], name
        assert service["restart"] == "unless-stopped"
        for volume in service["volumes"]:
            if volume.startswith("./"):
                assert volume.endswith(":ro"), volume
                assert (ROOT / volume.split(":")[0]).exists(), volume
            else:
                assert volume.split(":")[0] in compose["volumes"], volume
    assert services["prometheus"]["ports"] == ["127.0.0.1:9090:9090"]
    assert services["grafana"]["ports"] == ["127.0.0.1:3000:3000"]


def test_grafana_has_no_default_password_and_no_anonymous_access() -> None:
    grafana = load_yaml(COMPOSE.read_text())["services"]["grafana"]
    env = grafana["environment"]
    assert env["GF_SECURITY_ADMIN_PASSWORD"] == "${GF_SECURITY_ADMIN_PASSWORD:-}"
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert env["GF_USERS_ALLOW_SIGN_UP"] == "false"
    assert "env_file" not in grafana  # the exchange keys of .env stay out of Grafana
    guard = grafana["entrypoint"][-1]
    assert '"" | replace-with-*)' in guard and "exit 1" in guard and "exec /run.sh" in guard
    example = (ROOT / ".env.example").read_text()
    (line,) = [x for x in example.splitlines() if x.startswith("GF_SECURITY_ADMIN_PASSWORD=")]
    assert line.split("=", 1)[1].startswith("replace-with-")  # a placeholder the guard refuses


def test_bot_and_sim_keep_their_setup() -> None:
    services = load_yaml(COMPOSE.read_text())["services"]
    bot, sim = services["bot"], services["sim"]
    assert "profiles" not in bot and "profiles" not in sim
    assert bot["image"] == sim["image"] == "rebalance-bot:local"
    assert bot["build"] == "."
    assert bot["env_file"] == ".env"
    assert bot["ports"] == [
        "127.0.0.1:${METRICS_PORT:-9108}:9108",
        "127.0.0.1:${API_PORT:-8088}:8088",
    ]
    assert bot["volumes"] == [
        "journal:/data",
        "${BOT_CONFIG:-./config/docker-demo.toml}:/config/bot.toml:ro",
    ]
    assert bot["restart"] == "unless-stopped"
    assert bot["stop_grace_period"] == "60s"
    assert "depends_on" not in bot


def test_yaml_reader_agrees_with_pyyaml() -> None:
    yaml = pytest.importorskip("yaml")
    for path in (COMPOSE, PROMETHEUS, DATASOURCES, PROVIDERS):
        assert load_yaml(path.read_text()) == yaml.safe_load(path.read_text()), path


# ---- prometheus.yml -------------------------------------------------------------------------


def test_prometheus_scrapes_the_port_the_bot_listens_on() -> None:
    config = load_yaml(PROMETHEUS.read_text())
    (job,) = config["scrape_configs"]
    (static,) = job["static_configs"]
    (target,) = static["targets"]
    host, _, port = target.partition(":")
    assert host == "bot"
    assert job.get("metrics_path", "/metrics") == "/metrics"
    for name in ("docker.toml", "docker-demo.toml"):
        metrics = tomllib.loads((ROOT / "config" / name).read_text())["metrics"]
        assert metrics["enabled"] is True
        assert metrics["host"] == "0.0.0.0", name  # reachable from the prometheus container
        assert metrics["port"] == int(port), f"config/{name} listens on {metrics['port']}"
    published = load_yaml(COMPOSE.read_text())["services"]["bot"]["ports"][0]
    assert published.rsplit(":", 1)[1] == port  # the container side of the bot's mapping
    # the dashboard's `up` panels ask for this job
    for _, expr, _ in expressions(dashboard()):
        for wanted in re.findall(r'up\{job="([^"]+)"\}', expr):
            assert wanted == job["job_name"]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_promtool_accepts_the_config() -> None:
    done = subprocess.run(
        ["promtool", "check", "config", "--syntax-only", str(PROMETHEUS)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
