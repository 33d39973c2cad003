"""Binance's signed requests: the API key in `X-MBX-APIKEY`, an HMAC-SHA256 `signature` over the
query string followed by the body, and a `timestamp` within `recvWindow` of the server's time.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

from aiohttp import web

from bot.sim.binance.params import INTEGER, Params
from bot.sim.binance.replies import error, illegal, mandatory

DEFAULT_RECV_WINDOW = 5000  # ms, Binance's default
MAX_RECV_WINDOW = 60000
SIGNING = frozenset({"timestamp", "recvWindow", "signature"})  # parameters every signed call takes


class Keys:
    """The one API key and secret the server accepts."""

    def __init__(self, api_key: str, secret: str) -> None:
        self.api_key = api_key
        self._secret = secret.encode()

    def authenticate(
        self,
        request: web.Request,
        params: Params,
        raw_query: str,
        raw_body: str,
        now_ms: Callable[[], int],
    ) -> None:
        """Raise Binance's reply (-2014, -2015, -1102, -1022, -1100, -1131, -1021) unless the
        request is signed with these keys at `now_ms()`, the server's time."""
        key = request.headers.get("X-MBX-APIKEY", "")
        if not key:
            raise error(401, -2014, "API-key format invalid.")
        if not hmac.compare_digest(key.encode(), self.api_key.encode()):
            raise error(401, -2015, "Invalid API-key, IP, or permissions for action.")
        timestamp = params.get("timestamp", "")
        if not INTEGER.match(timestamp):
            raise mandatory("timestamp")
        signature = params.get("signature", "")
        if not signature:
            raise mandatory("signature")
        payload = _without_signature(raw_query) + _without_signature(raw_body)
        expected = hmac.new(self._secret, payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), signature.lower().encode()):
            raise error(400, -1022, "Signature for this request is not valid.")
        recv_window = float(DEFAULT_RECV_WINDOW)
        if "recvWindow" in params:
            try:
                recv_window = float(params["recvWindow"])
            except ValueError:
                raise illegal("recvWindow", "^[0-9]{1,20}$") from None
            if not 0 < recv_window <= MAX_RECV_WINDOW:
                raise error(400, -1131, f"recvWindow must be less than {MAX_RECV_WINDOW}")
        now = now_ms()
        ts = int(timestamp)
        if ts >= now + 1000:
            raise error(
                400, -1021, "Timestamp for this request was 1000ms ahead of the server's time."
            )
        if now - ts > recv_window:
            raise error(400, -1021, "Timestamp for this request is outside of the recvWindow.")


def _without_signature(raw: str) -> str:
    return "&".join(p for p in raw.split("&") if p and not p.startswith("signature="))
