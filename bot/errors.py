"""Every error the bot raises on purpose, in one tree. Each carries a message a person can act on.

    BotError                     the base: the CLI catches it and prints one line, never a traceback
    ├── DomainError              a domain value was refused (also a ValueError)
    │   ├── NoPriceError         an asset has no market path to the quote with a two-sided book
    │   │   └── UntrustedPrice   its prices fail the checks (bad, stale, inconsistent, unconfirmed)
    │   ├── UnknownFeeError      a plan needs a market whose trading fee nobody knows
    │   └── CannotRaise          `raise`: the portfolio cannot free that amount in band
    ├── ConfigError              the configuration is invalid; `problems`: one line per problem
    │   └── ScenarioError        a simulator scenario file is invalid
    ├── SnapshotError            a snapshot file cannot be read or is inconsistent
    ├── JournalError             the journal cannot be opened, read or written
    │   ├── InstanceLocked       another process holds the journal: one bot per journal
    │   └── JournalIdentityError a new journal on an account with a bot's history
    ├── GatewayError             an exchange call failed in a way the caller must handle
    │   ├── ExchangeUnavailable  transient failures went on past the retry budget
    │   ├── AuthFailed           the exchange refused the credentials or their permissions
    │   ├── InsufficientBalance  the account cannot pay for the order
    │   ├── OrderRejected        the order breaks a rule; sending it again would fail again
    │   │   └── WouldCross       a post-only order would have taken liquidity
    │   ├── OrderUnknown         the exchange does not know that order
    │   ├── RequestRefused       refused unexecuted (rate limit, timestamp): try anew later
    │   ├── NeverArrived         a lost order request the exchange can no longer accept
    │   ├── AmbiguousOrder       an order may exist and the exchange could not be asked
    │   └── MalformedReply       the exchange answered something the bot cannot read
    └── DeliveryError            a notification receiver answered, but not with success

Outside the tree, on purpose: the validators of the pydantic models raise `ValueError`, which
pydantic collects and the loaders turn into one `ConfigError`; the simulated exchange raises ccxt's
own exception classes, as a real exchange seen through ccxt does; the Binance-compatible HTTP
front answers with HTTP replies, never an exception to its caller.

This module imports nothing of the bot: every layer, the domain included, may use it.
"""

from __future__ import annotations


class BotError(Exception):
    """Base of the errors the bot raises on purpose."""


class DomainError(BotError, ValueError):
    """A domain value was refused; the message says which value and why."""


class NoPriceError(DomainError):
    """An asset cannot be valued: no market path to the quote currency with a two-sided book."""


class UntrustedPrice(NoPriceError):
    """Prices the bot will not plan on: a managed asset's markets show a price that is not
    positive or finite, a crossed or too wide book, a stale one, markets that imply each other
    disagree, or two looks in a row disagree (`bot.domain.prices`). Trouble that passes: wait."""


class UnknownFeeError(DomainError):
    """A plan would trade on a market whose fee rates the exchange does not report: the bot
    refuses to plan rather than count them as 0."""


class CannotRaise(DomainError):
    """`raise`: the amount asked is more than selling the managed portfolio can free (or the
    asset is not the quote); nothing is traded."""


class ConfigError(BotError):
    """The configuration is invalid. `problems` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class ScenarioError(ConfigError):
    """A scenario file cannot be read or is invalid; `problems` has one line per problem."""


class SnapshotError(BotError):
    """A snapshot file (balances, markets, books) cannot be read or is inconsistent."""


class JournalError(BotError):
    """The journal cannot be opened, read or written: a path, permission, disk or version
    problem."""


class InstanceLocked(JournalError):
    """Another process holds the journal's lock: one bot per journal."""


class JournalIdentityError(JournalError):
    """The journal is new or empty while the account shows a bot's orders or recent trades: it
    is not the journal of this account's history (pass --new-journal if it is meant to be)."""


class GatewayError(BotError):
    """An exchange call failed in a way the caller must handle."""


class ExchangeUnavailable(GatewayError):
    """Transient failures went on past the retry budget."""


class AuthFailed(GatewayError):
    """The exchange refused the credentials or the permission: stop trading, tell the operator."""


class InsufficientBalance(GatewayError):
    """The exchange says the account cannot pay for the order."""


class OrderRejected(GatewayError):
    """The order breaks a rule (filters, price, amount); sending it again would fail again."""


class WouldCross(OrderRejected):
    """A post-only order would have taken liquidity and was refused."""


class OrderUnknown(GatewayError):
    """The exchange does not know that order."""


class RequestRefused(GatewayError):
    """The exchange refused the request without executing it (a rate limit, a timestamp outside
    its receive window): nothing happened, and a new request may follow after `retry_after`
    seconds."""

    def __init__(self, message: str, retry_after: float = 0.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NeverArrived(GatewayError):
    """An order request whose reply was lost never reached the exchange, and can no longer: its
    receive window has passed, or the exchange's orders were listed without it."""


class AmbiguousOrder(GatewayError):
    """An order may exist and the exchange could not be asked: reconcile before acting."""


class MalformedReply(GatewayError):
    """The exchange answered something the bot cannot read (a number that is not one, a field
    missing): never taken as a fact, and never a bare ValueError."""


class DeliveryError(BotError):
    """A notification receiver answered, but not with success. The message never carries a URL.
    `retry_after`: the seconds the receiver asked to wait before another try (Telegram's 429
    "Too Many Requests"), None when it asked nothing."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


__all__ = [
    "AmbiguousOrder",
    "AuthFailed",
    "BotError",
    "ConfigError",
    "DeliveryError",
    "DomainError",
    "ExchangeUnavailable",
    "GatewayError",
    "InsufficientBalance",
    "JournalError",
    "MalformedReply",
    "NeverArrived",
    "NoPriceError",
    "OrderRejected",
    "OrderUnknown",
    "RequestRefused",
    "ScenarioError",
    "SnapshotError",
    "UnknownFeeError",
    "UntrustedPrice",
    "WouldCross",
]
