"""Whose account is this, and whose journal: the checks that keep one bot's history whole.

- A journal that has never traded (missing, deleted, emptied, replaced by a fresh file) on an
  account that shows a bot's open orders or trades of the last `RECENT_TRADES_S` on the managed
  markets is not this account's journal: the bot refuses to start (`JournalIdentityError`) unless
  told `--new-journal`, and then cancels the old instance's open orders before it trades. Without
  that, the old instance's orders would stay live and its turnover and halts would be forgotten.
- Before each rebalance, the managed markets' open orders are read: one the journal does not know
  (another rebalance-bot, a copied journal, a person or another program trading the account) is a
  halt with that reason: two traders on one account work the same drift and overtrade.

Every client order id of the bot starts with its instance tag (`rb` and four hex digits).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from bot.domain.orders import OrderReport
from bot.errors import JournalIdentityError
from bot.exchange.gateway import Gateway
from bot.journal import Journal
from bot.observability import get_logger

log = get_logger("bot.identity")

BOT_CLIENT_ID = re.compile(r"rb[0-9a-f]{4}")
# A new journal refuses to start on an account that traded the managed markets this recently.
RECENT_TRADES_S = 7 * 24 * 3600.0


def is_new(journal: Journal) -> bool:
    """Whether the journal has never run a bot (no instance tag yet)."""
    return journal.get_meta("instance_tag") is None


def bot_order(order: OrderReport) -> bool:
    return bool(order.client_id and BOT_CLIENT_ID.match(order.client_id))


async def open_orders(gateway: Gateway, symbols: Iterable[str]) -> list[OrderReport]:
    found: list[OrderReport] = []
    for symbol in sorted(set(symbols)):
        found.extend(await gateway.fetch_open_orders(symbol))
    return found


async def check_new_journal(
    gateway: Gateway, journal: Journal, symbols: Iterable[str], *, new_journal: bool, now: float
) -> list[str]:
    """At start-up, before the journal gets its instance tag. A journal with history passes
    (and `new_journal` is refused for it). A new one passes on an account with no bot orders
    open and no recent trades on `symbols`; otherwise it is refused unless `new_journal`, and
    then the other instances' open orders are cancelled. `now`: the time, in seconds since the
    epoch (the backend's clock). Returns the client ids cancelled."""
    if not is_new(journal):
        if new_journal:
            raise JournalIdentityError(
                f"--new-journal: the journal {journal.path} already holds this bot's history"
                f" (instance {journal.get_meta('instance_tag')}); start without it"
            )
        return []
    symbols = sorted(set(symbols))
    theirs = [o for o in await open_orders(gateway, symbols) if bot_order(o)]
    traded = await _recent_trade(gateway, symbols, now - RECENT_TRADES_S)
    if not new_journal:
        evidence = []
        if theirs:
            ids = ", ".join(sorted(str(o.client_id) for o in theirs)[:5])
            evidence.append(f"open orders of a rebalance-bot ({ids})")
        if traded is not None:
            evidence.append(f"a trade on {traded} in the last 7 days")
        if evidence:
            raise JournalIdentityError(
                f"the journal {journal.path} is new, but the account shows "
                + " and ".join(evidence)
                + ": it may be the journal of another bot, deleted or"
                " replaced, and its orders and limits would be forgotten. Restore that journal,"
                " or start once with --new-journal to begin a new history (orders of the old"
                " instance are then cancelled)"
            )
        return []
    cancelled = []
    for order in theirs:
        await gateway.cancel_order(order.symbol, order.exchange_id, order.client_id)
        log.warning("old_instance_order_cancelled", client_id=order.client_id, symbol=order.symbol)
        cancelled.append(str(order.client_id))
    log.warning("new_journal", path=str(journal.path), cancelled=cancelled)
    return cancelled


async def _recent_trade(gateway: Gateway, symbols: list[str], since: float) -> str | None:
    """A managed market with a trade of the account since `since` (seconds), or None."""
    for symbol in symbols:
        if await gateway.fetch_my_trades(symbol, int(since * 1000), 1):
            return symbol
    return None


async def foreign_orders(
    gateway: Gateway, journal: Journal, symbols: Iterable[str], tag: str
) -> str | None:
    """The reason to halt when the managed markets hold an open order the journal does not
    know, or None."""
    for order in await open_orders(gateway, symbols):
        if order.client_id is not None and journal.order(order.client_id) is not None:
            continue
        cid = order.client_id or "none"
        if order.client_id and order.client_id.startswith(tag):
            who = "an order with this bot's tag that its journal does not know (a copied journal?)"
        elif bot_order(order):
            who = f"an order of another rebalance-bot (instance {cid[:6]})"
        else:
            who = "an order this bot did not place (someone or something else trades it)"
        return (
            f"another trader on this account: {who}, client id {cid}, {order.side.value}"
            f" {order.amount} {order.symbol}; two traders on one account overtrade: stop the"
            " other one, then rebalance-bot resume"
        )
    return None
