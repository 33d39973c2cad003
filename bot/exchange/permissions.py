"""What an API key may do, as the exchange tells it: trade spot, withdraw.

A profile names the call that asks (`KeyPermissionsCall`: a ccxt implicit method, Binance's
`sapiGetAccountApiRestrictions`, OKX's `privateGetAccountConfig`...) and where its reply says
each thing (`Grant`s: a flag, a value, a token in a list or in a comma-separated string). The
bot wants a key that trades and cannot withdraw: a key that cannot trade is refused (it would
fail at the first order), a key that can withdraw is a risk it warns about (a leaked key with
withdrawals can empty the account; the bot never withdraws).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Grant:
    """One fact in the reply: the value at `path` (keys and list indexes) is true (a JSON
    true, or the text "true"), or equals `equals` (compared as text), or holds `token` (an item
    of a list, or of a comma-separated string)."""

    path: tuple[str | int, ...]
    equals: str | None = None
    token: str | None = None

    def holds(self, reply: Any) -> bool:
        value = reply
        for step in self.path:
            try:
                value = value[step]
            except IndexError:
                raise KeyError(step) from None
        if self.token is not None:
            items = value.split(",") if isinstance(value, str) else list(value)
            return self.token in (str(item).strip() for item in items)
        if self.equals is not None:
            return str(value) == self.equals
        if isinstance(value, str):
            return value.strip().lower() == "true"
        return value is True


@dataclass(frozen=True, slots=True)
class KeyPermissions:
    trade: bool
    withdraw: bool


@dataclass(frozen=True, slots=True)
class KeyPermissionsCall:
    """How one exchange tells what the key may do: the ccxt method that asks (no arguments) and
    the grants that must all hold for the key to trade spot, and to withdraw."""

    method: str
    trade: tuple[Grant, ...]
    withdraw: tuple[Grant, ...]

    def read(self, reply: Any) -> KeyPermissions:
        """The reply's permissions; a reply without the fields raises KeyError or TypeError
        (the transport's decoder makes that a malformed reply)."""
        return KeyPermissions(
            trade=all(g.holds(reply) for g in self.trade),
            withdraw=all(g.holds(reply) for g in self.withdraw),
        )


def judge(permissions: KeyPermissions, exchange: str) -> tuple[list[str], list[str]]:
    """(problems, facts) for `check-config --online`: a key that cannot trade is a problem
    ("key: ...", the refused-key exit code); one that can withdraw a fact starting "warning:"."""
    if not permissions.trade:
        return [
            f"key: {exchange} says this API key may not trade spot (read-only); enable spot"
            " trading for the key, without withdrawals, or make a new key that has it"
        ], []
    if permissions.withdraw:
        return [], [
            "permissions: trading allowed",
            f"warning: {exchange} says this API key may WITHDRAW funds: the bot never withdraws,"
            " and a leaked key with withdrawals can empty the account; make a key without them",
        ]
    return [], ["permissions: trading allowed, withdrawals not allowed"]
