"""A request's parameters, parsed and checked as Binance checks them.

Parameters come from the query string and the form body (the query's value wins when both send a
name). Numbers are plain decimals, integers at most twenty digits; symbols are Binance's ids
("BTCUSDT"), turned into the simulator's ("BTC/USDT"). A bad value raises the `Reply` Binance
answers (-1100, -1102, -1121, -1127, -1128, -1130).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from decimal import Decimal
from urllib.parse import parse_qsl

from bot.sim.binance.replies import error, illegal, mandatory
from bot.sim.structures import market_id

INTEGER = re.compile(r"^-?[0-9]{1,20}$")
_NUMBER = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")

Params = dict[str, str]


def parse(raw_query: str, raw_body: str) -> Params:
    params: Params = {}
    for raw in (raw_query, raw_body):
        for key, value in parse_qsl(raw, keep_blank_values=True):
            params.setdefault(key, value)
    return params


def number(params: Params, name: str) -> Decimal | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not _NUMBER.match(raw):
        raise illegal(name, "^([0-9]{1,20})(\\.[0-9]{1,20})?$")
    return Decimal(raw)


def integer(params: Params, name: str, default: int | None = None) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if not INTEGER.match(raw):
        raise illegal(name, "^[0-9]{1,20}$")
    return int(raw)


def limit(params: Params, default: int, maximum: int) -> int:
    value = integer(params, "limit", default)
    assert value is not None
    if value <= 0:
        raise error(400, -1130, "Data sent for parameter 'limit' is not valid.")
    return min(value, maximum)


def time_range(params: Params) -> tuple[int | None, int | None]:
    start = integer(params, "startTime")
    end = integer(params, "endTime")
    if start is not None and end is not None:
        if end < start:
            raise error(400, -1128, "Combination of optional parameters invalid.")
        if end - start > 24 * 3600 * 1000:
            raise error(400, -1127, "More than 24 hours between startTime and endTime.")
    return start, end


class Symbols:
    """Binance's symbol ids of the simulator's markets, read from `symbol` and `symbols`."""

    def __init__(self, symbols: Iterable[str]) -> None:
        self._ids = {market_id(s): s for s in symbols}

    def required(self, params: Params) -> str:
        """The mandatory `symbol`."""
        raw = params.get("symbol", "")
        if not raw:
            raise mandatory("symbol")
        return self.of(raw)

    def of(self, raw: str) -> str:
        """The simulator's symbol for Binance's id `raw`."""
        symbol = self._ids.get(raw)
        if symbol is None:
            raise error(400, -1121, "Invalid symbol.")
        return symbol

    def asked(self, params: Params) -> list[str] | None:
        """Symbols asked by `symbol` or `symbols` (a JSON list), or None for all of them."""
        if params.get("symbol") and params.get("symbols"):
            raise error(400, -1128, "Combination of optional parameters invalid.")
        if params.get("symbol"):
            return [self.of(params["symbol"])]
        raw = params.get("symbols")
        if not raw:
            return None
        try:
            ids = json.loads(raw)
        except ValueError:
            ids = None
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            raise illegal("symbols", '^\\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}){0,1}\\]$')
        return [self.of(i) for i in ids]
