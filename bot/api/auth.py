"""Who may steer the daemon through the REST API: the holder of the bearer token
(`REBALANCE_API__TOKEN` or `REBALANCE_API__TOKEN_FILE`). Reads need no token; without a token
configured the API is read-only.

The token is compared in constant time (`hmac.compare_digest`) and never appears in a log line,
an error or a response; a refusal says why in one line, not what was sent.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from pydantic import SecretStr

READ_ONLY = (
    "the API is read-only: set REBALANCE_API__TOKEN (or REBALANCE_API__TOKEN_FILE) and restart"
    " to allow commands"
)
MISSING = "this command needs the header Authorization: Bearer <token>"
WRONG = "the bearer token is wrong"
UNREADABLE = "the API token file cannot be read: see REBALANCE_API__TOKEN_FILE"


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a write is refused: 401 (no or wrong token), 403 (read-only) or 503 (unreadable)."""

    status: int
    message: str


def check_bearer(header: str | None, token: SecretStr | None) -> Refusal | None:
    """None when `header` (the request's Authorization) carries `token`; else why not."""
    if token is None:
        return Refusal(403, READ_ONLY)
    scheme, _, given = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return Refusal(401, MISSING)
    expected = token.get_secret_value().encode("utf-8")
    if not hmac.compare_digest(given.strip().encode("utf-8", "replace"), expected):
        return Refusal(401, WRONG)
    return None
