"""Shared set-up for the perpetual futures integration tests (`[derivatives]` on the simulator):
a scenario extending `config/scenarios/perps.toml`, the daemon on it in virtual time, and what
the SIMULATOR says of the account (balances, positions, marks, trades), computed here
independently of the bot's own valuation."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from bot.execution.reports import RebalanceReport
from bot.journal import Journal
from bot.metrics import Metrics
from bot.runtime.daemon import Daemon, RunResult
from bot.runtime.wiring import build_backend, build_daemon
from bot.settings import Settings, load_settings
from bot.sim.exchange import SimExchange
from bot.sim.perp import PerpEngine
from bot.sim.perp_account import PerpSide
from bot.sim.perp_exchange import SimPerpExchange

from .helpers import ROOT, daemon_for

D = Decimal
ZERO = D(0)
PERPS = ROOT / "config" / "scenarios" / "perps.toml"
BAND = D("0.03")
BTC_PERP = "BTC/USDT:USDT"
ETH_PERP = "ETH/USDT:USDT"


# 2023-11-14T22:13:20Z: virtual time starts here, not at the wall clock's time (reproducible:
# funding settles at 00:00, 08:00 and 16:00 UTC)
START = 1_700_000_000


def perps_scenario(tmp_path: Path, body: str = "", name: str = "scenario.toml") -> Path:
    """A scenario file in `tmp_path`: perps.toml from `START` with `body` over it (tables merge
    key by key, lists such as `futures.positions` and `events` are replaced)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / name
    path.write_text(f'extends = "{PERPS}"\nstart = {START}\n{body}\n')
    return path


def jump_events(jumps: Sequence[tuple[float, float]], symbol: str = "BTC/USDT") -> str:
    return "".join(
        f'\n[[events]]\nkind = "jump"\nsymbol = "{symbol}"\nat = {at}\nsize = {size}\n'
        for at, size in jumps
    )


def perps_settings(
    tmp_path: Path,
    scenario: Path,
    targets: dict[str, str],
    derivatives: str = "",
    extra: str = "",
    execution: str = 'style = "take"\nchild_timeout = 2',
    loop: str = "poll_interval = 5\ncooldown = 10",
    risk: str = "max_price_move_pct = 50",
) -> Settings:
    """Settings for `scenario` with [derivatives] on (plus the `derivatives` lines): the
    exposure `targets`, 3-point absolute bands, `execution` (taker by default), `loop` (polls
    every 5 s by default), `risk` (by default a price may move 50 % between two polls, so the
    jumps do not halt the bot), the journal in `tmp_path`; `extra`: more TOML sections."""
    shown = ", ".join(f"{a} = {w}" for a, w in targets.items())
    text = f"""
[exchange]
id = "binance"
mode = "sim"
[portfolio]
quote = "USDT"
targets = {{ {shown} }}
[bands]
width = 0.03
[sim]
scenario = "{scenario}"
time = "virtual"
[journal]
path = "journal.sqlite"
[loop]
{loop}
[execution]
{execution}
[risk]
{risk}
[derivatives]
enabled = true
{derivatives}
{extra}
"""
    path = tmp_path / "bot.toml"
    path.write_text(text)
    return load_settings(path)


@dataclass
class PerpSim:
    daemon: Daemon
    spot: SimExchange
    perps: PerpEngine
    journal: Journal
    start: dict[tuple[str, PerpSide], Decimal]  # the positions before the bot ran (contracts)
    after_reports: list[tuple[RebalanceReport, dict[str, Decimal]]] = field(default_factory=list)


def perp_sim(settings: Settings, metrics: Metrics | None = None) -> PerpSim:
    if metrics is None:
        daemon, spot, journal = daemon_for(settings)
    else:  # as `daemon_for`, with the metrics
        backend = build_backend(settings)
        journal = Journal(settings.resolve(settings.journal.path), now=backend.clock.time)
        daemon = build_daemon(settings, backend, journal, metrics=metrics)
        spot = backend.exchange
        assert isinstance(spot, SimExchange)
    assert daemon.perps is not None
    client = daemon.perps.gateway.exchange
    assert isinstance(client, SimPerpExchange)
    engine = client.engine
    start = {(p.symbol, p.side): p.amount for p in engine.positions()}
    return PerpSim(daemon, spot, engine, journal, start)


def spot_mid(spot: SimExchange, symbol: str) -> Decimal:
    bids, asks = spot.engine.book(symbol)
    return (bids[0].price + asks[0].price) / 2


def sim_exposures(sim: PerpSim, quote: str = "USDT") -> dict[str, Decimal]:
    """Each asset's net exposure over the equity, from the simulator's own state: spot balances
    (free + locked) at the spot book's mid, plus the perpetual positions at the engine's mark,
    over the spot value plus the futures margin balance (wallet + unrealised PnL). The quote's
    weight is what the others leave."""
    account = sim.spot.engine.account
    assets = set(account.free) | set(account.used)
    values: dict[str, Decimal] = {}
    spot_total = ZERO
    for asset in assets:
        amount = account.free.get(asset, ZERO) + account.used.get(asset, ZERO)
        if asset == quote:
            spot_total += amount
            continue
        value = amount * spot_mid(sim.spot, f"{asset}/{quote}") if amount else ZERO
        values[asset] = values.get(asset, ZERO) + value
        spot_total += value
    for p in sim.perps.positions():
        base = sim.perps.specs[p.symbol].market.base
        values[base] = values.get(base, ZERO) + p.notional(sim.perps.mark_price(p.symbol))
    equity = spot_total + sim.perps.balance().margin_balance
    weights = {a: v / equity for a, v in values.items()}
    weights[quote] = 1 - sum(weights.values(), ZERO)
    return weights


