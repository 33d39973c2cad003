"""Snapshots: what the bot knows of an account at one moment (balances, markets, order books).

A snapshot comes from a backend or from a JSON file (`rebalance-bot plan --snapshot FILE`). The file
format is documented in the README; numbers may be JSON strings or JSON numbers and are read as
exact decimals either way, written with the digits 0-9, at most 28 significant digits, 0 or between
1e-24 and 1e24 in size. Every key is checked: an unknown field, an asset code that is not ASCII
upper case (`btc`, a Cyrillic look-alike) or a repeated key is refused with its place, never
dropped, so a plan never ignores a balance it was given.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.domain.market import Market, OrderBook
from bot.errors import DomainError, SnapshotError
from bot.inputs import MiB, exact_number, read_json

MARKET_FIELDS = ("amount_step", "price_tick", "min_amount", "min_cost", "maker_fee", "taker_fee")
TOP_FIELDS = ("taken_at", "balances", "markets", "books")
BOOK_SIDES = ("bids", "asks")
MAX_SNAPSHOT_BYTES = 256 * MiB
MAX_LEVELS = 10_000  # per side of one book
_ASSET = re.compile(r"[A-Z0-9]{1,20}")


@dataclass(frozen=True, slots=True)
class Snapshot:
    balances: Mapping[str, Decimal]
    markets: Mapping[str, Market]
    books: Mapping[str, OrderBook]
    taken_at: str | None = None


class _Written(str):
    """A JSON number as written in the file, checked by `exact_number` like a string."""


def load_snapshot(path: Path) -> Snapshot:
    raw = read_json(
        path,
        SnapshotError,
        what="snapshot",
        max_bytes=MAX_SNAPSHOT_BYTES,
        parse_float=_Written,
        parse_int=_Written,
        parse_constant=_Written,  # NaN, Infinity: refused as numbers, with their place
    )
    try:
        return parse_snapshot(raw)
    except SnapshotError as exc:
        raise SnapshotError(f"{path}: {exc}") from None


def parse_snapshot(raw: Any) -> Snapshot:
    if not isinstance(raw, dict):
        raise SnapshotError("a snapshot is a JSON object with balances, markets and books")
    _known(raw, TOP_FIELDS, "snapshot")
    for key in ("balances", "markets", "books"):
        if not isinstance(raw.get(key), dict):
            raise SnapshotError(f"{key}: missing or not an object")
    balances = {}
    for asset, amount in raw["balances"].items():
        where = f"balances.{_shown_key(asset)}"
        _asset(asset, where)
        value = _decimal(amount, where)
        if value < 0:
            raise SnapshotError(f"{where}: must be >= 0, got {value}")
        balances[asset] = value
    markets = {symbol: _market(symbol, spec) for symbol, spec in raw["markets"].items()}
    books = {}
    for symbol, spec in raw["books"].items():
        if symbol not in markets:
            raise SnapshotError(f"books.{_shown_key(symbol)}: no such market in markets")
        books[symbol] = _book(symbol, spec)
    return Snapshot(balances, markets, books, _taken_at(raw.get("taken_at")))


def _taken_at(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 64 or not value.isprintable():
        raise SnapshotError(
            "taken_at: expected a time as text, like 2026-11-25T12:00:00Z (at most 64 characters)"
        )
    return value


def _shown_key(key: str) -> str:
    """A key as a message shows it: as written when plain ASCII, escaped otherwise, so that a
    look-alike (Cyrillic `ВТС`) does not read as the real code."""
    return key if key.isascii() and key.isprintable() else ascii(key)


def _asset(code: str, where: str) -> None:
    if not _ASSET.fullmatch(code):
        hint = f": write {code.upper()}" if _ASSET.fullmatch(code.upper()) else ""
        raise SnapshotError(
            f"{where}: an asset is an upper-case code of ASCII letters and digits, at most 20,"
            f" like BTC{hint}"
        )


def _known(spec: dict[str, Any], fields: tuple[str, ...], where: str) -> None:
    unknown = sorted(_shown_key(k) for k in set(spec) - set(fields))
    if unknown:
        raise SnapshotError(
            f"{where}: unknown field(s) {', '.join(unknown)} (known: {', '.join(fields)})"
        )


def _decimal(value: Any, where: str) -> Decimal:
    if isinstance(value, bool | dict | list) or value is None:
        raise SnapshotError(f"{where}: expected a number, got {_json_kind(value)}")
    try:
        return exact_number(value)
    except ValueError as exc:
        text = ascii(str(value))
        text = text if len(text) <= 40 else text[:37] + "..."
        raise SnapshotError(f"{where}: expected a number, got {text}: {exc}") from None


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if value is None:
        return "null"
    return "an object" if isinstance(value, dict) else "a list"


def _market(symbol: str, spec: Any) -> Market:
    where = f"markets.{_shown_key(symbol)}"
    base, sep, quote = symbol.partition("/")
    if not sep or not _ASSET.fullmatch(base) or not _ASSET.fullmatch(quote):
        raise SnapshotError(f"{where}: a symbol is BASE/QUOTE in ASCII upper case, like BTC/USDT")
    if not isinstance(spec, dict):
        raise SnapshotError(f"{where}: expected an object")
    unknown = sorted(_shown_key(k) for k in set(spec) - set(MARKET_FIELDS))
    if unknown:
        raise SnapshotError(f"{where}: unknown field(s) {', '.join(unknown)}")
    for key in ("amount_step", "price_tick"):
        if key not in spec:
            raise SnapshotError(f"{where}.{key}: missing")
    values = {k: _decimal(v, f"{where}.{k}") for k, v in spec.items()}
    zero = Decimal(0)
    try:
        return Market(
            symbol=symbol,
            base=base,
            quote=quote,
            amount_step=values["amount_step"],
            price_tick=values["price_tick"],
            min_amount=values.get("min_amount", zero),
            min_cost=values.get("min_cost", zero),
            maker_fee=values.get("maker_fee", zero),
            taker_fee=values.get("taker_fee", zero),
        )
    except DomainError as exc:
        raise SnapshotError(str(exc)) from None


def _book(symbol: str, spec: Any) -> OrderBook:
    at = f"books.{symbol}"
    if not isinstance(spec, dict):
        raise SnapshotError(f"{at}: expected an object with bids and asks")
    _known(spec, BOOK_SIDES, at)
    sides: dict[str, list[tuple[Decimal, Decimal]]] = {}
    for side in BOOK_SIDES:
        levels = spec.get(side, [])
        if not isinstance(levels, list):
            raise SnapshotError(f"{at}.{side}: expected a list of [price, amount]")
        if len(levels) > MAX_LEVELS:
            raise SnapshotError(f"{at}.{side}: more than {MAX_LEVELS} levels")
        parsed = []
        for i, level in enumerate(levels):
            where = f"{at}.{side}[{i}]"
            if not isinstance(level, list) or len(level) != 2:
                raise SnapshotError(f"{where}: expected [price, amount]")
            price, amount = _decimal(level[0], where), _decimal(level[1], where)
            if price <= 0 or amount < 0:
                raise SnapshotError(f"{where}: price must be > 0 and amount >= 0")
            parsed.append((price, amount))
        sides[side] = parsed
    return OrderBook.from_pairs(symbol, sides["bids"], sides["asks"])
