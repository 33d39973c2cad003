"""The rebalance's progress as a person sees it: bars for the whole and for each leg on a
terminal, redrawn in place; one line per finished child elsewhere."""

from __future__ import annotations

import io
from decimal import Decimal

from rich.console import Console

from bot.domain.market import Side
from bot.execution.reports import LegReport
from bot.report import ProgressView

D = Decimal


def leg(key: str, symbol: str, filled: str) -> LegReport:
    return LegReport(
        key, symbol, Side.SELL, D(2), D(100), "USDT", filled=D(filled), cost=D(filled) * 100
    )


def test_a_terminal_gets_bars_for_the_whole_and_each_leg() -> None:
    out = io.StringIO()
    view = ProgressView(Console(file=out, force_terminal=True, width=80))
    view(leg("a", "BTC/USDT", "1"))
    view(leg("b", "ETH/USDT", "2"))
    view(leg("a", "BTC/USDT", "2"))
    view.close()
    text = out.getvalue()
    assert "all legs" in text and "2/2 legs done" in text
    assert "BTC/USDT sell" in text and "ETH/USDT sell" in text
    assert "100%" in text and "50%" in text
    last = text.rsplit("all legs", 1)[1]
    assert "filled" not in last  # bars, not one line per child


def test_a_pipe_gets_one_line_per_child() -> None:
    out = io.StringIO()
    view = ProgressView(Console(file=out, width=160))
    view(leg("a", "BTC/USDT", "1"))
    view(leg("a", "BTC/USDT", "2"))
    view.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and "50.0% filled" in lines[0] and "100.0% filled" in lines[1]
