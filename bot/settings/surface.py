"""The control surface's settings: the REST API with its dashboard (`[api]`) and Telegram
commands (`[telegram]`). Their secrets come from the environment only."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, FilePath, SecretStr, field_validator, model_validator

from bot.settings.fields import Between, Flag, Host, read_secret_file


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class ApiSettings(_Section):
    # The REST API and the web dashboard (bot/api/): http://host:port/ (dashboard), /api/v1/...
    enabled: Flag = False
    # 127.0.0.1: this machine only (reach it through an SSH tunnel). In a container whose port is
    # published on the host's loopback: 0.0.0.0.
    host: Host = "127.0.0.1"
    port: Annotated[int, Between(1, 65_535)] = 8088
    # The bearer token the write endpoints (pause, resume, rebalance, cancel) need: from the
    # environment only (REBALANCE_API__TOKEN, or REBALANCE_API__TOKEN_FILE for a Docker secret).
    # Without one the API is read-only.
    token: SecretStr | None = None
    token_file: FilePath | None = None

    @field_validator("token")
    @classmethod
    def _token_is_strong(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None:
            _check_api_token(token.get_secret_value())
        return token

    @field_validator("token_file")
    @classmethod
    def _token_file_reads(cls, path: Path | None) -> Path | None:
        if path is not None:
            _check_api_token(read_secret_file(path))
        return path

    @model_validator(mode="after")
    def _one_token(self) -> ApiSettings:
        if self.token is not None and self.token_file is not None:
            raise ValueError("set REBALANCE_API__TOKEN or REBALANCE_API__TOKEN_FILE, not both")
        return self

    def bearer(self) -> SecretStr | None:
        """The token in force (from the variable or the file), None: read-only."""
        if self.token_file is not None:
            return SecretStr(read_secret_file(self.token_file))
        return self.token


def _check_api_token(text: str) -> None:
    if len(text) < 16 or len(text) > 256 or not text.isascii() or not text.isprintable():
        raise ValueError("must be 16 to 256 printable ASCII characters (openssl rand -hex 24)")
    if any(c.isspace() for c in text):
        raise ValueError("must not contain spaces")


class TelegramSettings(_Section):
    # Commands from Telegram (/status, /pause, /rebalance, ...): the bot reads the updates of the
    # notify section's bot (REBALANCE_NOTIFY__TELEGRAM_TOKEN) and answers only in its chat
    # (notify.telegram_chat_id). Off by default.
    commands: Flag = False
    # Seconds a /rebalance or /resume waits for its confirmation before it lapses.
    confirm_within: Annotated[float, Between(5, 600, unit="seconds")] = 60.0
    # Seconds of one long poll (getUpdates' timeout).
    poll_timeout: Annotated[float, Between(0, 50, unit="seconds")] = 25.0
