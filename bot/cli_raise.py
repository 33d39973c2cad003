"""`rebalance-bot raise AMOUNT ASSET`: the command's work, apart from `bot/cli.py` (which only
declares it). Exit codes as `run --once`: 0 raised (or only planned), 1 not raised (a leg given
up, the bot had to wait), 2 bad input (an amount the portfolio cannot free: nothing traded),
3 halted, 4 the journal is locked by another bot."""

from __future__ import annotations

import asyncio
import json
import sys
from decimal import Decimal

from rich.console import Console

from bot.domain.status import RebalanceStatus
from bot.errors import BotError, CannotRaise, ConfigError, JournalError, JournalIdentityError
from bot.inputs import exact_number
from bot.report import ProgressView, render_run_report, valuation_dict
from bot.report_raise import raise_dict, render_raise
from bot.runtime.daemon import RunResult
from bot.runtime.raising import execute_raise, plan_raise_now
from bot.settings import Settings


def _error(line: str, code: int = 2) -> int:
    print(f"error: {line}", file=sys.stderr)
    return code


def raise_command(
    settings: Settings,
    amount_text: str,
    asset: str,
    *,
    as_json: bool,
    execute: bool,
    live: bool,
    out: Console,
) -> int:
    """Plan, and with `execute` trade, the sells that free the amount; print them; the exit
    code."""
    try:
        amount = exact_number(amount_text)
    except ValueError as exc:
        return _error(f"AMOUNT: {exc}")
    if amount <= 0:
        return _error("AMOUNT: must be more than 0")
    asset = asset.strip().upper()
    try:
        if not execute:
            planned, taken_at = asyncio.run(plan_raise_now(settings, asset, amount))
            if as_json:
                json.dump(raise_dict(planned, taken_at), sys.stdout, indent=2)
                print()
            else:
                render_raise(planned, out, taken_at)
            return 0
        view = ProgressView(Console(stderr=True, highlight=False) if as_json else out)
        try:
            planned, result = asyncio.run(
                execute_raise(settings, asset, amount, live=live, progress=view)
            )
        finally:
            view.close()
    except ConfigError as exc:
        return _error("; ".join(exc.problems))
    except (JournalIdentityError, JournalError) as exc:
        return _error(str(exc), 1 if isinstance(exc, JournalIdentityError) else 4)
    except CannotRaise as exc:  # refused on the first snapshot: nothing was sent
        return _error(str(exc))
    except BotError as exc:
        return _error(str(exc), 1 if execute else 2)
    report = result.reports[-1] if result.reports else None
    free = _free(result, asset)
    done = (RebalanceStatus.DONE, RebalanceStatus.NOTHING)  # NOTHING: the cash was there
    raised = report is not None and report.status in done and free >= amount
    if as_json:
        document = {
            **raise_dict(planned),
            "report": None if report is None else report.to_dict(),
            "free_after": str(free),
            "portfolio_after": None if result.last is None else valuation_dict(result.last),
            "raised": raised,
            "halted": result.halted,
            "waiting": result.waiting,
        }
        json.dump(document, sys.stdout, indent=2)
        print()
    else:
        render_raise(planned, out)
        if report is not None and report.rebalance_id is not None:
            render_run_report(report, out)
        out.print(f"Free now: {free:,.2f} {asset}" + (" (raised)" if raised else ""))
    if result.halted:
        return _error(f"halted: {result.halted}", 3)
    if not raised:
        why = result.waiting or (report.reason if report is not None else "no round ran")
        return _error(f"not raised: {why}", 1)
    return 0


def _free(result: RunResult, asset: str) -> Decimal:
    """The asset held (the quote net of its reserve) as the round last valued it."""
    if result.last is None:
        return Decimal(0)
    try:
        return result.last.position(asset).balance
    except KeyError:
        return Decimal(0)
