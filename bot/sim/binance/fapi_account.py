"""The /fapi account endpoints (account, balance, positions, income, fees), the settings (leverage,
margin type, position mode, isolated margin) and the wallet transfers between the spot account
and the futures wallet (/sapi/v1/asset/transfer, /sapi/v1/futures/transfer), over the futures
engine.

The futures wallet holds one asset, the perpetuals' settlement asset; a transfer of another is
refused. Transfers are charged weight 1 (Binance counts them on the UID's limit, not the IP's).
"""

from __future__ import annotations

from typing import Any

from bot.sim.binance import fapi_positions, fapi_wire
from bot.sim.binance.fapi_market import charge, futures_of
from bot.sim.binance.fapi_venue import MAX_NOTIONAL
from bot.sim.binance.params import Params, integer, limit, number
from bot.sim.binance.replies import error, illegal, mandatory
from bot.sim.binance.venue import Venue
from bot.sim.binance.wire import fmt, rate
from bot.sim.perp_account import MarginMode, PerpSide, TransferRecord

SPOT, FUTURE = "spot", "future"  # the accounts `PerpEngine.transfer` moves between
WEEK_MS = 7 * 24 * 3600 * 1000
SUCCESS = {"code": 200, "msg": "success"}
TRANSFER_TYPES = {"MAIN_UMFUTURE": (SPOT, FUTURE), "UMFUTURE_MAIN": (FUTURE, SPOT)}
FUTURES_TRANSFER_TYPES = {"1": (SPOT, FUTURE), "2": (FUTURE, SPOT)}  # /sapi/v1/futures/transfer
TRANSFER_PARAMS = ("type", "asset", "amount", "fromSymbol", "toSymbol")
HISTORY_PARAMS = ("type", "startTime", "endTime", "current", "size", "fromSymbol", "toSymbol")


# ---- account, balance, positions ----------------------------------------------------------------


async def account_v3(venue: Venue, params: Params) -> dict[str, Any]:
    futures = await charge(venue, "account", 5)
    now = venue.now_ms()
    return fapi_positions.account(futures.engine.balance(), futures.open_views(), now, v2=False)


async def account_v2(venue: Venue, params: Params) -> dict[str, Any]:
    futures = await charge(venue, "account", 5)
    now = venue.now_ms()
    return fapi_positions.account(futures.engine.balance(), futures.every_view(), now, v2=True)


async def balance(venue: Venue, params: Params) -> list[dict[str, Any]]:
    futures = await charge(venue, "balance", 5)
    return fapi_positions.balance(futures.engine.balance(), venue.now_ms())


async def position_risk_v3(venue: Venue, params: Params) -> list[dict[str, Any]]:
    """Open positions only, as /fapi/v3/positionRisk lists them."""
    futures = futures_of(venue)
    symbol = futures.symbols.optional(params)
    await charge(venue, "position_risk", 5)
    views = futures.open_views([symbol] if symbol else None)
    asset, now = futures.engine.asset, venue.now_ms()
    return [fapi_positions.position_risk_v3(v, asset, now) for v in views]


async def position_risk_v2(venue: Venue, params: Params) -> list[dict[str, Any]]:
    """Every symbol's positions, flat ones too, as /fapi/v2/positionRisk lists them."""
    futures = futures_of(venue)
    symbol = futures.symbols.optional(params)
    await charge(venue, "position_risk", 5)
    now = venue.now_ms()
    return [
        fapi_positions.position_risk_v2(v, now)
        for v in futures.every_view([symbol] if symbol else None)
    ]


async def income(venue: Venue, params: Params) -> list[dict[str, Any]]:
    """GET /fapi/v1/income: oldest first from `startTime` (default: 7 days before `endTime`,
    default now), `limit` a page (100, at most 1000), `page` from 1."""
    futures = futures_of(venue)
    symbol = futures.symbols.optional(params)
    kind = params.get("incomeType") or None
    now = venue.now_ms()
    end = integer(params, "endTime")
    start = integer(params, "startTime")
    end = end if end is not None else max(now, start or 0)
    start = start if start is not None else end - WEEK_MS
    if end < start:
        raise error(400, -1128, "Combination of optional parameters invalid.")
    page = integer(params, "page", 1) or 1
    if page < 1:
        raise error(400, -1130, "Data sent for parameter 'page' is not valid.")
    count = limit(params, 100, 1000)
    await charge(venue, "income", 30)
    engine = futures.engine
    rows = [
        i
        for i in engine.incomes
        if (symbol is None or i.symbol == symbol)
        and (kind is None or i.type.value == kind)
        and start <= i.time_ms <= end
    ]
    chosen = rows[(page - 1) * count : page * count]
    return [
        fapi_positions.income(i, futures.symbols.id(i.symbol) if i.symbol else "") for i in chosen
    ]


