"""The texts of the Telegram commands (`bot.api.telegram`): the views of `bot.api.views` as short
plain-text replies (no parse_mode, so nothing needs escaping), within Telegram's 4096 characters.

Weights are shown in percent with two decimals; amounts as the journal wrote them, values in the
quote to two decimals. A reply never contains a secret: it is built from the views alone.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

MAX_CHARS = 4096

HELP = """Commands:
/status - weights against targets, pause, halt
/balance - balances and values
/plan - the last plan
/history [n] - the last n rebalances (default 5)
/pause [reason] - no new rebalance (at once)
/resume - end a pause, clear a halt (confirmed)
/rebalance - rebalance at the next poll (confirmed)
/cancel - stop the running rebalance (confirmed)
/confirm <code> - confirm the command asked for"""


def clip(text: str) -> str:
    """At most MAX_CHARS characters (the rest cut, marked)."""
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 4] + "\n..."


def _dec(x: object) -> Decimal | None:
    try:
        return None if x is None else Decimal(str(x))
    except InvalidOperation:
        return None


def pct(x: object) -> str:
    """A fraction ("0.4012") as a percentage ("40.12%"); "-" when unknown."""
    d = _dec(x)
    return "-" if d is None else f"{d * 100:.2f}%"


def money(x: object) -> str:
    d = _dec(x)
    return "-" if d is None else f"{d:,.2f}"


def status_text(view: dict[str, Any], running: dict[str, Any]) -> str:
    """`/status`: what the bot does now, then each asset's weight against its target and band."""
    quote = view.get("quote", "")
    lines = [_state_line(view)]
    if view.get("seen_at") is None:
        lines.append("No poll yet: no weights to show.")
    else:
        lines.append(f"Value {money(view.get('value'))} {quote} at {view['seen_at']}")
        for p in view.get("positions", []):
            band = p.get("band") or [None, None]
            mark = "" if p.get("in_band") else "  OUT OF BAND"
            lines.append(
                f"{p['asset']}: {pct(p.get('weight'))} (target {pct(p.get('target'))},"
                f" band {pct(band[0])}-{pct(band[1])}){mark}"
            )
    if running.get("running"):
        lines.append(f"Rebalancing since {running.get('started')}:")
        for leg in running.get("legs", []):
            lines.append(
                f"  {leg['side']} {leg['symbol']}: {leg['filled']} of {leg['planned']}"
                f" ({leg['outcome']})"
            )
    last = view.get("last_rebalance")
    if last:
        lines.append(f"Last rebalance #{last['id']}: {last['status']}, started {last['started']}")
    return clip("\n".join(lines))


def _state_line(view: dict[str, Any]) -> str:
    parts = []
    if view.get("halted"):
        parts.append(f"HALTED: {view['halted']}")
    if view.get("paused"):
        parts.append(f"PAUSED: {view['paused']}")
    if view.get("running"):
        parts.append("rebalancing now")
    elif view.get("rebalance_asked"):
        parts.append("rebalance asked")
    if not parts:
        parts.append("running, trading enabled")
    return f"{view.get('mode', '')} mode: " + "; ".join(parts)


def balance_text(view: dict[str, Any]) -> str:
    """`/balance`: each asset's balance and value at the last valuation point."""
    if not view.get("assets"):
        return "No valuation yet: no balances to show."
    quote = view.get("quote", "")
    lines = [f"Balances at {view.get('at')}: {money(view.get('total'))} {quote}"]
    for a in view["assets"]:
        lines.append(
            f"{a['asset']}: {a['balance']} = {money(a.get('value'))} {quote}"
            f" ({pct(a.get('weight'))})"
        )
    return clip("\n".join(lines))


def plan_text(view: dict[str, Any]) -> str:
    """`/plan`: the last plan's legs and estimated cost."""
    plan = view.get("plan")
    if plan is None:
        return "No plan yet: the daemon has not rebalanced since it started."
    quote = plan.get("quote", "")
    lines = [f"Plan of {view.get('at')}: {len(plan.get('legs', []))} legs"]
    for leg in plan.get("legs", []):
        lines.append(
            f"{leg['side']} {leg['amount']} {leg['symbol']} ~ {money(leg.get('value'))} {quote}"
        )
    lines.append(
        f"Turnover {money(plan.get('turnover'))} {quote},"
        f" est. cost {money(plan.get('est_cost'))} {quote} ({plan.get('est_cost_bps')} bps)"
    )
    return clip("\n".join(lines))


def history_text(rows: list[dict[str, Any]]) -> str:
    """`/history`: the latest rebalances, newest first."""
    if not rows:
        return "No rebalance yet."
    lines = []
    for r in rows:
        reason = f" ({r['reason']})" if r.get("reason") else ""
        lines.append(
            f"#{r['id']} {r['started']} {r['status']}{reason}: traded"
            f" {money(r.get('traded_value'))}, {r.get('shortfall_bps') or '-'} bps,"
            f" fees {money(r.get('fees'))}"
        )
    return clip("\n".join(lines))


def confirm_text(question: str, code: int, within: float) -> str:
    return f"{question} Send /confirm {code} within {within:g} s"
