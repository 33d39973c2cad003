"""Settings: the one place that reads configuration and environment.

Sources, later wins: the TOML file given with `--config`, then environment variables prefixed
`REBALANCE_` with `__` between levels (`REBALANCE_LOOP__POLL_INTERVAL=30`). API credentials come
only from the environment (`REBALANCE_EXCHANGE__API_KEY`) or from a file the environment names
(`REBALANCE_EXCHANGE__API_KEY_FILE=/run/secrets/api_key`, as Docker secrets are mounted); a config
file that contains one is refused, so a key never lands in a repository.

`load_settings` raises `ConfigError` with one line per problem, naming the field and the value.
"""

from __future__ import annotations

import os
import tomllib
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from bot.domain.planner import PlannerPolicy, RebalanceTo
from bot.domain.portfolio import Band, BandKind, Bands, PortfolioSpec
from bot.domain.schedule import Schedule
from bot.domain.slicing import ExecutionPolicy, Style
from bot.errors import ConfigError

ENV_PREFIX = "REBALANCE_"
SECRET_FIELDS = ("api_key", "secret", "password")


def _asset_name(value: str) -> str:
    if not value or not value.isalnum() or value != value.upper():
        raise ValueError("asset must be an upper-case code like BTC")
    return value


Asset = Annotated[str, AfterValidator(_asset_name)]
Fraction = Annotated[Decimal, Field(gt=0, lt=1)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Mode(StrEnum):
    SIM = "sim"  # the built-in simulated exchange (synthetic market, simulated fills)
    PAPER = "paper"  # dry run: real public market data, simulated fills
    TESTNET = "testnet"  # the exchange's sandbox, test money
    DEMO = "demo"  # the exchange's demo trading (Binance, Bybit, Bitget; OKX's is its testnet)
    LIVE = "live"  # real money


FeeRate = Annotated[Decimal, Field(ge=Decimal("-0.01"), lt=Decimal("0.1"))]


class FeeSettings(_Section):
    # Fractions of the traded value: 0.001 = 10 bps (a negative maker fee is a rebate).
    maker: FeeRate
    taker: FeeRate


class ExchangeSettings(_Section):
    id: str = Field(default="binance", min_length=1)
    mode: Mode = Mode.SIM
    # Requests per second the gateway allows itself; default: from ccxt's `rateLimit`.
    requests_per_second: Annotated[float, Field(gt=0)] | None = None
    # Tries per call on transient errors (network, timeouts, 429, 5xx), with exponential backoff.
    retries: Annotated[int, Field(ge=1, le=20)] = 5
    # Seconds of ccxt's HTTP timeout.
    timeout: Annotated[float, Field(gt=0)] = 10.0
    # Extra ccxt options, merged over the bot's own (see the README).
    options: dict[str, Any] = Field(default_factory=dict)
    # Trade live on an exchange the bot has no verified profile for (see the README's table):
    # refused unless set, and then the bot says at start-up which guarantees it cannot give.
    allow_unverified: bool = False
    # The fee rates you pay, for markets whose rates neither ccxt nor the account reports (a plan
    # that would trade on such a market is refused otherwise). Default: none.
    fees: FeeSettings | None = None
    # Send every API call to this base URL instead of the exchange's (a proxy, a self-hosted
    # gateway, or the local simulated exchange: rebalance-bot sim-server). Binance only.
    api_url: str | None = Field(default=None, pattern=r"^https?://[^\s/]+.*$")
    # Credentials: from the environment only (the loader refuses them in a file).
    api_key: SecretStr | None = None
    secret: SecretStr | None = None
    password: SecretStr | None = None
    # ... or from files the environment names (Docker secrets), read once and checked here.
    api_key_file: Path | None = None
    secret_file: Path | None = None
    password_file: Path | None = None

    @field_validator("api_key_file", "secret_file", "password_file")
    @classmethod
    def _readable(cls, path: Path | None) -> Path | None:
        if path is None:
            return None
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"cannot read {path}: {exc.strerror}") from None
        if not text:
            raise ValueError(f"{path} is empty")
        return path

    @model_validator(mode="after")
    def _one_source_per_secret(self) -> ExchangeSettings:
        both = [n for n in SECRET_FIELDS if getattr(self, n) and getattr(self, f"{n}_file")]
        if both:
            raise ValueError(
                "\n".join(
                    f"exchange.{n}: set either {ENV_PREFIX}EXCHANGE__{n.upper()} or"
                    f" {ENV_PREFIX}EXCHANGE__{n.upper()}_FILE, not both"
                    for n in both
                )
            )
        return self

    def credential(self, name: str) -> SecretStr | None:
        """`api_key`, `secret` or `password`, from the environment or from its file."""
        direct: SecretStr | None = getattr(self, name)
        if direct is not None:
            return direct
        path: Path | None = getattr(self, f"{name}_file")
        return SecretStr(path.read_text(encoding="utf-8").strip()) if path else None


