"""The run's end: every open order of this bot instance cancelled, on each account it trades
(the spot account, and the perpetuals' when `[derivatives]` is on), each order on the gateway
that lists its market."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from bot.domain.orders import OrderReport
from bot.domain.positions import is_contract
from bot.errors import GatewayError, JournalError
from bot.exchange.gateway import Gateway
from bot.journal import Journal
from bot.observability import get_logger

log = get_logger("bot.daemon")


async def cancel_ours(
    gateways: Sequence[Gateway],
    journal: Journal,
    tag_fallback: str | None,
    managed_symbols: Callable[[], Awaitable[list[str]]],
) -> None:
    """Cancel every open order of this bot instance (ours by client id prefix). `gateways`: the
    spot account's first, then the perpetuals'. A journal that cannot be read or written does
    not stop it: the markets are then the spot account's managed ones and the perpetuals' own,
    and what cannot be recorded is logged (`unrecorded`) for the next start."""
    try:
        tag = journal.get_meta("instance_tag")
        if tag is None:
            return  # it never placed one
        symbols = sorted({o.symbol for o in journal.unsettled_orders()})
    except JournalError as exc:
        log.error("journal_unreadable", error=str(exc))
        tag = tag_fallback
        if not tag:
            return
        symbols = await managed_symbols()
        symbols += [s for g in gateways[1:] for s in g.markets]
    for i, gateway in enumerate(gateways):
        mine = [s for s in symbols if is_contract(s) == (i > 0)]
        await _cancel_on(gateway, journal, tag, mine)


async def _cancel_on(gateway: Gateway, journal: Journal, tag: str, symbols: list[str]) -> None:
    open_orders: list[OrderReport] = []
    try:
        for symbol in symbols:
            open_orders.extend(await gateway.fetch_open_orders(symbol))
    except GatewayError as exc:
        log.error("cancel_on_exit_failed", error=str(exc))
        return
    for order in open_orders:
        if not (order.client_id and order.client_id.startswith(tag)):
            continue
        final = await gateway.cancel_order(order.symbol, order.exchange_id, order.client_id)
        log.info("cancelled_on_exit", client_id=order.client_id)
        try:
            known = journal.order(order.client_id)
            if final is not None and known is not None:
                child = known.child()
                if not child.state.is_final:
                    child = child.reported(order).cancelling().reported(final)
                    journal.child_state(child, final)
        except JournalError as exc:
            log.error(
                "unrecorded",
                client_id=order.client_id,
                symbol=order.symbol,
                status=None if final is None else final.status.value,
                filled=str((final or order).filled),
                error=str(exc),
            )