async def commission_rate(venue: Venue, params: Params) -> dict[str, Any]:
    futures = futures_of(venue)
    symbol = futures.symbols.required(params)
    await charge(venue, "commission_rate", 20)
    m = futures.engine.specs[symbol].market
    return {
        "symbol": futures.symbols.id(symbol),
        "makerCommissionRate": rate(m.maker_fee),
        "takerCommissionRate": rate(m.taker_fee),
        "rpiCommissionRate": rate(m.maker_fee),
    }


async def leverage_bracket(venue: Venue, params: Params) -> list[dict[str, Any]] | dict[str, Any]:
    """Every symbol's brackets, a list; one symbol's, an object (as Binance answers)."""
    futures = futures_of(venue)
    symbol = futures.symbols.optional(params)
    await charge(venue, "leverage_bracket", 1)
    specs = futures.engine.specs
    if symbol is not None:
        return fapi_wire.leverage_bracket(specs[symbol], futures.symbols.id(symbol))
    return [fapi_wire.leverage_bracket(spec, futures.symbols.id(s)) for s, spec in specs.items()]


async def symbol_config(venue: Venue, params: Params) -> list[dict[str, Any]]:
    futures = futures_of(venue)
    symbol = futures.symbols.optional(params)
    await charge(venue, "symbol_config", 5)
    engine = futures.engine
    wanted = [symbol] if symbol else list(engine.specs)
    return [
        fapi_positions.symbol_config(
            futures.symbols.id(s), engine.margin_mode(s), engine.leverage(s), MAX_NOTIONAL
        )
        for s in wanted
    ]


# ---- settings -----------------------------------------------------------------------------------


async def set_leverage(venue: Venue, params: Params) -> dict[str, Any]:
    futures = futures_of(venue)
    symbol = futures.symbols.required(params)
    leverage = integer(params, "leverage")
    if leverage is None:
        raise mandatory("leverage")
    await charge(venue, "leverage", 1)
    futures.engine.set_leverage(symbol, leverage)
    return {
        "leverage": leverage,
        "maxNotionalValue": fmt(MAX_NOTIONAL),
        "symbol": futures.symbols.id(symbol),
    }


async def set_margin_type(venue: Venue, params: Params) -> dict[str, Any]:
    futures = futures_of(venue)
    symbol = futures.symbols.required(params)
    raw = params.get("marginType", "")
    if not raw:
        raise mandatory("marginType")
    modes = {"ISOLATED": MarginMode.ISOLATED, "CROSSED": MarginMode.CROSS}
    if raw.upper() not in modes:
        raise illegal("marginType", "ISOLATED, CROSSED")
    await charge(venue, "margin_type", 1)
    futures.engine.set_margin_mode(symbol, modes[raw.upper()])
    return SUCCESS


async def position_mode(venue: Venue, params: Params) -> dict[str, Any]:
    futures = await charge(venue, "position_mode", 30)
    return {"dualSidePosition": futures.engine.hedged}


async def set_position_mode(venue: Venue, params: Params) -> dict[str, Any]:
    raw = params.get("dualSidePosition", "")
    if not raw:
        raise mandatory("dualSidePosition")
    if raw.lower() not in ("true", "false"):
        raise illegal("dualSidePosition", "true, false")
    futures = await charge(venue, "set_position_mode", 1)
    futures.engine.set_position_mode(raw.lower() == "true")
    return SUCCESS


