"""One history per account: a new journal on an account with a bot's orders or recent trades is
refused unless --new-journal (which cancels the old instance's orders); an open order the journal
does not know halts before a rebalance."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import JournalIdentityError
from bot.journal import Journal
from bot.runtime.wiring import build_backend, build_daemon
from bot.settings import Settings
from bot.sim.exchange import SimExchange
from tests.integration.helpers import daemon_for, settings_for


def new_daemon(settings: Settings, exchange: SimExchange, new_journal: bool = False):  # type: ignore[no-untyped-def]
    """A fresh process on the same exchange: its own backend and journal objects."""
    backend = build_backend(settings)
    backend.exchange.engine = exchange.engine  # the same account
    journal = Journal(settings.resolve(settings.journal.path), now=backend.clock.time)
    return build_daemon(settings, backend, journal, new_journal=new_journal), journal


async def resting_bid(exchange: SimExchange, client_id: str) -> str:
    book = await exchange.fetch_order_book("BTC/USDT", 5)
    price = exchange.price_to_precision("BTC/USDT", book["bids"][0][0] * 0.9)
    order = await exchange.create_order(
        "BTC/USDT", "limit", "buy", "0.01", price, {"clientOrderId": client_id}
    )
    return str(order["id"])


async def test_a_new_journal_on_an_account_with_a_bots_orders_is_refused(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    _, exchange, journal = daemon_for(settings)
    journal.close()
    await resting_bid(exchange, "rbab12-7f3e-0c1")
    daemon, journal = new_daemon(settings, exchange)
    with pytest.raises(JournalIdentityError, match=r"open orders of a rebalance-bot \(rbab12"):
        await daemon.run(once=True)
    assert journal.get_meta("instance_tag") is None  # still new: the refusal changed nothing
    assert [o.client_order_id for o in exchange.engine.open_orders()] == ["rbab12-7f3e-0c1"]
    assert journal.rebalances() == []


async def test_a_new_journal_on_an_account_with_recent_trades_is_refused(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    first, exchange, journal = daemon_for(settings)
    result = await first.run(once=True)
    assert result.reports and exchange.engine.my_trades()
    journal.close()
    (tmp_path / "journal.sqlite").unlink()  # deleted: the bot's history is gone
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"journal.sqlite{suffix}").unlink(missing_ok=True)
    daemon, journal = new_daemon(settings, exchange)
    with pytest.raises(JournalIdentityError, match="a trade on"):
        await daemon.run(once=True)
    trades = len(exchange.engine.my_trades())
    # told it is a new history on purpose, it trades
    daemon, journal = new_daemon(settings, exchange, new_journal=True)
    await daemon.run(once=True)
    assert journal.get_meta("instance_tag") is not None
    assert len(exchange.engine.my_trades()) >= trades


async def test_new_journal_cancels_the_old_instances_orders_and_only_those(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    _, exchange, journal = daemon_for(settings)
    journal.close()
    await resting_bid(exchange, "rbab12-7f3e-0c1")
    await resting_bid(exchange, "my-manual-order")
    daemon, journal = new_daemon(settings, exchange, new_journal=True)
    result = await daemon.run(once=True)
    open_ids = {o.client_order_id for o in exchange.engine.open_orders()}
    assert "rbab12-7f3e-0c1" not in open_ids
    # a person's order is not the old instance's: it is not cancelled, and it halts the bot
    assert "my-manual-order" in open_ids
    assert result.halted is not None and "did not place" in result.halted


async def test_new_journal_is_refused_on_a_journal_with_history(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    first, exchange, journal = daemon_for(settings)
    await first.run(once=True)
    journal.close()
    daemon, journal = new_daemon(settings, exchange, new_journal=True)
    with pytest.raises(JournalIdentityError, match="already holds this bot's history"):
        await daemon.run(once=True)


@pytest.mark.parametrize(
    ("client_id", "who"),
    [
        ("rbcd34-99x-0c1", "another rebalance-bot"),
        ("web_3f9a", "did not place"),
    ],
)
async def test_an_open_order_the_journal_does_not_know_halts_before_trading(
    tmp_path: Path, client_id: str, who: str
) -> None:
    settings = settings_for(tmp_path)
    daemon, exchange, journal = daemon_for(settings)
    journal.set_meta("instance_tag", "rb0001")  # a journal with its history
    await resting_bid(exchange, client_id)  # another trader on the account
    result = await daemon.run(once=True)
    assert result.halted is not None
    assert "another trader on this account" in result.halted and who in result.halted
    assert client_id in result.halted
    mine = [o for o in exchange.engine.all_orders() if o.client_order_id != client_id]
    assert mine == [], "nothing was traded"
    assert journal.active_halt() == result.halted