def outside(
    weights: dict[str, Decimal], targets: dict[str, str], width: Decimal = BAND
) -> dict[str, tuple[str, str]]:
    """The assets whose weight is outside target +- width (absolute), with weight and target."""
    return {
        a: (f"{weights.get(a, ZERO):.4f}", t)
        for a, t in targets.items()
        if abs(weights.get(a, ZERO) - D(t)) > width
    }


async def run_for(
    sim: PerpSim,
    seconds: float,
    on_report: Callable[[RebalanceReport], None] | None = None,
) -> RunResult:
    """The daemon for `seconds` of virtual time (its loop until stopped), recording the
    simulator's exposures at the end of every rebalance."""

    def record(report: RebalanceReport) -> None:
        sim.after_reports.append((report, sim_exposures(sim)))
        if on_report is not None:
            on_report(report)

    sim.daemon.on_report = record
    task = asyncio.create_task(sim.daemon.run())
    end = sim.daemon.clock.time() + seconds
    while sim.daemon.clock.time() < end and not task.done():  # noqa: ASYNC110 (virtual time)
        await asyncio.sleep(0)
    sim.daemon.request_stop("test")
    return await task


def assert_fills_are_both_exchanges_trades(sim: PerpSim) -> None:
    """The journal's fills are exactly the account's trades on spot AND on the perpetuals."""
    trades = {(t.id, t.symbol): t for t in sim.spot.engine.my_trades()}
    perp_trades = {(t.id, t.symbol): t for t in sim.perps.my_trades()}
    assert not set(trades) & set(perp_trades)
    trades.update(perp_trades)
    rows = sim.journal.recorded_fills()
    assert {(r.trade_id, r.symbol) for r in rows} == set(trades)
    assert len(rows) == len(trades)
    for r in rows:
        t = trades[(r.trade_id, r.symbol)]
        assert (r.amount, r.price, r.fee) == (t.amount, t.price, t.fee), r


@dataclass(frozen=True)
class OrderMove:
    order_id: str
    symbol: str
    side: PerpSide
    reduce_only: bool
    before: Decimal  # the position (contracts, signed) when the order's first fill came
    after: Decimal  # after its last fill
    crossed: bool  # a fill took the position through zero


def order_moves(perps: PerpEngine, start: dict[tuple[str, PerpSide], Decimal]) -> list[OrderMove]:
    """Every filled order's effect on its position, rebuilt from the engine's trades in order
    from the starting positions (no liquidation may have happened: it moves positions too)."""
    assert not perps.liquidations, perps.liquidations
    pos = dict(start)
    moves: dict[str, list[Decimal]] = {}
    crossed: dict[str, bool] = {}
    for t in perps.my_trades():  # in execution order
        flags = perps.flags(t.order_id)
        key = (t.symbol, flags.position_side)
        now = pos.get(key, ZERO)
        new = now + (t.amount if t.side.value == "buy" else -t.amount)
        pos[key] = new
        moves.setdefault(t.order_id, [now, new])[1] = new
        crossed[t.order_id] = crossed.get(t.order_id, False) or (now * new < 0)
    # the rebuilt positions are the engine's
    engine_now = {(p.symbol, p.side): p.amount for p in perps.positions()}
    assert {k: v for k, v in pos.items() if v != 0} == engine_now
    out = []
    for oid, (before, after) in moves.items():
        flags = perps.flags(oid)
        symbol = perps.orders[oid].symbol
        out.append(
            OrderMove(oid, symbol, flags.position_side, flags.reduce_only, before, after,
                      crossed[oid])
        )  # fmt: skip
    return out


def assert_reduce_only_reduced(sim: PerpSim) -> int:
    """Every reduce-only order only moved its position toward zero, never through it; no order
    at all took a position through zero; in one-way mode every order that shrank a position was
    sent reduce-only (in hedge mode positionSide says which position an order closes). Returns
    how many reduce-only orders filled."""
    moves = order_moves(sim.perps, sim.start)
    for m in moves:
        assert not m.crossed, f"order {m.order_id} flipped {m.symbol}: {m.before} -> {m.after}"
        if m.reduce_only:
            assert abs(m.after) < abs(m.before), m
            assert m.after == 0 or (m.after > 0) == (m.before > 0), m
        if m.side is PerpSide.BOTH and abs(m.after) < abs(m.before):
            assert m.reduce_only, f"order {m.order_id} shrank {m.symbol} without reduceOnly"
    # and nothing was placed reduce-only that is not in the engine's flags
    return sum(1 for m in moves if m.reduce_only)
