"""Binance's answers other than 200: the `Reply` a request's handling raises, its error bodies.

An error is `{"code": ..., "msg": ...}` with an HTTP status; the codes and messages are Binance's,
so that ccxt raises what it raises against api.binance.com (see the table in `bot.sim.binance`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web


class Reply(Exception):
    """An HTTP answer other than 200, raised from anywhere in a request's handling."""

    def __init__(
        self, status: int, body: Mapping[str, Any] | str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        if isinstance(self.body, str):
            return web.Response(status=self.status, text=self.body, headers=self.headers)
        return json_response(self.body, self.status, self.headers)


class Drop(Exception):
    """Close the connection without answering (a network error as the client sees it)."""


def error(status: int, code: int, msg: str, headers: Mapping[str, str] | None = None) -> Reply:
    """Binance's error body `{"code": ..., "msg": ...}` with its HTTP status."""
    return Reply(status, {"code": code, "msg": msg}, headers)


def mandatory(name: str) -> Reply:
    return error(
        400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def not_required(name: str) -> Reply:
    return error(400, -1106, f"Parameter '{name}' sent when not required.")


def illegal(name: str, legal: str) -> Reply:
    return error(
        400, -1100, f"Illegal characters found in parameter '{name}'; legal range is '{legal}'."
    )


def unknown_error() -> Reply:
    """Binance's answer when the server itself failed (-1000, its spelling)."""
    return error(500, -1000, "An unknown error occured while processing the request.")


def maintenance() -> Reply:
    """What Binance answers while the system is in maintenance: HTTP 503, the message ccxt's
    binance knows (`ccxt.OnMaintenance`)."""
    return error(503, 1, "System is under maintenance.")


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """A JSON body as Binance sends it: compact, `application/json;charset=UTF-8`."""
    return web.Response(
        status=status,
        body=json.dumps(body, separators=(",", ":")).encode(),
        headers={"Content-Type": "application/json;charset=UTF-8", **(headers or {})},
    )