class BandSettings(_Section):
    kind: BandKind = BandKind.ABSOLUTE
    width: Fraction = Decimal("0.05")

    def to_band(self) -> Band:
        return Band(self.kind, self.width)


class BandsSettings(BandSettings):
    overrides: dict[Asset, BandSettings] = Field(default_factory=dict)


class PortfolioSettings(_Section):
    quote: Asset
    targets: dict[Asset, Annotated[Decimal, Field(gt=0, le=1)]] = Field(min_length=1)
    quote_reserve: Annotated[Decimal, Field(ge=0)] = Decimal(0)

    @field_validator("targets")
    @classmethod
    def _weights_sum_to_one(
        cls, targets: dict[str, Decimal], info: ValidationInfo
    ) -> dict[str, Decimal]:
        total = sum(targets.values(), Decimal(0))
        if total != 1:
            quote = info.data.get("quote", "the quote currency")
            raise ValueError(
                f"target weights must sum to 1, got {total}"
                f" (list {quote} with a weight to hold cash)"
            )
        return targets


class RebalanceSettings(_Section):
    to: RebalanceTo = RebalanceTo.TARGET
    direct_pairs: bool = True

    def policy(self) -> PlannerPolicy:
        return PlannerPolicy(rebalance_to=self.to, direct_pairs=self.direct_pairs)


class ExecutionSettings(_Section):
    style: Style = Style.PASSIVE_THEN_TAKE
    participation: Annotated[Decimal, Field(gt=0, le=1)] = Decimal("0.2")
    band_bps: Annotated[Decimal, Field(gt=0)] = Decimal(10)
    max_order_notional: Annotated[Decimal, Field(gt=0)] | None = None
    child_timeout: Annotated[float, Field(gt=0)] = 10.0
    passive_timeout: Annotated[float, Field(gt=0)] = 20.0
    max_spread_bps: Annotated[Decimal, Field(gt=0)] = Decimal(100)
    max_deviation_bps: Annotated[Decimal, Field(gt=0)] = Decimal(150)
    deviation_timeout: Annotated[float, Field(gt=0)] = 300.0
    leg_deadline: Annotated[float, Field(gt=0)] = 1800.0
    take_after: Annotated[Decimal, Field(gt=0, le=1)] = Decimal("0.8")
    book_depth: Annotated[int, Field(ge=5, le=5000)] = 50

    def policy(self) -> ExecutionPolicy:
        return ExecutionPolicy(
            style=self.style,
            participation=self.participation,
            band_bps=self.band_bps,
            max_order_notional=self.max_order_notional,
            child_timeout=self.child_timeout,
            passive_timeout=self.passive_timeout,
            max_spread_bps=self.max_spread_bps,
            max_deviation_bps=self.max_deviation_bps,
            deviation_timeout=self.deviation_timeout,
            leg_deadline=self.leg_deadline,
            take_after=self.take_after,
        )


class SimTime(StrEnum):
    VIRTUAL = "virtual"  # simulated time runs as fast as the CPU allows
    REAL = "real"  # wall-clock time


class SimSettings(_Section):
    # Scenario file for mode "sim", relative to this config file's folder unless absolute.
    scenario: Path = Path("scenarios/demo.toml")
    # virtual: simulated time runs as fast as the CPU allows | real: wall-clock time.
    time: SimTime = SimTime.VIRTUAL


class PaperSettings(_Section):
    # Starting balances of the paper (dry-run) account; later runs continue from its saved state.
    balances: dict[Asset, Annotated[Decimal, Field(ge=0)]] = Field(default_factory=dict)


class OnRestart(StrEnum):
    CANCEL = "cancel"  # cancel our orders found open at start-up
    ADOPT = "adopt"  # let them work for one child timeout, then cancel the rest


class JournalSettings(_Section):
    # SQLite file; relative to this config file's folder unless absolute. Put it on a volume.
    path: Path = Path("journal.sqlite")
    # Our orders found open at start-up: "cancel" them, or "adopt" them (let them work for one
    # child timeout, then cancel the rest).
    on_restart: OnRestart = OnRestart.CANCEL


