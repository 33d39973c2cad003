"""The wallet's history endpoints: GET /sapi/v1/capital/deposit/hisrec and
/sapi/v1/capital/withdraw/history (signed), over the simulator's `flows.FlowBook`.

Parameters as Binance takes them: `coin`, `status` (its codes below), `startTime` and `endTime`
(milliseconds; by default the last 90 days; at most 90 days apart), `offset` and `limit` (1000 by
default, at most 1000); the deposit history also takes `txId` and `includeSource`, the withdrawal
history `withdrawOrderId` and `idList` (ids, comma-separated). Records come newest first, in
Binance's shapes: a deposit's `insertTime` in milliseconds and its status 0 (pending) or 1
(success); a withdrawal's `applyTime` and `completeTime` as UTC "YYYY-MM-DD HH:MM:SS", its status
4 (processing), 6 (completed) or 5 (failure), `amount` what left for the address and
`transactionFee` taken on top. ccxt's `binance.parse_transaction` reads them (ccxt 4.5).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.sim.binance.params import Params, integer, limit
from bot.sim.binance.replies import error
from bot.sim.binance.venue import Venue
from bot.sim.binance.wire import fmt, rate
from bot.sim.flows import MAX_PAGE, FlowKind, FlowState, SimFlow, ms

HISTORY = ("coin", "status", "startTime", "endTime", "offset", "limit")  # both histories
WINDOW_MS = 90 * 86_400_000  # Binance: a history query spans at most 90 days
DEPOSIT_STATUS = {FlowState.PENDING: 0, FlowState.OK: 1, FlowState.FAILED: 2}
WITHDRAWAL_STATUS = {FlowState.PENDING: 4, FlowState.OK: 6, FlowState.FAILED: 5}
ADDRESS = "sim1qlocaladdress0000000000000000000000000"


async def deposit_history(venue: Venue, params: Params) -> list[dict[str, Any]]:
    flows = await _history(venue, params, FlowKind.DEPOSIT, "fetch_deposits", DEPOSIT_STATUS)
    if params.get("txId"):
        flows = [f for f in flows if f.txid == params["txId"]]
    return [deposit(f, venue.exchange.engine.time_offset) for f in flows]


async def withdraw_history(venue: Venue, params: Params) -> list[dict[str, Any]]:
    flows = await _history(
        venue, params, FlowKind.WITHDRAWAL, "fetch_withdrawals", WITHDRAWAL_STATUS
    )
    if params.get("idList"):
        wanted = set(params["idList"].split(","))
        flows = [f for f in flows if f.id in wanted]
    if params.get("withdrawOrderId"):
        flows = []  # the simulator's withdrawals carry no client id
    return [withdrawal(f, venue.exchange.engine.time_offset) for f in flows]


async def _history(
    venue: Venue, params: Params, kind: FlowKind, method: str, codes: dict[FlowState, int]
) -> list[SimFlow]:
    now = venue.now_ms()
    start = integer(params, "startTime")
    end = integer(params, "endTime")
    if end is None:
        end = now if start is None else max(now, start)
    if start is None:
        start = end - WINDOW_MS
    if end < start:
        raise error(400, -1128, "Combination of optional parameters invalid.")
    if end - start > WINDOW_MS:
        raise error(400, -1127, "Lookup interval is too big.")
    offset = integer(params, "offset", 0) or 0
    if offset < 0:
        raise error(400, -1130, "Data sent for parameter 'offset' is not valid.")
    page = limit(params, MAX_PAGE, MAX_PAGE)
    status = integer(params, "status")
    await venue.exchange.charge(method, 1)
    book = venue.exchange.flow_book
    shift = venue.exchange.engine.time_offset
    flows = book.select(kind, params.get("coin") or None, start, end, 0, len(book.flows), shift)
    if status is not None:
        flows = [f for f in flows if codes.get(f.state) == status]
    return flows[offset : offset + page]


def _utc(ms_: int) -> str:
    return datetime.fromtimestamp(ms_ // 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def deposit(f: SimFlow, offset_s: float = 0.0) -> dict[str, Any]:
    done = f.state is FlowState.OK
    return {
        "id": f.id,
        "amount": rate(f.amount),
        "coin": f.asset,
        "network": f.asset,
        "status": DEPOSIT_STATUS[f.state],
        "address": ADDRESS,
        "addressTag": "",
        "txId": f.txid,
        "insertTime": ms(f.at, offset_s),
        "completeTime": ms(f.done_at, offset_s) if done else None,
        "transferType": 0,
        "confirmTimes": "1/1" if done else "0/1",
        "unlockConfirm": 0,
        "walletType": 0,
    }


def withdrawal(f: SimFlow, offset_s: float = 0.0) -> dict[str, Any]:
    done = f.state is FlowState.OK
    out = {
        "id": f.id,
        "amount": fmt(f.amount),
        "transactionFee": rate(f.fee),
        "coin": f.asset,
        "status": WITHDRAWAL_STATUS[f.state],
        "address": ADDRESS,
        "txId": f.txid if done else "",
        "applyTime": _utc(ms(f.at, offset_s)),
        "network": f.asset,
        "transferType": 0,
        "confirmNo": 1 if done else 0,
        "walletType": 0,
        "txKey": "",
    }
    if done:
        out["completeTime"] = _utc(ms(f.done_at, offset_s))
    return out