async def position_margin(venue: Venue, params: Params) -> dict[str, Any]:
    """POST /fapi/v1/positionMargin: add to an isolated position's margin (`type` 1; reducing
    it, type 2, is not simulated)."""
    futures = futures_of(venue)
    symbol = futures.symbols.required(params)
    amount = number(params, "amount")
    if amount is None:
        raise mandatory("amount")
    kind = params.get("type", "")
    if kind not in ("1", "2"):
        raise mandatory("type") if not kind else illegal("type", "1, 2")
    if kind == "2":
        raise error(400, -1106, "Parameter 'type' 2 (reduce margin) is not simulated.")
    raw_side = params.get("positionSide") or "BOTH"
    if raw_side not in ("BOTH", "LONG", "SHORT"):
        raise illegal("positionSide", "BOTH, LONG, SHORT")
    await charge(venue, "position_margin", 1)
    futures.engine.add_margin(symbol, amount, PerpSide(raw_side))
    return {
        "amount": float(amount),
        "code": 200,
        "msg": "Successfully modify position margin.",
        "type": 1,
    }


# ---- transfers between the spot account and the futures wallet ---------------------------------


async def asset_transfer(venue: Venue, params: Params) -> dict[str, Any]:
    """POST /sapi/v1/asset/transfer: `type` MAIN_UMFUTURE or UMFUTURE_MAIN."""
    kind = params.get("type", "")
    if not kind:
        raise mandatory("type")
    if kind not in TRANSFER_TYPES:
        raise illegal("type", ", ".join(TRANSFER_TYPES))
    record = await _transfer(venue, params, *TRANSFER_TYPES[kind])
    return {"tranId": int(record.id)}


async def futures_transfer(venue: Venue, params: Params) -> dict[str, Any]:
    """POST /sapi/v1/futures/transfer (ccxt's binanceusdm `transfer_in`/`transfer_out`): `type`
    1 spot to USD-M, 2 USD-M to spot."""
    kind = params.get("type", "")
    if not kind:
        raise mandatory("type")
    if kind not in FUTURES_TRANSFER_TYPES:
        raise illegal("type", "1, 2")
    record = await _transfer(venue, params, *FUTURES_TRANSFER_TYPES[kind])
    return {"tranId": int(record.id)}


async def _transfer(venue: Venue, params: Params, src: str, dst: str) -> TransferRecord:
    futures = futures_of(venue)
    asset = params.get("asset", "")
    if not asset:
        raise mandatory("asset")
    amount = number(params, "amount")
    if amount is None:
        raise mandatory("amount")
    if asset != futures.engine.asset:
        raise error(400, -5013, f"Asset transfer failed: {asset} is not a futures margin asset")
    if amount <= 0:
        raise error(
            400, -1102, "Mandatory parameter 'amount' was not sent, was empty/null, or malformed."
        )
    await charge(venue, "transfer", 1)
    return futures.engine.transfer(amount, src, dst)


async def transfer_history(venue: Venue, params: Params) -> dict[str, Any]:
    """GET /sapi/v1/asset/transfer: the transfers of `type`, newest first, `size` a page (10,
    at most 100), `current` the page from 1."""
    futures = futures_of(venue)
    kind = params.get("type", "")
    if not kind:
        raise mandatory("type")
    if kind not in TRANSFER_TYPES:
        raise illegal("type", ", ".join(TRANSFER_TYPES))
    start, end = integer(params, "startTime"), integer(params, "endTime")
    page = integer(params, "current", 1) or 1
    size = min(integer(params, "size", 10) or 10, 100)
    await charge(venue, "transfer_history", 1)
    src, dst = TRANSFER_TYPES[kind]
    rows = [
        t
        for t in reversed(futures.engine.transfers)
        if (t.from_account, t.to_account) == (src, dst)
        and (start is None or t.time_ms >= start)
        and (end is None or t.time_ms <= end)
    ]
    return {
        "total": len(rows),
        "rows": [_transfer_row(t, kind) for t in rows[(page - 1) * size : page * size]],
    }


def _transfer_row(t: TransferRecord, kind: str) -> dict[str, Any]:
    return {
        "asset": t.asset,
        "amount": fmt(t.amount),
        "type": kind,
        "status": "CONFIRMED",
        "tranId": int(t.id),
        "timestamp": t.time_ms,
    }
