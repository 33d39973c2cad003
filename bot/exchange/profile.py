"""What the bot must know about one exchange, as data: `ExchangeProfile`.

The gateway and the client factory read a profile; neither has a branch on an exchange's name. A
venue's quirks (ccxt options, the receive window, which replies leave an order's fate unknown, how
a refused key is worded, client order id rules, the URL layout behind `exchange.api_url`) live in
one small file per venue under `bot/exchange/profiles/`, found by `profiles.profile_for(id)`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from bot.exchange.permissions import KeyPermissionsCall

# Seconds the gateway waits after a lost order request before looking again, on an exchange whose
# receive window the profile does not know (a guess as long as Binance's window and margin).
UNKNOWN_WINDOW_WAIT = 6.0


@dataclass(frozen=True, slots=True)
class ClientIdRules:
    """How the exchange takes, checks and reports the client order id the bot chooses.

    `param`: the key in ccxt's `params` that sends it (ccxt maps the unified `clientOrderId` to
    the exchange's own field; Coinbase needs its own `client_order_id`); `lookup_param`: the key
    in `fetch_order`'s params that asks for an order by it, None when `fetch_order` cannot (the
    exchange's order listings are searched instead, see `ExchangeProfile.scan_filter`);
    `reply_keys`: fields of the exchange's raw reply (`info`) that name the order's client id ahead
    of ccxt's `clientOrderId`; `prefix`: what ccxt puts before the id it sends (Gate: `t-`), taken
    off what comes back; `max_length` and `charset` (a regex character class): what the exchange
    accepts, the prefix included.
    """

    param: str = "clientOrderId"
    lookup_param: str | None = "clientOrderId"
    reply_keys: tuple[str, ...] = ()
    max_length: int = 64
    charset: str = "!-~"  # printable ASCII: an exchange's profile narrows it
    prefix: str = ""

    def accepts(self, client_id: str) -> bool:
        sent = self.prefix + client_id
        return re.fullmatch(f"[{self.charset}]{{1,{self.max_length}}}", sent) is not None

    def ours(self, reported: str | None) -> str | None:
        """A client id as the exchange reports it, without the prefix ccxt added."""
        if reported and self.prefix and reported.startswith(self.prefix):
            return reported[len(self.prefix) :]
        return reported

    @property
    def compact(self) -> bool:
        """Whether ids must be short (Kraken's free-text ids: 18 characters): numbers in base
        36 and a shorter nonce."""
        return self.max_length - len(self.prefix) < 26

    def rebalance_prefix(self, tag: str, rebalance_id: int, nonce: str) -> str:
        """`<instance tag>-<rebalance><nonce>`, the start of every client id of one rebalance."""
        if self.compact:
            return self.join(tag, _b36(rebalance_id) + nonce[:2])
        return self.join(tag, f"{rebalance_id}{nonce}")

    def leg_key(self, prefix: str, seq: int) -> str:
        return self.join(prefix, _b36(seq) if self.compact else str(seq))

    def child_id(self, leg_key: str, n: int) -> str:
        return f"{leg_key}c{_b36(n) if self.compact else n}"

    @property
    def separator(self) -> str:
        """What joins the parts of the bot's client ids: '-' where the exchange allows it, else
        '_', else 'z' (a letter that is never a hex digit, so the parts still read apart)."""
        for candidate in ("-", "_"):
            if self.accepts(candidate):
                return candidate
        return "z"

    def join(self, *parts: str) -> str:
        """Client id parts joined as this exchange allows: `<instance tag>-<rebalance><nonce>`,
        then `-<leg>`, then `c<child>` (`rb1a2b-12ab34-0c3` on Binance, `rb1a2bz12ab34z0c3` where
        only letters and digits are allowed)."""
        return self.separator.join(parts)


@dataclass(frozen=True, slots=True)
class ApiUrlLayout:
    """How every ccxt call is sent to one base URL (`exchange.api_url`): each of the ccxt class's
    `urls.api` entries keeps its path and takes the base URL's scheme, host and prefix. ccxt looks
    some error codes up by host name; `exception_tables` names the `exceptions` sub-tables whose
    `exact` codes are merged into the general table so they apply at any address."""

    exception_tables: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AccountFields:
    """Where a futures balance reply (ccxt's `fetch_balance`, raw `info`) holds the settlement
    asset's figures: `entries`, the path to the per-asset list; `asset_key`, the field naming an
    entry's asset; `wallet`, `equity` and `free`, its fields (`free` None: ccxt's unified
    `free[asset]`, where the exchange reports no per-asset available balance)."""

    entries: tuple[str | int, ...]
    asset_key: str
    wallet: str
    equity: str
    free: str | None = None


@dataclass(frozen=True, slots=True)
class PerpFacts:
    """What differs between exchanges' linear (USDT-settled) perpetuals.

    `ccxt_options`: over the profile's, for the client that trades them. `position_side_param`
    and `position_side_values`: how a hedge-mode order names its position ("long"/"short" ->
    the exchange's value); `reduce_only_in_hedge`: whether reduceOnly may go with it (Binance
    refuses it there, -1106). `position_fields`: raw (`info`) position fields of `collateral`
    and `maintenance_margin`, as the exchange reports them (never ccxt's estimates).
    Funding: `funding_page` a request; `funding_window_ms` the longest span one query covers
    (Bybit: 7 days); `funding_history_ms` how far back the exchange keeps them;
    `funding_cursor` (params key, raw entry field) where pages go by cursor, else by time;
    `funding_paid_positive` where a payment made is reported positive (Bybit's execFee);
    `funding_hours` where ccxt reports no interval. `position_mode_call`: ccxt's method that
    tells one-way or hedge, None: a symbol's positions tell. `transfer_accounts`: ccxt's names
    of the spot and futures accounts, else None and `transfer_refused` says why;
    `transfers_in_demo`: whether the demo has the transfer API;
    `reduce_only_waives_min_cost`: see the field.
    """

    ccxt_options: Mapping[str, Any] = field(default_factory=dict)
    account: AccountFields = AccountFields(("assets",), "asset", "walletBalance", "marginBalance")
    reduce_only_params: Mapping[str, Any] = field(default_factory=lambda: {"reduceOnly": True})
    position_side_param: str | None = None
    position_side_values: Mapping[str, Any] = field(default_factory=dict)
    reduce_only_in_hedge: bool = True
    position_fields: Mapping[str, str] = field(default_factory=dict)
    funding_page: int = 100
    funding_window_ms: int | None = None
    funding_history_ms: int | None = None
    funding_cursor: tuple[str, str] | None = None
    funding_paid_positive: bool = False
    funding_hours: Decimal = Decimal(8)
    position_mode_call: str | None = "fetch_position_mode"
    transfer_accounts: tuple[str, str] | None = None
    transfer_refused: str | None = None
    transfers_in_demo: bool = False
    # Whether an order that only reduces is exempt from the market's minimum notional (Binance:
    # -4164 "unless you choose reduce only"): the margin guard may then cut any amount.
    reduce_only_waives_min_cost: bool = False


@dataclass(frozen=True, slots=True)
class ReplaceFacts:
    """How the exchange cancels an order and places another in one request (Binance spot:
    POST /api/v3/order/cancelReplace), the new order placed only once the cancel succeeded.

    `build`: the client's method that builds the request from ccxt's edit_order arguments (id,
    symbol, type, side, amount, price, params); `send`: the client's method (a ccxt implicit API
    method) that sends it. `old_client_id_param`: the params key naming the old order by client
    id, sent when its exchange id is not known. `mode`: params that make the exchange stop on a
    failed cancel (sent every time). `cancel_half` and `new_half`: the reply's keys of the
    cancel's and the new order's replies, each parsed with the client's `parse_order`; a half
    that is an error carries `code` and `msg`. `failed_codes`: the reply codes (an error raised
    by ccxt, the body in its message) whose body holds both halves under `failed_data`.
    `cancel_final_codes`: codes of a failed cancel meaning the old order is already final or
    unknown; `half_errors`: a failed half's message or code -> the ccxt class the exchange's
    plain reply would raise (messages first), read as the gateway reads ccxt's errors.
    """

    build: str
    send: str
    old_client_id_param: str
    mode: Mapping[str, Any] = field(default_factory=dict)
    cancel_half: str = "cancelResponse"
    new_half: str = "newOrderResponse"
    failed_codes: tuple[str, ...] = ()
    failed_data: str = "data"
    cancel_final_codes: tuple[str, ...] = ()
    half_errors: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ExchangeProfile:
    id: str
    # ccxt options the bot sets for this exchange; the user's `exchange.options` go on top.
    ccxt_options: Mapping[str, Any] = field(default_factory=dict)
    # Seconds after a request's timestamp during which the exchange may still execute it; None:
    # the exchange has no such window (or the profile does not know it).
    receive_window: float | None = None
    # The ccxt option that sets that window, in milliseconds (Binance: recvWindow).
    receive_window_option: str | None = None
    # Seconds added to the window before a lost request is believed dropped (clock skew, transit).
    ambiguity_margin: float = 1.0
    # ccxt exception classes (by name) whose reply leaves a create request's fate unknown: it may
    # have executed (timeouts, dropped connections, 5xx "status unknown").
    ambiguous_errors: tuple[str, ...] = ("OperationFailed",)
    # ... and those that mean the exchange refused it unexecuted (rate limits, 429 and 418; a
    # timestamp outside the receive window), checked first: these are NetworkErrors in ccxt too.
    refused_errors: tuple[str, ...] = ("DDoSProtection", "RateLimitExceeded", "InvalidNonce")
    # Texts in an error that mean "bad key or permissions", whatever class ccxt gives it.
    auth_error_markers: tuple[str, ...] = ()
    # Error codes the exchange answers that ccxt leaves unmapped (a bare ExchangeError), as ccxt
    # exception class names, added to the client's exact-match table (Coinbase: its post-only
    # refusal INVALID_LIMIT_PRICE_POST_ONLY -> OrderImmediatelyFillable, INTERNAL -> ambiguous).
    error_classes: Mapping[str, str] = field(default_factory=dict)
    client_id: ClientIdRules = ClientIdRules()
    # Whether a cancel reply that says final (with a filled amount) is the order's final state.
    cancel_reply_final: bool = True
    # Set when `exchange.api_url` is supported for this exchange.
    api_url: ApiUrlLayout | None = None
    # OHLCV bars one fetch_ohlcv request asks for (Binance: 1000); the gateway pages through more.
    ohlcv_page: int = 500
    # Trades one trade query asks for (the exchange's page: Binance 500, OKX 100, Kraken 50);
    # the gateway pages through more.
    trades_page: int = 50
    # Whether the exchange's tickers carry the best bid and ask (else prices come from books).
    tickers_bid_ask: bool = True
    # Where `fetch_order` cannot ask by client id (`client_id.lookup_param` None): the params key
    # that filters the order listings by client id (Bybit: orderLinkId, Kraken: clientOrderId),
    # or None when the listings must be read whole and searched (Coinbase).
    scan_filter: str | None = None
    # The listing of finished orders, cancelled ones included (Bybit's fetch_closed_orders holds
    # filled orders only: fetch_canceled_and_closed_orders).
    closed_orders_method: str = "fetch_closed_orders"
    # The most orders one listing request may ask for (Bybit's order listings: 50).
    orders_page: int = 100
    # ccxt exception classes (by name) a cancel of an order that is already final raises: the
    # order's final state is then read (Coinbase: BadRequest; Gate: InvalidOrder).
    cancel_final_errors: tuple[str, ...] = ("OrderNotFound",)
    # Read a leg's trades order by order (ccxt's fetch_order_trades) rather than by time: exact
    # where the exchange pages its trade history newest first or by cursor.
    trades_by_order: bool = False
    # ... where ccxt's fetch_order_trades needs the order's trade ids in its params (Kraken:
    # `trades`): that key; the ids are read from the order (fetch_order) first.
    order_trade_ids_param: str | None = None
    # ... where ccxt has no fetch_order_trades: the fetch_my_trades params key that filters the
    # account's trades by order id, given a list of one (Coinbase: order_ids).
    order_trades_filter: str | None = None
    # ... whether that key takes a list of ids (Coinbase) or one id (Bitget: orderId).
    order_trades_filter_list: bool = True
    # The params that make a limit order post-only, and immediate-or-cancel (ccxt's unified ones
    # unless an exchange needs its own).
    post_only_params: Mapping[str, Any] = field(default_factory=lambda: {"postOnly": True})
    ioc_params: Mapping[str, Any] = field(default_factory=lambda: {"timeInForce": "IOC"})
    # Where the exchange takes a trade's fee: "received" (the asset the fill delivers: Binance,
    # OKX, Bybit...) or "quote" (Kraken, Coinbase). The bot reads fees from the trades either
    # way; the simulator charges them here when it presents this exchange.
    fees_in: str = "received"
    # The order-book depths the exchange serves (KuCoin: 20 or 100); empty: any. A request for
    # another depth asks for the next one up and keeps what was asked for.
    book_depths: tuple[int, ...] = ()
    # Demo trading is ccxt's sandbox switch (OKX: a header on the live host), not
    # `enable_demo_trading`.
    demo_via_sandbox: bool = False
    # The trade-query parameter that starts a page at a trade id (Binance: fromId), for
    # exchanges whose trade ids increase: pages then never lose trades of one millisecond.
    # None: pages start at the last trade's time.
    trades_from_id: str | None = None
    # Where a lookup by client id forgets finished orders after a while (Gate: an hour after the
    # order ends), a lookup that misses is checked in the order listings too (`scan_filter`).
    scan_after_lookup_miss: bool = False
    # ccxt fills every market's maker/taker with the exchange's base tier (Binance: 0.1%/0.1%),
    # not the account's: the account's own rates (its VIP tier, a zero-fee pair) are read once at
    # start with fetch_trading_fees, and the base tier stays only where they cannot be read.
    account_fees: bool = False
    # Whether the bot reads the account's deposits and withdrawals (ccxt's fetch_deposits and
    # fetch_withdrawals), so that a balance change they explain does not halt it; how many one
    # request asks for, and the params key that pages within one time window by offset (Binance:
    # offset), else pages move on by time.
    flows: bool = False
    flows_page: int = 500
    flows_offset_param: str | None = None
    # Where the trading account's own deposits and withdrawals are read (with `flows`):
    # "deposits" (fetch_deposits and fetch_withdrawals), "ledger" (fetch_ledger's deposit and
    # withdrawal entries, where the exchange has no such calls) or "none" (they land in, and
    # leave from, another account, a funding account: only transfers move the trading balance,
    # so a deposit is counted once, by its transfer).
    flows_source: str = "deposits"
    # How transfers between the account's own wallets are read: None (not read),
    # "fetch_transfers" (ccxt's transfer structures: fromAccount, toAccount) or "fetch_ledger"
    # (the trading account's ledger: its transfer entries, in or out). A transfer into the
    # trading account is a deposit, out of it a withdrawal; trades and fees are never flows.
    transfers: str | None = None
    # ccxt's names of the account the bot trades from (OKX: trading), as transfers name it.
    trading_accounts: tuple[str, ...] = ()
    # Params every transfer or ledger request carries (OKX's bills: type 1, transfers).
    transfers_params: Mapping[str, Any] = field(default_factory=dict)
    # Lists served newest first, paged by cursor: the params key of the next page and the field
    # of the raw entry (`info`) that starts it, read from the oldest entry that carries it (OKX:
    # after, billId). None: pages by offset or time as above.
    flows_cursor: tuple[str, str] | None = None
    # How the exchange tells what the API key may do (trade, withdraw): `check-config --online`
    # asks; None where the exchange has no such call.
    key_permissions: KeyPermissionsCall | None = None
    # Linear perpetuals: the exchange's facts (None: the bot trades none there), and whether
    # this profile's client trades them (its markets are swaps, not spot: `for_perps`).
    perps: PerpFacts | None = None
    contracts: bool = False
    # Why ccxt's sandbox must not be used (Binance USD-M: deprecated): refused with this line.
    sandbox_refused: str | None = None
    # Cancel-and-replace in one request (`ReplaceFacts`); None: cancel, then place.
    cancel_replace: ReplaceFacts | None = None

    @property
    def ambiguity_window(self) -> float:
        """Seconds from a lost order request's send until the exchange would refuse it."""
        if self.receive_window is None:
            return UNKNOWN_WINDOW_WAIT
        return self.receive_window + self.ambiguity_margin

    def options(self) -> dict[str, Any]:
        """The ccxt options for this exchange, the receive window included."""
        out = dict(self.ccxt_options)
        if self.receive_window_option is not None and self.receive_window is not None:
            out[self.receive_window_option] = round(self.receive_window * 1000)
        return out

    def __post_init__(self) -> None:
        if self.fees_in not in ("received", "quote"):
            raise ValueError(f"{self.id}: fees_in must be 'received' or 'quote'")
        if self.flows_source not in ("deposits", "ledger", "none"):
            raise ValueError(f"{self.id}: flows_source must be 'deposits', 'ledger' or 'none'")
        if self.transfers not in (None, "fetch_transfers", "fetch_ledger"):
            raise ValueError(f"{self.id}: transfers must be 'fetch_transfers' or 'fetch_ledger'")

    def for_perps(self) -> ExchangeProfile:
        """This exchange's profile for its linear perpetuals: the perp client's options."""
        if self.perps is None:
            raise ValueError(f"{self.id}: no linear perpetuals in this profile")
        if self.contracts:
            return self
        options = {**self.ccxt_options, **self.perps.ccxt_options}
        return replace(self, ccxt_options=options, contracts=True, cancel_replace=None)

    def book_depth(self, depth: int | None) -> int | None:
        """The depth to ask the exchange for, to get at least `depth` levels."""
        if depth is None or not self.book_depths:
            return depth
        return next((d for d in sorted(self.book_depths) if d >= depth), max(self.book_depths))

    def is_auth_failure(self, exc: Exception) -> bool:
        text = str(exc).replace(" ", "")
        return any(marker.replace(" ", "") in text for marker in self.auth_error_markers)


def _b36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out
