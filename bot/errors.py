"""The bot's own error hierarchy. Each error carries a message a person can act on."""

from bot.domain.errors import DomainError, NoPriceError


class BotError(Exception):
    """Base of the errors the bot raises on purpose."""


class ConfigError(BotError):
    """The configuration is invalid. `problems` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class SnapshotError(BotError):
    """A snapshot file (balances, markets, books) cannot be read or is inconsistent."""


__all__ = ["BotError", "ConfigError", "DomainError", "NoPriceError", "SnapshotError"]
