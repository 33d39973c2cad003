"""Snapshots: what the bot knows of an account at one moment (balances, markets, order books).

A snapshot comes from a backend or from a JSON file (`rebalance-bot plan --snapshot FILE`). The file
format is documented in the README; numbers may be JSON strings or JSON numbers and are read as
exact decimals either way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from bot.domain.market import Market, OrderBook
from bot.errors import DomainError, SnapshotError

MARKET_FIELDS = ("amount_step", "price_tick", "min_amount", "min_cost", "maker_fee", "taker_fee")


@dataclass(frozen=True, slots=True)
class Snapshot:
    balances: Mapping[str, Decimal]
    markets: Mapping[str, Market]
    books: Mapping[str, OrderBook]
    taken_at: str | None = None


def load_snapshot(path: Path) -> Snapshot:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal, parse_int=Decimal)
    except FileNotFoundError:
        raise SnapshotError(f"snapshot file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SnapshotError(f"{path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise SnapshotError(f"{path}: invalid JSON: {exc}") from None
    try:
        return parse_snapshot(raw)
    except SnapshotError as exc:
        raise SnapshotError(f"{path}: {exc}") from None


def parse_snapshot(raw: Any) -> Snapshot:
    if not isinstance(raw, dict):
        raise SnapshotError("a snapshot is a JSON object with balances, markets and books")
    for key in ("balances", "markets", "books"):
        if not isinstance(raw.get(key), dict):
            raise SnapshotError(f"{key}: missing or not an object")
    balances = {}
    for asset, amount in raw["balances"].items():
        value = _decimal(amount, f"balances.{asset}")
        if value < 0:
            raise SnapshotError(f"balances.{asset}: must be >= 0, got {value}")
        balances[asset] = value
    markets = {symbol: _market(symbol, spec) for symbol, spec in raw["markets"].items()}
    books = {}
    for symbol, spec in raw["books"].items():
        if symbol not in markets:
            raise SnapshotError(f"books.{symbol}: no such market in markets")
        books[symbol] = _book(symbol, spec)
    taken_at = raw.get("taken_at")
    return Snapshot(balances, markets, books, str(taken_at) if taken_at is not None else None)


def _decimal(value: Any, where: str) -> Decimal:
    if isinstance(value, bool):
        raise SnapshotError(f"{where}: expected a number, got {value!r}")
    try:
        result = Decimal(value) if isinstance(value, str | Decimal) else None
    except InvalidOperation:
        result = None
    if result is None or not result.is_finite():
        raise SnapshotError(f"{where}: expected a number, got {value!r}")
    return result


def _market(symbol: str, spec: Any) -> Market:
    base, sep, quote = symbol.partition("/")
    if not sep or not base or not quote:
        raise SnapshotError(f"markets.{symbol}: a symbol is BASE/QUOTE, like BTC/USDT")
    if not isinstance(spec, dict):
        raise SnapshotError(f"markets.{symbol}: expected an object")
    unknown = sorted(set(spec) - set(MARKET_FIELDS))
    if unknown:
        raise SnapshotError(f"markets.{symbol}: unknown field(s) {', '.join(unknown)}")
    for key in ("amount_step", "price_tick"):
        if key not in spec:
            raise SnapshotError(f"markets.{symbol}.{key}: missing")
    values = {k: _decimal(v, f"markets.{symbol}.{k}") for k, v in spec.items()}
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
    if not isinstance(spec, dict):
        raise SnapshotError(f"books.{symbol}: expected an object with bids and asks")
    sides: dict[str, list[tuple[Decimal, Decimal]]] = {}
    for side in ("bids", "asks"):
        levels = spec.get(side, [])
        if not isinstance(levels, list):
            raise SnapshotError(f"books.{symbol}.{side}: expected a list of [price, amount]")
        parsed = []
        for i, level in enumerate(levels):
            where = f"books.{symbol}.{side}[{i}]"
            if not isinstance(level, list) or len(level) < 2:
                raise SnapshotError(f"{where}: expected [price, amount]")
            price, amount = _decimal(level[0], where), _decimal(level[1], where)
            if price <= 0 or amount < 0:
                raise SnapshotError(f"{where}: price must be > 0 and amount >= 0")
            parsed.append((price, amount))
        sides[side] = parsed
    return OrderBook.from_pairs(symbol, sides["bids"], sides["asks"])
