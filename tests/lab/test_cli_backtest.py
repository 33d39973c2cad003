"""`rebalance-bot backtest` end to end on generated bars: tables, --json, the chart, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from bot.cli_backtest import backtest

CONFIG = Path(__file__).resolve().parents[2] / "config" / "demo.toml"
app = typer.Typer(pretty_exceptions_enable=False)
app.command()(backtest)


@app.command()
def _other() -> None:  # a second command, so the app keeps its subcommand names
    """Unused."""


def invoke(*args: str) -> object:
    return CliRunner().invoke(app, ["backtest", "--config", str(CONFIG), *args])


def test_json_on_generated_bars(tmp_path: Path) -> None:
    policies = tmp_path / "p.toml"
    policies.write_text(
        "[costs]\nhalf_spread_bps = 3\n"
        '[[policy]]\nname = "none"\n'
        '[[policy]]\nname = "abs 3%"\nband = "absolute"\nwidth = 0.03\n'
        '[[policy]]\nname = "weekly"\nschedule = "weekly mon 00:00"\n'
    )
    result = invoke(
        "--from", "2024-01-01", "--to", "2024-03-31", "--generate", "--json",
        "--policies", str(policies), "--workers", "1", "--chart", str(tmp_path / "chart"),
    )  # fmt: skip
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    doc = json.loads(result.stdout)  # type: ignore[attr-defined]
    assert doc["assets"] == ["BTC", "ETH", "SOL", "LINK"]
    assert doc["bars"] == 91 * 24
    assert doc["costs"]["half_spread_bps"] == 3
    assert doc["costs"]["fee_bps"] == pytest.approx(10)  # no exchange.fees: the default
    rows = {p["name"]: p for p in doc["policies"]}
    assert rows["none"]["rebalances"] == 0 and rows["none"]["costs"] == 0
    assert rows["weekly"]["rebalances"] == 12  # the Mondays after 2024-01-01, itself one
    assert rows["abs 3%"]["max_drift"] <= 0.03 + 1e-9
    assert doc["recommendation"]["policy"] in rows
    assert Path(doc["charts"][0]).exists() and Path(doc["charts"][1]).exists()


def test_tables_with_the_default_grid() -> None:
    result = invoke("--from", "2024-01-01", "--to", "2024-01-31", "--generate")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    out = result.stdout  # type: ignore[attr-defined]
    assert "Recommended:" in out and "Frontier" in out and "weekly if abs 5%" in out


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--from", "2024-02-30", "--to", "2024-03-01", "--generate"), "--from '2024-02-30'"),
        (("--from", "2024-03-01", "--to", "2024-01-01", "--generate"), "is after --to"),
        (("--from", "2024-01-01", "--to", "2024-01-09", "--timeframe", "1x"), "timeframe '1x'"),
        (("--from", "2024-01-01", "--to", "2024-01-09", "--capital", "-5"), "--capital"),
        (
            (
                "--from",
                "2024-01-01",
                "--to",
                "2024-01-09",
                "--policies",
                "/nonexistent.toml",
                "--generate",
            ),
            "policies file not found",
        ),
        (("--from", "2024-01-01", "--to", "2024-01-09", "--cache", "/nonexistent"), "error: "),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: tuple[str, ...], says: str) -> None:
    result = invoke(*args)
    assert result.exit_code == 2, result.output  # type: ignore[attr-defined]
    err = result.stderr  # type: ignore[attr-defined]
    assert err.startswith("error: ") and err.count("\n") == 1 and says in err
    assert "Traceback" not in result.output  # type: ignore[attr-defined]
