"""Scenarios: a simulated account and market, read from a TOML file.

A scenario gives the seed, the starting balances, the markets (filters, fees, starting price, depth
of the top level), the market regime (dynamics, see `model.py`; a market may override any of it in
its own `regime` table), scheduled events and injected faults. A file may start from another with
`extends = "other.toml"` (a path relative to the file): tables merge key by key, everything else
(lists included) is replaced.

    seed = 7
    extends = "demo.toml"
    [regime]
    volatility = 0.0004
    [[events]]
    kind = "jump"
    at = 120
    size = -0.05
    symbol = "BTC/USDT"

Money (`price`, `tick`, `step`, minimums, fees, balances, `top_depth`) is read as exact decimals.
A bad file raises `ScenarioError`, a `ConfigError` with one line per problem naming the field.

A market's filters beyond `tick`, `step`, `min_amount` and `min_cost` (see `filters.py`; 0 turns
one off, as on Binance) default to Binance's usual values:

    [markets."BTC/USDT"]
    max_price = 1000000000        # PRICE_FILTER maxPrice
    max_amount = 9000000000       # LOT_SIZE maxQty
    max_cost = 9000000000000      # NOTIONAL maxNotional (limit orders)
    market_min_amount = 0         # MARKET_LOT_SIZE minQty, maxQty, stepSize (market orders)
    market_max_amount = 9000000000
    market_step = 0
    max_open_orders = 200         # MAX_NUM_ORDERS: open orders on the symbol

A market's book is the profile rebuilt around the mid at each look (`book_model = "profile"`, the
default, `model.py`) or a persistent book on the tick grid with queue positions for our orders and
informed background flow (`book_model = "queue"`, `queue.py`), which takes three more fields:

    [markets."BTC/USDT"]
    book_model = "queue"
    informed_share = 0.3          # share of background orders that are informed, in [0, 1]
    impact_bps = 0.5              # their permanent move of the fair mid, bps per top-level qty
    cancel_rate = 0.05            # per second: how fast what rests ahead of our order cancels

or a zero-intelligence order-flow book whose price emerges from its order flow (`book_model =
"flow"`, `flowbook.py`; it has no fair mid, ignores the `regime` and takes its own `flow` table,
every field optional; of the events, only `jump`, `bad_price` and `frozen` apply to it):

    [markets."BTC/USDT".flow]
    limit_rate = 8                # background limit orders per second, per side
    market_rate = 1               # background market orders per second
    cancel_rate = 0.03            # per resting background order per second
    order_size = 0.3              # mean limit order, in top_depth units (exponential)
    market_size = 1               # mean market order, in top_depth units (exponential)
    window = 3000                 # ticks from the opposite best a limit order may land
    exponent = 1.0                # odds of landing k ticks away ~ k ** -exponent
    persistence = 0.8             # odds that a market order has the previous one's sign
    warmup = 300                  # seconds simulated before the start

Deposits and withdrawals of the account are `flows` (see `flows.py`), listed by ccxt's
`fetch_deposits` and `fetch_withdrawals` and by the HTTP front's capital endpoints:

    [[flows]]
    kind = "deposit"              # or "withdrawal"
    asset = "USDT"
    amount = 50000
    at = 600                      # seconds after the start
    confirm = 120                 # pending this long before credited (withdrawal: complete)
    fee = 0                       # a withdrawal's fee, taken on top of its amount

Fees are per market (`maker_fee`, `taker_fee`, fractions: 0.0002 is 2 bps; maker may be below
taker). Request latency in virtual time is the `[faults]` table's `latency` (seconds per call).

`round_commissions = true` (the default) rounds every commission half up to eight decimals, as
Binance charges them; false keeps them exact. Faults, rate limits and maintenance windows are
the `[faults]` table (see `faults.py`).

Perpetual futures (`perp.py`) are `perps` tables, keyed by the ccxt symbol BASE/QUOTE:QUOTE, on a
spot market of the same scenario (`underlying`, whose mid is the index); the futures wallet,
position mode and starting positions are the `[futures]` table:

    [perps."BTC/USDT:USDT"]
    underlying = "BTC/USDT"
    tick = 0.1
    step = 0.001
    top_depth = 5
    maker_fee = 0.0002
    taker_fee = 0.0005
    mmr = 0.004                   # maintenance margin rate
    max_leverage = 125
    leverage = 20                 # the symbol's starting leverage
    margin_mode = "cross"         # or "isolated"
    funding_interval = 28800      # seconds (settlements at multiples since the epoch)
    basis = 0.0001                # the perp's premium over the index (`perp_market.py`)
    [futures]
    wallet = 20000                # USDT in the futures wallet
    hedged = false                # one-way mode
    [[futures.positions]]
    symbol = "BTC/USDT:USDT"
    side = "short"
    contracts = 1
    entry = 95000
    leverage = 3
    margin_mode = "isolated"
"""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bot.domain.market import Market, Side
from bot.errors import DomainError, ScenarioError
from bot.inputs import read_toml
from bot.sim.clock import DEFAULT_START
from bot.sim.faults import FaultConfig
from bot.sim.filters import MAX_NOTIONAL, MAX_NUM_ORDERS, MAX_PRICE, MAX_QTY, Filters
from bot.sim.flowbook import FlowBook, FlowParams
from bot.sim.model import BookModel, Event, EventKind, Regime
from bot.sim.perp_market import PerpSpec
from bot.sim.perp_scenario import FuturesSpec, PerpMarketSpec, perp_problems
from bot.sim.queue import QueueBook, QueueParams

