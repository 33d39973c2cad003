"""The paper futures account as a JSON document, so a restart continues it: wallet, settings,
positions, orders (open ones, and the latest finished), trades, income, transfers,
liquidations, the venue's funding as last observed and the settlements applied.

Observed books are not kept: a restarted account observes fresh ones, and its resting orders
fill when those cross them. Decimals are written as strings, exactly.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.domain.market import Side
from bot.sim.account import OrderStatus, OrderType, SimOrder, TimeInForce
from bot.sim.fills import FillSource, SimFill
from bot.sim.paper_perp_engine import PaperPerpEngine
from bot.sim.paper_perp_market import FundingView
from bot.sim.perp import OrderFlags
from bot.sim.perp_account import (
    Income,
    IncomeType,
    Liquidation,
    MarginMode,
    PerpSide,
    TransferRecord,
)

VERSION = 1
KEEP_FINISHED_ORDERS = 2000  # finished orders kept beside the open ones, newest
KEEP_TRADES = 10000
KEEP_INCOMES = 10000


def _opt(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _trade(t: SimFill, pnl: Decimal) -> dict[str, Any]:
    return {
        "id": t.id, "order_id": t.order_id, "symbol": t.symbol, "side": t.side.value,
        "price": str(t.price), "amount": str(t.amount), "fee": str(t.fee),
        "fee_currency": t.fee_currency, "fee_rate": str(t.fee_rate), "taker": t.taker,
        "timestamp": t.timestamp, "source": t.source.value, "pnl": str(pnl),
    }  # fmt: skip


def _order(o: SimOrder, flags: OrderFlags) -> dict[str, Any]:
    return {
        "id": o.id, "client_order_id": o.client_order_id, "symbol": o.symbol,
        "type": o.type.value, "side": o.side.value, "price": _opt(o.price),
        "amount": str(o.amount), "time_in_force": o.time_in_force.value,
        "post_only": o.post_only, "timestamp": o.timestamp, "fee_currency": o.fee_currency,
        "seq": o.seq, "status": o.status.value, "filled": str(o.filled), "cost": str(o.cost),
        "fee": str(o.fee), "last_trade_timestamp": o.last_trade_timestamp,
        "last_update_timestamp": o.last_update_timestamp, "trades": [t.id for t in o.trades],
        "reduce_only": flags.reduce_only, "position_side": flags.position_side.value,
    }  # fmt: skip


def dump(engine: PaperPerpEngine) -> dict[str, Any]:
    """The account as a JSON-ready dict."""
    ledger = engine.ledger
    finished = [o for o in engine.orders.values() if not o.is_open][-KEEP_FINISHED_ORDERS:]
    orders = sorted([*engine.open_orders(), *finished], key=lambda o: o.seq)
    return {
        "version": VERSION,
        "asset": engine.asset,
        "wallet": str(ledger.wallet),
        "hedged": ledger.hedged,
        "symbols": sorted(engine.specs),
        "leverage": dict(ledger.leverage),
        "margin_mode": {s: m.value for s, m in ledger.margin_mode.items()},
        "positions": [
            {
                "symbol": p.symbol,
                "side": p.side.value,
                "amount": str(p.amount),
                "entry_price": str(p.entry_price),
                "leverage": p.leverage,
                "margin_mode": p.margin_mode.value,
                "isolated_margin": str(p.isolated_margin),
                "updated_ms": p.updated_ms,
            }
            for p in ledger.positions()
        ],
        "orders": [_order(o, engine.flags(o.id)) for o in orders],
        "trades": [_trade(t, engine.trade_pnl(t.id)) for t in engine.trades[-KEEP_TRADES:]],
        "incomes": [
            {
                "id": i.id,
                "symbol": i.symbol,
                "type": i.type.value,
                "amount": str(i.amount),
                "asset": i.asset,
                "time_ms": i.time_ms,
                "rate": _opt(i.rate),
                "trade_id": i.trade_id,
            }
            for i in ledger.incomes[-KEEP_INCOMES:]
        ],
        "transfers": [
            {
                "id": t.id,
                "asset": t.asset,
                "amount": str(t.amount),
                "from": t.from_account,
                "to": t.to_account,
                "time_ms": t.time_ms,
            }
            for t in engine.transfers
        ],
        "liquidations": [
            {
                "symbol": q.symbol,
                "side": q.side.value,
                "amount": str(q.amount),
                "price": str(q.price),
                "pnl": str(q.pnl),
                "fee": str(q.fee),
                "margin_mode": q.margin_mode.value,
                "time_ms": q.time_ms,
            }
            for q in ledger.liquidations
        ],
        "funding": {s: v.to_json() for s, v in engine.funding.items()},
        "next_order": engine._next_order,
        "next_trade": engine._next_trade,
        "next_income": int(ledger.incomes[-1].id) + 1 if ledger.incomes else 1,
    }


def fingerprint(engine: PaperPerpEngine) -> object:
    """What changes whenever the account does (orders, fills, positions, income, settings,
    settlements), not when only an observed mark does: cheap to compare."""
    ledger = engine.ledger
    return (
        engine._next_order, engine._next_trade, len(ledger.incomes), len(engine.transfers),
        len(ledger.liquidations), ledger.wallet, ledger.hedged,
        tuple(sorted(ledger.leverage.items())), tuple(sorted(ledger.margin_mode.items())),
        tuple((o.id, o.filled) for o in engine.open_orders()),
        tuple((p.symbol, p.side, p.amount, p.isolated_margin, p.leverage)
              for p in ledger.positions()),
        tuple((s, v.next_ms, v.settled_ms) for s, v in sorted(engine.funding.items())),
    )  # fmt: skip


def restore(engine: PaperPerpEngine, data: Mapping[str, Any]) -> None:
    """Put the account `data` (from `dump`) into `engine`, whose perps (`data["symbols"]`) are
    already added and which has no order, trade or position yet."""
    if data.get("version") != VERSION:
        raise ValueError(f"paper futures state version {data.get('version')!r}, not {VERSION}")
    ledger = engine.ledger
    ledger.wallet = Decimal(data["wallet"])
    ledger.hedged = bool(data["hedged"])
    ledger.leverage.update({s: int(v) for s, v in data["leverage"].items() if s in engine.specs})
    ledger.margin_mode.update(
        {s: MarginMode(v) for s, v in data["margin_mode"].items() if s in engine.specs}
    )
    for p in data["positions"]:
        pos = ledger.position(p["symbol"], PerpSide(p["side"]))
        pos.amount, pos.entry_price = Decimal(p["amount"]), Decimal(p["entry_price"])
        pos.leverage, pos.margin_mode = int(p["leverage"]), MarginMode(p["margin_mode"])
        pos.isolated_margin, pos.updated_ms = Decimal(p["isolated_margin"]), int(p["updated_ms"])
    fills: dict[str, SimFill] = {}
    for t in data["trades"]:
        fill = SimFill(
            id=t["id"], order_id=t["order_id"], symbol=t["symbol"], side=Side(t["side"]),
            price=Decimal(t["price"]), amount=Decimal(t["amount"]), fee=Decimal(t["fee"]),
            fee_currency=t["fee_currency"], fee_rate=Decimal(t["fee_rate"]),
            taker=bool(t["taker"]), timestamp=int(t["timestamp"]),
            source=FillSource(t["source"]),
        )  # fmt: skip
        fills[fill.id] = fill
        engine.trades.append(fill)
        engine.pnl_by_trade[fill.id] = Decimal(t["pnl"])
    for o in data["orders"]:
        _restore_order(engine, o, fills)
    ledger.incomes.extend(
        Income(i["id"], i["symbol"], IncomeType(i["type"]), Decimal(i["amount"]), i["asset"],
               int(i["time_ms"]), _dec(i["rate"]), i["trade_id"])
        for i in data["incomes"]
    )  # fmt: skip
    ledger._next_income = int(data["next_income"])  # ids continue where they stopped
    engine.transfers.extend(
        TransferRecord(t["id"], t["asset"], Decimal(t["amount"]), t["from"], t["to"],
                       int(t["time_ms"]))
        for t in data["transfers"]
    )  # fmt: skip
    ledger.liquidations.extend(
        Liquidation(q["symbol"], PerpSide(q["side"]), Decimal(q["amount"]), Decimal(q["price"]),
                    Decimal(q["pnl"]), Decimal(q["fee"]), MarginMode(q["margin_mode"]),
                    int(q["time_ms"]))
        for q in data["liquidations"]
    )  # fmt: skip
    for symbol, view in data["funding"].items():
        if symbol in engine.specs:
            engine.funding[symbol] = FundingView.from_json(view)
    engine._next_order = int(data["next_order"])
    engine._next_trade = int(data["next_trade"])


def _restore_order(
    engine: PaperPerpEngine, o: Mapping[str, Any], fills: dict[str, SimFill]
) -> None:
    order = SimOrder(
        id=o["id"], client_order_id=o["client_order_id"], symbol=o["symbol"],
        type=OrderType(o["type"]), side=Side(o["side"]), price=_dec(o["price"]),
        amount=Decimal(o["amount"]), time_in_force=TimeInForce(o["time_in_force"]),
        post_only=bool(o["post_only"]), timestamp=int(o["timestamp"]),
        fee_currency=o["fee_currency"], seq=int(o["seq"]), status=OrderStatus(o["status"]),
        filled=Decimal(o["filled"]), cost=Decimal(o["cost"]), fee=Decimal(o["fee"]),
        last_trade_timestamp=o["last_trade_timestamp"],
        last_update_timestamp=o["last_update_timestamp"],
        trades=[fills[t] for t in o["trades"] if t in fills],
    )  # fmt: skip
    engine.orders[order.id] = order
    engine.flags_by_id[order.id] = OrderFlags(bool(o["reduce_only"]), PerpSide(o["position_side"]))
    engine._by_client.setdefault(order.client_order_id, []).append(order)
    if order.is_open and order.symbol in engine.specs:
        engine._resting[order.symbol].append(order)


def read(path: Path) -> dict[str, Any] | None:
    """The state saved at `path`, or None when there is none yet."""
    if not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def write(path: Path, data: Mapping[str, Any]) -> None:
    """Write `data` to `path` atomically (a temporary file beside it, then a rename)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    tmp.replace(path)