class RiskSettings(_Section):
    # Value (portfolio quote) the bot may trade in any 24 hours; unset: no limit.
    max_turnover_per_day: Annotated[Decimal, Field(gt=0)] | None = None
    # A plan estimated, or a rebalance realised, above this cost vs arrival (bps, fees included).
    max_cost_bps: Annotated[Decimal, Field(gt=0)] = Decimal(50)
    # Rebalances in a row that gave up a leg (deadline, adverse move) or failed before halting;
    # fewer are retried from the real balances after the cooldown. Outages never count: the bot
    # waits them out.
    max_consecutive_failures: Annotated[int, Field(ge=1)] = 3
    # Longest wait between two polls while the exchange is unreachable, in maintenance, or an
    # order's fate is unconfirmed (the wait doubles from loop.poll_interval up to this).
    max_wait: Annotated[float, Field(gt=0)] = 600.0
    # A price moving more than this (%) between two polls is implausible: halt.
    max_price_move_pct: Annotated[Decimal, Field(gt=0)] = Decimal(10)
    # A managed balance changing more than this (%) without a trade by the bot: halt.
    max_balance_jump_pct: Annotated[Decimal, Field(gt=0)] = Decimal(1)


def _schedule(value: object) -> Schedule:
    if isinstance(value, Schedule):
        return value
    if not isinstance(value, str):
        raise ValueError("a schedule is text like 'every 7d' or 'daily 08:00'")
    return Schedule.parse(value)


class LoopSettings(_Section):
    poll_interval: Annotated[float, Field(gt=0)] = 60.0
    cooldown: Annotated[float, Field(gt=0)] = 300.0
    # A periodic rebalance to target, whatever the drift (UTC): "every 7d", "daily 08:00",
    # "weekly mon 08:00". Default: none (rebalance only when an asset leaves its band).
    schedule: Annotated[Schedule, PlainValidator(_schedule), PlainSerializer(str)] | None = None


class LogSettings(_Section):
    level: str = Field(default="info", pattern="^(debug|info|warning|error)$")
    format: str = Field(default="auto", pattern="^(auto|json|console)$")


class MetricsSettings(_Section):
    # Serve Prometheus metrics on http://host:port/metrics and the health check on /healthz.
    enabled: bool = False
    # 127.0.0.1: this machine only. In a container whose port is published: 0.0.0.0.
    host: str = Field(default="127.0.0.1", min_length=1)
    port: Annotated[int, Field(ge=1, le=65535)] = 9108


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")) or len(value.split("://", 1)[1]) == 0:
        raise ValueError("must be an http(s) URL")
    return value


class NotifySettings(_Section):
    # Telegram bot token: from the environment only (REBALANCE_NOTIFY__TELEGRAM_TOKEN).
    telegram_token: SecretStr | None = None
    # The chat the bot writes to (a number, or @channelname).
    telegram_chat_id: str | None = Field(default=None, min_length=1)
    # Base URL of the Telegram Bot API (messages go to <url>/bot<token>/sendMessage).
    telegram_api_url: Annotated[str, AfterValidator(_http_url)] = "https://api.telegram.org"
    # Generic webhook: each event is POSTed as JSON. Such URLs are often credentials themselves.
    webhook_url: SecretStr | None = None
    # At most this many messages in any minute; more are dropped (and logged).
    max_per_minute: Annotated[int, Field(ge=1, le=600)] = 20
    # Seconds one delivery may take before it is given up (trading never waits for it).
    timeout: Annotated[float, Field(gt=0, le=120)] = 10.0
    # The same kind of error this many times within 10 minutes sends one message.
    repeated_errors: Annotated[int, Field(ge=1)] = 3

    @field_validator("webhook_url")
    @classmethod
    def _webhook_is_http(cls, url: SecretStr | None) -> SecretStr | None:
        if url is not None:
            _http_url(url.get_secret_value())
        return url

    @model_validator(mode="after")
    def _telegram_complete(self) -> NotifySettings:
        if self.telegram_token is not None and self.telegram_chat_id is None:
            raise ValueError(
                "telegram_chat_id is required when REBALANCE_NOTIFY__TELEGRAM_TOKEN is set"
            )
        if self.telegram_chat_id is not None and self.telegram_token is None:
            raise ValueError(
                "telegram_chat_id is set but the bot token is missing: set"
                " REBALANCE_NOTIFY__TELEGRAM_TOKEN in the environment"
            )
        return self


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    exchange: ExchangeSettings = ExchangeSettings()
    portfolio: PortfolioSettings
    bands: BandsSettings = BandsSettings()
    rebalance: RebalanceSettings = RebalanceSettings()
    execution: ExecutionSettings = ExecutionSettings()
    sim: SimSettings = SimSettings()
    paper: PaperSettings = PaperSettings()
    journal: JournalSettings = JournalSettings()
    risk: RiskSettings = RiskSettings()
    loop: LoopSettings = LoopSettings()
    log: LogSettings = LogSettings()
    metrics: MetricsSettings = MetricsSettings()
    notify: NotifySettings = NotifySettings()
    # The folder of the config file: relative paths in it are resolved from there.
    base_dir: Path = Field(default=Path("."), exclude=True)

    def resolve(self, path: Path) -> Path:
        return path if path.is_absolute() else self.base_dir / path

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's values arrive as init data; the environment overrides them.
        return env_settings, init_settings

    @model_validator(mode="after")
    def _bands_fit_portfolio(self) -> Settings:
        problems = []
        managed = set(self.portfolio.targets) | {self.portfolio.quote}
        for asset in self.bands.overrides:
            if asset not in managed:
                problems.append(f"bands.overrides.{asset}: {asset} is not in portfolio.targets")
        quote = self.portfolio.quote
        quote_band = self.bands.overrides.get(quote, self.bands)
        if quote not in self.portfolio.targets and quote_band.kind is BandKind.RELATIVE:
            problems.append(
                f"bands: {quote} has no target weight, so a relative band around it is empty;"
                f" give {quote} a weight in portfolio.targets or an absolute band in"
                f" [bands.overrides.{quote}]"
            )
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def bands_model(self) -> Bands:
        return Bands(
            self.bands.to_band(), {a: b.to_band() for a, b in self.bands.overrides.items()}
        )

    def portfolio_spec(self) -> PortfolioSpec:
        """The portfolio the user asks for, as the domain's value."""
        p = self.portfolio
        return PortfolioSpec(p.quote, dict(p.targets), self.bands_model(), p.quote_reserve)


