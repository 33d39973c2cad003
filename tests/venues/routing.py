"""Small helpers for the venue fakes: routes whose paths hold an id (`/orders/{id}`), exact
decimal text, and request signatures checked the way the venue checks them."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from tests.venues.venue import Handler


class Routes(dict[tuple[str, str], Handler]):
    """(method, path) -> handler, where a path may name segments: `/api/v1/orders/{orderId}`.
    An exact path wins over a template (`/orders/active` over `/orders/{orderId}`)."""

    def get(self, key: tuple[str, str], default: Any = None) -> Any:
        exact = super().get(key)
        if exact is not None:
            return exact
        method, path = key
        for (verb, template), handler in self.items():
            if verb == method and "{" in template and match(template, path) is not None:
                return handler
        return default


def match(template: str, path: str) -> dict[str, str] | None:
    """The named segments of `path` under `template`, or None when it does not fit."""
    wanted, given = template.split("/"), path.split("/")
    if len(wanted) != len(given):
        return None
    found: dict[str, str] = {}
    for part, value in zip(wanted, given, strict=True):
        if part.startswith("{") and part.endswith("}"):
            if not value:
                return None
            found[part[1:-1]] = value
        elif part != value:
            return None
    return found


def txt(value: Decimal) -> str:
    """A decimal as exchanges print it: plain digits, no exponent, no trailing zeros."""
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


def query_string(query: Mapping[str, str]) -> str:
    """The query as ccxt wrote it (its order is kept; our values need no escaping)."""
    return urlencode(list(query.items()))
