"""The kinds of values a configuration holds, each refusing what the bot could not run with.

- `Between(low, high)`: a finite number in a stated range (`[0.01, 3600]`, `(0, 1]`), given as a
  number or as ASCII text (the environment's values are text); never a boolean, never `inf`,
  `nan`, `1e308` or a number of thousands of digits (see `bot.inputs.exact_number`).
- `Asset`: an asset code in ASCII upper case, letters and digits (`BTC`, `1000SATS`), so a
  look-alike in another alphabet (Cyrillic `ВТС`) never passes for one.
- `Flag`: true or false (or the text `true`/`false`, `1`/`0` from the environment), never a number.
- `Host`, `HttpUrl`, `FilePath`, `ExchangeId`: things the operating system or ccxt will be handed.

Every message says what is expected and never repeats the value: the loader adds the value when it
came from the config file and is not a credential, or the environment variable's name when it came
from the environment (see `bot.settings.loader`).
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import ccxt
from pydantic import BeforeValidator, GetCoreSchemaHandler
from pydantic_core import CoreSchema, core_schema

from bot.domain.schedule import Schedule
from bot.errors import DomainError
from bot.inputs import bounded, nesting_depth, parse_number

ENV_PREFIX = "REBALANCE_"
SECRET_FIELDS = ("api_key", "secret", "password")  # exchange credentials, each also as *_file
NOTIFY_SECRETS = ("telegram_token", "webhook_url")
# Two weights are "the same" within this: target weights must sum to 1 within it.
WEIGHT_TOLERANCE = Decimal("1e-9")
MAX_SECRET_BYTES = 64 * 1024

# A name that may hold a credential: its value is never shown in a message.
_CREDENTIAL_NAME = re.compile(
    r"key|secret|passw|passphrase|token|webhook|auth|credential|private|cookie|signature",
    re.IGNORECASE,
)


def is_credential_name(name: str) -> bool:
    return bool(_CREDENTIAL_NAME.search(name))


@dataclass(frozen=True, slots=True)
class Between:
    """Annotated metadata: a finite number from `low` to `high` (`low_open`/`high_open`: the
    bound itself excluded), converted to the annotated type (float, int or Decimal)."""

    low: Decimal
    high: Decimal
    low_open: bool = False
    high_open: bool = False
    unit: str = ""
    text: tuple[str, str] = ("", "")  # the bounds as written (1e15 rather than 15 digits)

    def __init__(
        self,
        low: str | int,
        high: str | int,
        *,
        low_open: bool = False,
        high_open: bool = False,
        unit: str = "",
    ) -> None:
        object.__setattr__(self, "low", Decimal(low))
        object.__setattr__(self, "high", Decimal(high))
        object.__setattr__(self, "low_open", low_open)
        object.__setattr__(self, "high_open", high_open)
        object.__setattr__(self, "unit", unit)
        object.__setattr__(self, "text", (str(low), str(high)))

    @property
    def interval(self) -> str:
        """The range as config/example.toml states it: `[0.01, 3600]`, `(0, 1]`, `[0, 1e15]`."""
        low, high = self.text
        return f"{'(' if self.low_open else '['}{low}, {high}{')' if self.high_open else ']'}"

    def contains(self, value: Decimal) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return value.is_finite() and above and below

    def check(self, value: object, *, integer: bool = False) -> Decimal:
        unit = f" {self.unit}" if self.unit else ""
        expected = (
            f"expected {'a whole number' if integer else 'a number'} in {self.interval}{unit}"
        )
        if integer and isinstance(value, float | Decimal):
            raise ValueError(f"{expected}, not a fraction")
        if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 100:
            raise ValueError(f"must be in {self.interval}{unit}")
        try:
            number = parse_number(value)
        except ValueError as exc:
            raise ValueError(f"{expected}: {exc}") from None
        if integer and number != number.to_integral_value():
            raise ValueError(f"{expected}, not a fraction")
        if not self.contains(number):
            raise ValueError(f"must be in {self.interval}{unit}")
        try:
            return bounded(number)
        except ValueError as exc:
            raise ValueError(f"{expected}: {exc}") from None

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        integer = source is int

        def validate(value: object) -> object:
            number = self.check(value, integer=integer)
            if source is float:
                return float(number)
            if integer:
                return int(number)
            return number

        return core_schema.no_info_before_validator_function(validate, handler(source))


def _asset(value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Z0-9]{1,20}", value):
        raise ValueError(
            "an asset is an upper-case code of ASCII letters and digits, at most 20, like BTC"
        )
    return value


def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return value.strip().lower() in ("true", "1")
    raise ValueError("expected true or false")


_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")


def _host(value: object) -> str:
    """An IP address (v4 or v6) or a host name of ASCII labels: what a socket can be bound to."""
    if not isinstance(value, str):
        raise ValueError("expected a host: an IP address like 127.0.0.1 or a host name")
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if len(value) > 253 or not _HOSTNAME.fullmatch(value):
            raise ValueError(
                "expected an IP address (127.0.0.1, 0.0.0.0, ::1) or a host name of ASCII"
                " letters, digits, '-' and '.'"
            ) from None
    return value


def check_http_url(value: str) -> str:
    """An http(s) URL with a host, printable ASCII, no spaces, at most 2048 characters."""
    ok = len(value) <= 2048 and value.isascii() and value.isprintable() and " " not in value
    try:
        parts = urlsplit(value) if ok else None
        ok = bool(parts and parts.scheme in ("http", "https") and parts.hostname)
        if parts is not None:
            parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        ok = False
    if not ok:
        raise ValueError("must be an http(s) URL like https://host/path (ASCII, no spaces)")
    return value


def _http_url(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("must be an http(s) URL like https://host/path")
    return check_http_url(value)


def _file_path(value: object) -> Path:
    if isinstance(value, Path):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected a file path")
    if "\x00" in value or len(value) > 4096 or not value.isprintable():
        raise ValueError("expected a file path of printable characters, at most 4096")
    return Path(value)


def _exchange_id(value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[a-z][a-z0-9_]{0,31}", value):
        raise ValueError("expected a ccxt exchange id in lower case, like binance or okx")
    if value not in ccxt.exchanges:
        near = difflib.get_close_matches(value, ccxt.exchanges, n=1)
        hint = f" (did you mean {near[0]}?)" if near else " (ccxt.exchanges lists them)"
        raise ValueError(f"not an exchange ccxt knows{hint}")
    return value


def _chat_id(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not re.fullmatch(r"-?[0-9]{1,20}|@[A-Za-z0-9_]{1,64}", value):
        raise ValueError("expected a Telegram chat id (a number) or @channelname")
    return value


def _schedule(value: object) -> Schedule:
    if isinstance(value, Schedule):
        return value
    if not isinstance(value, str) or len(value) > 64 or not value.isascii():
        raise ValueError("a schedule is text like 'every 7d', 'daily 08:00', 'weekly mon 08:00'")
    try:
        schedule = Schedule.parse(value)
    except DomainError:
        raise ValueError(
            "expected 'every 12h' (m, h or d), 'daily HH:MM' or 'weekly mon HH:MM' (UTC)"
        ) from None
    if schedule.interval is not None and not 60 <= schedule.interval <= 366 * 86_400:
        raise ValueError("an interval schedule must be from 'every 1m' to 'every 366d'")
    return schedule


def _options(value: object) -> dict[str, Any]:
    """ccxt options: JSON-like values, finite numbers (exact decimals from the file become
    floats, as ccxt expects), no credentials, at most 8 levels deep."""
    if not isinstance(value, Mapping):
        raise ValueError("expected a table of ccxt options")
    if nesting_depth(value, 8) > 8:
        raise ValueError("ccxt options nest at most 8 levels deep")
    options = _option_value(value, "")
    assert isinstance(options, dict)
    return options


def _option_value(item: object, where: str) -> Any:
    if isinstance(item, Mapping):
        out = {}
        for key, child in item.items():
            if not isinstance(key, str):
                raise ValueError("option names are text")
            if key.lower() in _CCXT_CREDENTIALS:
                raise ValueError(
                    f"{where}{key}: credentials are never ccxt options; set"
                    f" {ENV_PREFIX}EXCHANGE__API_KEY, __SECRET or __PASSWORD in the environment"
                )
            out[key] = _option_value(child, f"{where}{key}.")
        return out
    if isinstance(item, list):
        return [_option_value(child, where) for child in item]
    if isinstance(item, str | bool | int) or item is None:
        return item
    if isinstance(item, float | Decimal):
        try:
            return float(bounded(parse_number(item)))
        except ValueError as exc:
            raise ValueError(f"{where.rstrip('.')}: {exc}") from None
    raise ValueError(f"{where.rstrip('.')}: expected text, a number, true or false")


# ccxt's credential attributes: never options, never in the file.
_CCXT_CREDENTIALS = frozenset(
    {
        "apikey",
        "secret",
        "password",
        "uid",
        "login",
        "privatekey",
        "walletaddress",
        "token",
        "twofa",
    }
)


Asset = Annotated[str, BeforeValidator(_asset)]
Flag = Annotated[bool, BeforeValidator(_flag)]
Host = Annotated[str, BeforeValidator(_host)]
HttpUrl = Annotated[str, BeforeValidator(_http_url)]
FilePath = Annotated[Path, BeforeValidator(_file_path)]
ExchangeId = Annotated[str, BeforeValidator(_exchange_id)]
ChatId = Annotated[str, BeforeValidator(_chat_id)]
CcxtOptions = Annotated[dict[str, Any], BeforeValidator(_options)]
ScheduleText = Annotated[Schedule, BeforeValidator(_schedule)]
Fraction = Annotated[Decimal, Between(0, 1, low_open=True, high_open=True)]
FeeRate = Annotated[Decimal, Between("-0.01", "0.1", high_open=True)]


def read_secret_file(path: Path) -> str:
    """A credential from a file (Docker secrets): its text, stripped. Raises ValueError with a
    message that names neither the path nor the content."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_SECRET_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"cannot read the file: {exc.strerror or 'unreadable'}") from None
    if len(raw) > MAX_SECRET_BYTES:
        raise ValueError(f"the file is larger than {MAX_SECRET_BYTES // 1024} KiB")
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ValueError("the file is not UTF-8 text") from None
    if not text:
        raise ValueError("the file is empty")
    if "\x00" in text:
        raise ValueError("the file holds a NUL character")
    return text


def weights_total(weights: Mapping[str, Decimal]) -> Decimal:
    """The exact sum of the weights: no rounding to 28 digits, so 0.5 + 0.5000...01 is not 1."""
    with localcontext() as ctx:
        ctx.prec = 200  # weights have at most 28 significant digits and 24 decimals: exact
        return sum(weights.values(), Decimal(0))