def load_settings(path: Path | None) -> Settings:
    """Read, merge and validate the configuration, or raise ConfigError listing every problem."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            with path.open("rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError([f"config file not found: {path}"]) from None
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError([f"{path}: {exc}"]) from None
    problems = _secrets_in_file(data)
    exchange = data.get("exchange")
    if isinstance(exchange, dict):
        for key in [k for k in exchange if k.removesuffix("_file") in SECRET_FIELDS]:
            del exchange[key]
    # A whole mapping given in the environment replaces the file's, rather than merging into it.
    portfolio = data.get("portfolio")
    if f"{ENV_PREFIX}PORTFOLIO__TARGETS" in os.environ and isinstance(portfolio, dict):
        portfolio.pop("targets", None)
    if path is not None:
        data["base_dir"] = path.resolve().parent
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        problems.extend(format_validation_error(exc))
    if problems:
        raise ConfigError(problems)
    return settings


def sim_server_credentials(default_key: str, default_secret: str) -> tuple[str, str]:
    """The key and secret `rebalance-bot sim-server` accepts: REBALANCE_EXCHANGE__API_KEY and
    REBALANCE_EXCHANGE__SECRET when set, so that `run` against the server signs with the same
    variables it would use on Binance; else the given defaults (the server's local test keys)."""
    key = os.environ.get(f"{ENV_PREFIX}EXCHANGE__API_KEY") or default_key
    secret = os.environ.get(f"{ENV_PREFIX}EXCHANGE__SECRET") or default_secret
    return key, secret


def _secrets_in_file(data: dict[str, Any]) -> list[str]:
    problems = []
    notify = data.get("notify")
    if isinstance(notify, dict):
        for key in ("telegram_token", "webhook_url"):
            if key in notify:
                notify.pop(key)
                problems.append(
                    f"notify.{key}: secrets are never read from the config file; set"
                    f" {ENV_PREFIX}NOTIFY__{key.upper()} in the environment"
                )
    exchange = data.get("exchange")
    if not isinstance(exchange, dict):
        return problems
    return problems + [
        f"exchange.{key}: credentials are never read from the config file; set"
        f" {ENV_PREFIX}EXCHANGE__{key.removesuffix('_file').upper()} or"
        f" {ENV_PREFIX}EXCHANGE__{key.removesuffix('_file').upper()}_FILE in the environment"
        for key in sorted(exchange)
        if key.removesuffix("_file") in SECRET_FIELDS
    ]


def format_validation_error(exc: ValidationError) -> list[str]:
    """One line per problem: `field.path: message (got value)`; secrets are never echoed."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"] if p != "[key]")
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown option (see config/example.toml for the options)"
        value = err.get("input")
        secret = any(
            str(p) in (*SECRET_FIELDS, "telegram_token", "webhook_url") for p in err["loc"]
        )
        shown = "" if secret or isinstance(value, dict | list) else f" (got {value!r})"
        if err["type"] == "missing":
            shown = ""
        # A check over several fields names them itself, one problem per line.
        lines.extend(msg.split("\n") if not loc else [f"{loc}: {msg}{shown}"])
    return lines