MAX_EXTENDS = 16  # files in one chain of `extends`
FLOW_EVENTS = (EventKind.JUMP, EventKind.BAD_PRICE, EventKind.FROZEN)  # those a flow book takes
Positive = Annotated[Decimal, Field(gt=0)]
NonNegative = Annotated[Decimal, Field(ge=0)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MarketSpec(_Spec):
    price: Positive
    tick: Positive
    step: Positive
    top_depth: Positive
    min_amount: NonNegative = Decimal(0)
    min_cost: NonNegative = Decimal(0)
    maker_fee: Decimal = Decimal("0.001")
    taker_fee: Decimal = Decimal("0.001")
    level_spacing_ticks: Annotated[int, Field(ge=1)] = 1
    regime: Regime = Regime()
    max_price: NonNegative = MAX_PRICE
    max_amount: NonNegative = MAX_QTY
    max_cost: NonNegative = MAX_NOTIONAL
    market_min_amount: NonNegative = Decimal(0)
    market_max_amount: NonNegative = MAX_QTY
    market_step: NonNegative = Decimal(0)
    max_open_orders: Annotated[int, Field(ge=0)] = MAX_NUM_ORDERS
    book_model: Literal["profile", "queue", "flow"] = "profile"
    informed_share: Annotated[float, Field(ge=0, le=1)] = 0.0
    impact_bps: Annotated[float, Field(ge=0)] = 0.0
    cancel_rate: Annotated[float, Field(ge=0)] = 0.0
    flow: FlowParams | None = None

    @model_validator(mode="after")
    def _limits(self) -> MarketSpec:
        problems = []
        if self.book_model != "queue":
            for name in ("informed_share", "impact_bps", "cancel_rate"):
                if getattr(self, name):
                    problems.append(
                        f'{name} needs book_model = "queue" (the {self.book_model} book ignores it)'
                    )
        if self.flow is not None and self.book_model != "flow":
            problems.append(f'a flow table needs book_model = "flow" (not {self.book_model!r})')
        pairs = (
            ("max_price", self.max_price, "tick", self.tick),
            ("max_amount", self.max_amount, "min_amount", self.min_amount),
            ("max_cost", self.max_cost, "min_cost", self.min_cost),
            ("market_max_amount", self.market_max_amount, "market_min_amount",
             self.market_min_amount),
        )  # fmt: skip
        for upper, high, lower, low in pairs:
            if high and high < low:
                problems.append(f"{upper} {high} is below {lower} {low} (0: no maximum)")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def to_filters(self) -> Filters:
        return Filters(
            max_price=self.max_price,
            max_amount=self.max_amount,
            max_cost=self.max_cost,
            market_min_amount=self.market_min_amount,
            market_max_amount=self.market_max_amount,
            market_step=self.market_step,
            max_open_orders=self.max_open_orders,
        )

    def to_market(self, symbol: str) -> Market:
        base, _, quote = symbol.partition("/")
        return Market(
            symbol=symbol,
            base=base,
            quote=quote,
            amount_step=self.step,
            price_tick=self.tick,
            min_amount=self.min_amount,
            min_cost=self.min_cost,
            maker_fee=self.maker_fee,
            taker_fee=self.taker_fee,
        )


class EventSpec(_Spec):
    kind: EventKind
    at: Annotated[float, Field(ge=0)]
    duration: Annotated[float, Field(ge=0)] = 0.0
    size: float = 0.0
    side: Literal["bids", "asks"] | None = None
    symbol: str | None = None
    reply: Literal["book", "ticker"] | None = None  # bad_price, frozen: one kind of reply only

    @model_validator(mode="after")
    def _coherent(self) -> EventSpec:
        k = self.kind
        if k is not EventKind.JUMP and self.duration <= 0:
            raise ValueError(f"a {k} event needs a duration > 0 (seconds)")
        if k is EventKind.JUMP and not (self.size > -1 and self.size != 0):
            raise ValueError("a jump needs a size: the fractional move, e.g. -0.05, > -1")
        if k is EventKind.DROUGHT and not 0 < self.size < 1:
            raise ValueError("a drought needs a size in (0, 1): the depth left, e.g. 0.1")
        if k is EventKind.ONE_SIDED and self.side is None:
            raise ValueError('a one_sided event needs side = "bids" or "asks" (the side emptied)')
        if k is EventKind.BAD_PRICE and self.size == 1:
            raise ValueError("a bad_price needs a size: the factor on every price, e.g. 0.7 or nan")
        if self.reply is not None and k not in (EventKind.BAD_PRICE, EventKind.FROZEN):
            raise ValueError("reply is for bad_price and frozen events only")
        return self

    def to_event(self) -> Event:
        side = {"bids": Side.BUY, "asks": Side.SELL, None: None}[self.side]
        return Event(self.kind, self.at, self.duration, self.size, side, self.reply)


class FlowSpec(_Spec):
    """A deposit or withdrawal of the account (`flows.py`), `at` seconds after the start."""

    kind: Literal["deposit", "withdrawal"]
    asset: str
    amount: Positive
    at: Annotated[float, Field(ge=0)]
    fee: NonNegative = Decimal(0)  # a withdrawal's, in its asset, taken on top of the amount
    confirm: Annotated[float, Field(ge=0)] = 0.0  # seconds pending before credited / complete

    @model_validator(mode="after")
    def _coherent(self) -> FlowSpec:
        if self.kind == "deposit" and self.fee:
            raise ValueError("a deposit has no fee (fee is a withdrawal's)")
        if not self.asset.isalnum() or self.asset != self.asset.upper():
            raise ValueError(f"asset {self.asset!r}: an upper-case code like USDT")
        return self


class Scenario(_Spec):
    name: str = ""
    description: str = ""
    seed: int = 0
    start: Annotated[float, Field(ge=0)] = DEFAULT_START
    step_seconds: Annotated[float, Field(gt=0)] = 1.0
    balances: dict[str, NonNegative] = Field(default_factory=dict)
    regime: Regime = Regime()
    markets: dict[str, MarketSpec] = Field(min_length=1)
    events: list[EventSpec] = Field(default_factory=list)
    flows: list[FlowSpec] = Field(default_factory=list)
    faults: FaultConfig = FaultConfig()
    # Seconds the exchange's clock is ahead of the bot's (negative: behind): its timestamps, and
    # the server time the HTTP front reports and checks signed requests against.
    clock_offset: float = 0.0
    # Most trades one trade query returns (Binance: 1000, 500 unless asked).
    max_trades_page: Annotated[int, Field(ge=1)] = 1000
    # Pay fees in this asset (Binance's BNB option), at a discount, when a market prices it
    # against the traded market's quote and the account holds enough.
    fee_asset: str | None = None
    fee_discount: Annotated[Decimal, Field(ge=0, lt=1)] = Decimal("0.25")
    # Round each commission half up to eight decimals, as Binance does (false: exact fees).
    round_commissions: bool = True
    # Perpetual futures on the spot markets (`perp.py`) and the futures account.
    perps: dict[str, PerpMarketSpec] = Field(default_factory=dict)
    futures: FuturesSpec = FuturesSpec()

    @model_validator(mode="before")
    @classmethod
    def _regime_defaults(cls, data: Any) -> Any:
        """Each market's regime starts from the scenario's `regime` table."""
        if not isinstance(data, dict) or not isinstance(data.get("markets"), dict):
            return data
        shared = data.get("regime", {})
        if not isinstance(shared, dict):
            return data
        out = dict(data)
        for table in ("markets", "perps"):
            if not isinstance(data.get(table), dict):
                continue
            specs = {}
            for symbol, spec in data[table].items():
                if isinstance(spec, dict) and isinstance(spec.get("regime", {}), dict):
                    spec = {**spec, "regime": {**shared, **spec.get("regime", {})}}
                specs[symbol] = spec
            out[table] = specs
        return out

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        problems = []
        for symbol, spec in self.markets.items():
            base, slash, quote = symbol.partition("/")
            if not slash or not base.isalnum() or not quote.isalnum() or symbol != symbol.upper():
                problems.append(f"markets.{symbol}: a symbol is BASE/QUOTE in capitals")
                continue
            try:
                spec.to_market(symbol)
            except DomainError as exc:
                problems.append(f"markets.{symbol}: {exc}")
        for i, event in enumerate(self.events):
            if event.symbol is not None and event.symbol not in self.markets:
                problems.append(f"events.{i}.symbol: {event.symbol} is not in markets")
            flows = [
                s
                for s, spec in self.markets.items()
                if spec.book_model == "flow" and event.symbol in (None, s)
            ]
            if flows and event.kind not in FLOW_EVENTS:
                problems.append(
                    f"events.{i}: a {event.kind} event does not apply to a flow book"
                    f" ({', '.join(flows)}); give it the symbol of another market"
                )
        for asset in self.balances:
            if not asset.isalnum() or asset != asset.upper():
                problems.append(f"balances.{asset}: an asset is an upper-case code like BTC")
        problems.extend(perp_problems(self.markets, self.perps, self.futures))
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def perp_specs(self) -> list[PerpSpec]:
        """The perpetuals of the `perps` tables (`perp_market.PerpSpec`)."""
        return [perp.to_spec(symbol) for symbol, perp in self.perps.items()]

    def perp_filters(self) -> dict[str, Filters]:
        """Each perp's filters beyond its market: Binance's open-order limit only."""
        return {
            symbol: Filters(max_open_orders=perp.max_open_orders)
            for symbol, perp in self.perps.items()
        }

    def market_list(self) -> list[Market]:
        return [spec.to_market(symbol) for symbol, spec in self.markets.items()]

    def filters(self) -> dict[str, Filters]:
        """Each market's filters beyond the domain `Market` (see `filters.py`)."""
        return {symbol: spec.to_filters() for symbol, spec in self.markets.items()}

    def build_books(self, start: float) -> dict[str, BookModel]:
        """One synthetic book per market, each with its own random stream from the seed."""
        books: dict[str, BookModel] = {}
        for symbol, spec in self.markets.items():
            events = tuple(
                e.to_event() for e in self.events if e.symbol is None or e.symbol == symbol
            )
            common: dict[str, Any] = {
                "market": spec.to_market(symbol),
                "regime": spec.regime,
                "price": spec.price,
                "top_depth": spec.top_depth,
                "rng": random.Random(f"{self.seed}/book/{symbol}"),
                "start": start,
                "level_spacing_ticks": spec.level_spacing_ticks,
                "events": events,
            }
            if spec.book_model == "queue":
                params = QueueParams(spec.informed_share, spec.impact_bps, spec.cancel_rate)
                books[symbol] = QueueBook(**common, queue=params)
            elif spec.book_model == "flow":
                books[symbol] = FlowBook(**common, flow=spec.flow or FlowParams())
            else:
                books[symbol] = BookModel(**common)
        return books

    def fault_rng(self) -> random.Random:
        return random.Random(f"{self.seed}/faults")


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _read(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    resolved = path.resolve()
    if resolved in seen:
        raise ScenarioError([f"{path}: extends itself through {' -> '.join(map(str, seen))}"])
    if len(seen) >= MAX_EXTENDS:
        raise ScenarioError([f"{path}: more than {MAX_EXTENDS} files deep in `extends`"])
    data = read_toml(path, lambda line: ScenarioError([line]), what="scenario", parse_float=Decimal)
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str) or not parent or "\x00" in parent:
        raise ScenarioError([f"{path}: extends: a path to another scenario file"])
    return _merge(_read(path.parent / parent, (*seen, resolved)), data)


def parse_scenario(data: dict[str, Any]) -> Scenario:
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_problems(exc)) from None


def _problems(exc: ValidationError) -> list[str]:
    """One line per problem, `where: what (got value)`; a check over several fields names them
    itself, one per line. Nothing in a scenario is secret, so values are always shown."""
    lines: list[str] = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"] if p != "[key]")
        what = err["msg"].removeprefix("Value error, ")
        if err["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
            what = "not a scenario option (see config/scenarios/demo.toml)"
        got = err.get("input")
        shown = (
            "" if err["type"] == "missing" or isinstance(got, dict | list) else f" (got {got!r})"
        )
        lines.extend(f"{where}: {line}{shown}" if where else line for line in what.split("\n"))
    return lines


def load_scenario(path: Path | str) -> Scenario:
    """Read and validate a scenario file (following `extends`), or raise `ScenarioError`."""
    path = Path(path)
    data = _read(path)
    try:
        return parse_scenario(data)
    except ScenarioError as exc:
        raise ScenarioError([f"{path}: {p}" for p in exc.problems]) from None
