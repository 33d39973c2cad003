"""The configuration model: one frozen section per table of the TOML file.

Every number is `Between` two stated bounds (config/example.toml states each range), every asset
code is ASCII upper case, and no model ever shows an input in its own error text
(`hide_input_in_errors`): the loader decides what a message may show.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bot.domain.cashflow import RebalanceMode
from bot.domain.glide import GlideLimits
from bot.domain.planner import PlannerPolicy, RebalanceTo
from bot.domain.portfolio import Band, BandKind, Bands, PortfolioSpec
from bot.domain.slicing import ExecutionPolicy, Style
from bot.errors import ConfigError
from bot.settings.derivatives import DerivativesSettings, derivatives_problems
from bot.settings.fields import (
    ENV_PREFIX,
    SECRET_FIELDS,
    WEIGHT_TOLERANCE,
    Asset,
    Between,
    CcxtOptions,
    ChatId,
    ExchangeId,
    FeeRate,
    FilePath,
    Flag,
    Fraction,
    Host,
    HttpUrl,
    ScheduleText,
    check_http_url,
    read_secret_file,
    weights_total,
)
from bot.settings.surface import ApiSettings, TelegramSettings

# Sizes in money: up to a thousand trillion units of the quote.
MAX_MONEY = "1e15"
Money = Annotated[Decimal, Between(0, MAX_MONEY, low_open=True)]
Bps = Annotated[Decimal, Between(0, 10_000, low_open=True, unit="bps")]
Pct = Annotated[Decimal, Between(0, 1000, low_open=True, unit="%")]
Share = Annotated[Decimal, Between(0, 1, low_open=True)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class Mode(StrEnum):
    SIM = "sim"  # the built-in simulated exchange (synthetic market, simulated fills)
    PAPER = "paper"  # dry run: real public market data, simulated fills
    TESTNET = "testnet"  # the exchange's sandbox, test money
    DEMO = "demo"  # the exchange's demo trading (Binance, Bybit, Bitget; OKX's is its testnet)
    LIVE = "live"  # real money


class FeeSettings(_Section):
    # Fractions of the traded value: 0.001 = 10 bps (a negative maker fee is a rebate).
    maker: FeeRate
    taker: FeeRate


class ExchangeSettings(_Section):
    id: ExchangeId = "binance"
    mode: Mode = Mode.SIM
    # Requests per second the gateway allows itself; default: from ccxt's `rateLimit`.
    requests_per_second: Annotated[float, Between("0.01", 10_000, unit="per second")] | None = None
    # Tries per call on transient errors (network, timeouts, 429, 5xx), with exponential backoff.
    retries: Annotated[int, Between(1, 20)] = 5
    # Seconds of ccxt's HTTP timeout.
    timeout: Annotated[float, Between("0.1", 600, unit="seconds")] = 10.0
    # Extra ccxt options, merged over the bot's own (see the README).
    options: CcxtOptions = Field(default_factory=dict)
    # Trade live on an exchange the bot has no verified profile for (see the README's table):
    # refused unless set, and then the bot says at start-up which guarantees it cannot give.
    allow_unverified: Flag = False
    # The fee rates you pay, for markets whose rates neither ccxt nor the account reports (a plan
    # that would trade on such a market is refused otherwise). Default: none.
    fees: FeeSettings | None = None
    # Send every API call to this base URL instead of the exchange's (a proxy, a self-hosted
    # gateway, or the local simulated exchange: rebalance-bot sim-server). Binance only.
    api_url: HttpUrl | None = None
    # Credentials: from the environment only (the loader refuses them in a file).
    api_key: SecretStr | None = None
    secret: SecretStr | None = None
    password: SecretStr | None = None
    # ... or from files the environment names (Docker secrets), read once and checked here.
    api_key_file: FilePath | None = None
    secret_file: FilePath | None = None
    password_file: FilePath | None = None

    @field_validator("api_key", "secret", "password")
    @classmethod
    def _credential_text(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            text = value.get_secret_value()
            if not text.strip() or "\x00" in text or len(text) > 64 * 1024:
                raise ValueError("must be the credential's text (not empty, at most 64 KiB)")
        return value

    @field_validator("api_key_file", "secret_file", "password_file")
    @classmethod
    def _readable(cls, path: Path | None) -> Path | None:
        if path is not None:
            read_secret_file(path)
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
        return SecretStr(read_secret_file(path)) if path else None


class BandSettings(_Section):
    kind: BandKind = BandKind.ABSOLUTE
    width: Fraction = Decimal("0.05")

    def to_band(self) -> Band:
        return Band(self.kind, self.width)


class BandsSettings(BandSettings):
    overrides: dict[Asset, BandSettings] = Field(default_factory=dict, max_length=1000)


class PortfolioSettings(_Section):
    quote: Asset
    # The target weights: here, or from exactly one other source (README "Targets that change").
    # With `targets_file` the loader reads the file into `targets`; with `targets_url` they are
    # fetched when the bot runs (None until then).
    targets: dict[Asset, Annotated[Decimal, Between(0, 1, low_open=True)]] | None = Field(
        default=None, min_length=1, max_length=1000
    )
    quote_reserve: Annotated[Decimal, Between(0, MAX_MONEY)] = Decimal(0)
    # A TOML or JSON file holding `targets`, relative to this config file's folder; watched.
    targets_file: FilePath | None = None
    # A URL answering JSON `{"targets": {...}}`, polled every `targets_poll_interval` seconds.
    targets_url: HttpUrl | None = None
    # Sent as `Authorization: Bearer ...` to targets_url: from the environment only.
    targets_token: SecretStr | None = None
    targets_poll_interval: Annotated[float, Between(1, 86_400, unit="seconds")] = 300.0
    targets_timeout: Annotated[float, Between("0.1", 120, unit="seconds")] = 10.0

    @model_validator(mode="after")
    def _one_source(self) -> PortfolioSettings:
        if self.targets_file is not None and self.targets_url is not None:
            raise ValueError(
                "portfolio: set one source of targets (targets, targets_file or targets_url),"
                " not targets_file and targets_url"
            )
        if self.targets is None and self.targets_url is None and self.targets_file is None:
            raise ValueError("portfolio.targets: required (or targets_file, or targets_url)")
        if self.targets is not None and self.targets_url is not None:
            raise ValueError(
                "portfolio: set one source of targets (targets, targets_file or targets_url),"
                " not targets and targets_url"
            )
        return self

    @property
    def targets_source(self) -> str:
        """Where the targets come from: "file", "url" or "config"."""
        if self.targets_file is not None:
            return "file"
        return "url" if self.targets_url is not None else "config"

    @field_validator("targets")
    @classmethod
    def _weights_sum_to_one(
        cls, targets: dict[str, Decimal] | None, info: ValidationInfo
    ) -> dict[str, Decimal] | None:
        if targets is None:
            return None
        total = weights_total(targets)
        if abs(total - 1) > WEIGHT_TOLERANCE:
            quote = info.data.get("quote", "the quote currency")
            within = str(WEIGHT_TOLERANCE).lower()
            raise ValueError(
                f"target weights must sum to 1 (within {within}), got {total}"
                f" (list {quote} with a weight to hold cash)"
            )
        return targets


class RebalanceSettings(_Section):
    to: RebalanceTo = RebalanceTo.TARGET
    direct_pairs: Flag = True
    mode: RebalanceMode = RebalanceMode.FULL  # full | buy-only | sell-only (bot/domain/cashflow)
    # Glide paths: per asset per day, at most this share of the portfolio's value / of its
    # market's 24 h quote volume is traded toward the targets (None: that cap is off).
    glide_max_share_per_day: Share | None = None
    glide_max_volume_share: Share | None = None

    def policy(self) -> PlannerPolicy:
        return PlannerPolicy(rebalance_to=self.to, direct_pairs=self.direct_pairs, mode=self.mode)

    def glide(self) -> GlideLimits | None:
        limits = GlideLimits(self.glide_max_share_per_day, self.glide_max_volume_share)
        return limits if limits.active else None


class ExecutionSettings(_Section):
    style: Style = Style.SCHEDULE  # what the execution benchmark supports (README)
    participation: Share = Decimal("0.2")
    band_bps: Annotated[Decimal, Between(0, 5000, low_open=True, unit="bps")] = Decimal(10)
    max_order_notional: Money | None = None
    child_timeout: Annotated[float, Between("0.01", 3600, unit="seconds")] = 10.0
    passive_timeout: Annotated[float, Between("0.01", 3600, unit="seconds")] = 20.0
    max_spread_bps: Bps = Decimal(100)
    max_deviation_bps: Bps = Decimal(150)
    deviation_timeout: Annotated[float, Between("0.01", 604_800, unit="seconds")] = 300.0
    leg_deadline: Annotated[float, Between("0.01", 604_800, unit="seconds")] = 1800.0
    take_after: Share = Decimal("0.8")
    # style "schedule": the seconds its trajectory spans (at most take_after of leg_deadline) and
    # its risk aversion (per bps; 0 trades in a straight line, higher front-loads when volatile)
    horizon: Annotated[float, Between(1, 604_800, unit="seconds")] = 900.0
    risk_aversion: Annotated[float, Between(0, 1000)] = 0.0001
    # style "schedule": seconds the leg may lag its trajectory before it takes, and what a resting
    # child holds: the trajectory's progress over that many seconds ahead (0: take any lag at once)
    patience: Annotated[float, Between(0, 86_400, unit="seconds")] = 60.0
    # A leg the deviation guard holds goes on from the new level once the mid has held within a
    # third of max_deviation_bps for this long, once per leg (seconds; 0: never: given up instead)
    jump_settle: Annotated[float, Between(0, 86_400, unit="seconds")] = 60.0
    book_depth: Annotated[int, Between(5, 5000)] = 50
    # A leg's book unchanged (same levels, stamp, update id) for this long (seconds), or for five
    # children, while its children go unfilled in it is frozen: the leg stops placing, given up.
    frozen_book_after: Annotated[float, Between("0.01", 86_400, unit="seconds")] = 60.0

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
            horizon=self.horizon,
            risk_aversion=self.risk_aversion,
            patience=self.patience,
            jump_settle=self.jump_settle,
        )


class SimTime(StrEnum):
    VIRTUAL = "virtual"  # simulated time runs as fast as the CPU allows
    REAL = "real"  # wall-clock time


class SimSettings(_Section):
    # Scenario file for mode "sim", relative to this config file's folder unless absolute.
    scenario: FilePath = Path("scenarios/demo.toml")
    # virtual: simulated time runs as fast as the CPU allows | real: wall-clock time.
    time: SimTime = SimTime.VIRTUAL


class PaperSettings(_Section):
    # Starting balances of the paper (dry-run) account; later runs continue from its saved state.
    balances: dict[Asset, Annotated[Decimal, Between(0, MAX_MONEY)]] = Field(
        default_factory=dict, max_length=1000
    )


class OnRestart(StrEnum):
    CANCEL = "cancel"  # cancel our orders found open at start-up
    ADOPT = "adopt"  # let them work for one child timeout, then cancel the rest


class JournalSettings(_Section):
    # SQLite file; relative to this config file's folder unless absolute. Put it on a volume.
    path: FilePath = Path("journal.sqlite")
    # Our orders found open at start-up: "cancel" them, or "adopt" them (let them work for one
    # child timeout, then cancel the rest).
    on_restart: OnRestart = OnRestart.CANCEL


class RiskSettings(_Section):
    # Value (portfolio quote) the bot may trade in any 24 hours; unset: no limit.
    max_turnover_per_day: Money | None = None
    # A plan estimated, or a rebalance realised, above this cost vs arrival (bps, fees included).
    max_cost_bps: Bps = Decimal(50)
    # Rebalances in a row that gave up a leg (deadline, adverse move) or failed before halting;
    # fewer are retried from the real balances after the cooldown. Outages never count: the bot
    # waits them out.
    max_consecutive_failures: Annotated[int, Between(1, 1000)] = 3
    # Longest wait between two polls while the exchange is unreachable, in maintenance, or an
    # order's fate is unconfirmed (the wait doubles from loop.poll_interval up to this).
    max_wait: Annotated[float, Between("0.01", 86_400, unit="seconds")] = 600.0
    # A price moving more than this (%) between two polls is implausible: halt.
    max_price_move_pct: Pct = Decimal(10)
    # A managed balance changing more than this (%) that neither a trade by the bot nor a
    # reported deposit or withdrawal explains: halt.
    max_balance_jump_pct: Pct = Decimal(1)
    # Price checks before any plan (README "Price checks"); an asset failing them waits.
    # Markets that imply each other (X/USDT vs X/BTC x BTC/USDT), and two looks in a row, agree
    # within this (%); a look that does not (the first after a start never does) is looked at
    # again `price_confirm_after` seconds later. A spread wider than `price_max_spread_bps`, a
    # stamp older than `price_max_age` s, or no change for `price_max_unchanged` s: no price.
    price_tolerance_pct: Annotated[Decimal, Between(0, 100, low_open=True, unit="%")] = Decimal(5)
    price_confirm_after: Annotated[float, Between("0.01", 3600, unit="seconds")] = 5.0
    price_max_spread_bps: Bps = Decimal(500)
    price_max_age: Annotated[float, Between("0.01", 86_400, unit="seconds")] = 300.0
    price_max_unchanged: Annotated[float, Between("0.01", 86_400, unit="seconds")] = 900.0


class LoopSettings(_Section):
    poll_interval: Annotated[float, Between("0.01", 86_400, unit="seconds")] = 60.0
    cooldown: Annotated[float, Between("0.01", 2_592_000, unit="seconds")] = 300.0
    # A periodic rebalance to target, whatever the drift (UTC): "every 7d", "daily 08:00",
    # "weekly mon 08:00". Default: none (rebalance only when an asset leaves its band).
    schedule: Annotated[ScheduleText, PlainSerializer(str)] | None = None


class LogSettings(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class MetricsSettings(_Section):
    # Serve Prometheus metrics on http://host:port/metrics and the health check on /healthz.
    enabled: Flag = False
    # 127.0.0.1: this machine only. In a container whose port is published: 0.0.0.0.
    host: Host = "127.0.0.1"
    port: Annotated[int, Between(1, 65_535)] = 9108


class NotifySettings(_Section):
    # Telegram bot token: from the environment only (REBALANCE_NOTIFY__TELEGRAM_TOKEN).
    telegram_token: SecretStr | None = None
    # The chat the bot writes to (a number, or @channelname).
    telegram_chat_id: ChatId | None = None
    # Base URL of the Telegram Bot API (messages go to <url>/bot<token>/sendMessage).
    telegram_api_url: HttpUrl = "https://api.telegram.org"
    # Generic webhook: each event is POSTed as JSON. Such URLs are often credentials themselves.
    webhook_url: SecretStr | None = None
    # At most this many messages in any minute; more are dropped (and logged).
    max_per_minute: Annotated[int, Between(1, 600)] = 20
    # Seconds one delivery may take before it is given up (trading never waits for it).
    timeout: Annotated[float, Between("0.01", 120, unit="seconds")] = 10.0
    # The same kind of error this many times within 10 minutes sends one message.
    repeated_errors: Annotated[int, Between(1, 1000)] = 3

    @field_validator("telegram_token")
    @classmethod
    def _token_is_text(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None:
            text = token.get_secret_value()
            if not text or len(text) > 256 or not text.isascii() or not text.isprintable():
                raise ValueError("must be a bot token like 123456789:AA... (printable ASCII)")
        return token

    @field_validator("webhook_url")
    @classmethod
    def _webhook_is_http(cls, url: SecretStr | None) -> SecretStr | None:
        if url is not None:
            check_http_url(url.get_secret_value())
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


class Settings(BaseModel):
    """The whole configuration. Build it with `load_settings` (file + environment)."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

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
    api: ApiSettings = ApiSettings()
    telegram: TelegramSettings = TelegramSettings()
    derivatives: DerivativesSettings = DerivativesSettings()
    # The folder of the config file: relative paths in it are resolved from there.
    base_dir: Path = Field(default=Path("."), exclude=True)

    # The config file itself, which SIGHUP reads again (set by the loader).
    config_file: Path | None = Field(default=None, exclude=True)

    def resolve(self, path: Path) -> Path:
        return path if path.is_absolute() else self.base_dir / path

    @model_validator(mode="after")
    def _telegram_commands_have_a_bot(self) -> Settings:
        if self.telegram.commands and self.notify.telegram_token is None:
            raise ValueError(
                "telegram.commands needs the bot: set REBALANCE_NOTIFY__TELEGRAM_TOKEN in the"
                " environment and notify.telegram_chat_id"
            )
        return self

    @model_validator(mode="after")
    def _bands_fit_portfolio(self) -> Settings:
        problems = bands_problems(self.portfolio, self.bands)
        r = self.rebalance
        problems += derivatives_problems(
            self.derivatives,
            self.portfolio.targets,
            self.portfolio.quote,
            self.exchange.id,
            gliding=r.glide_max_share_per_day is not None or r.glide_max_volume_share is not None,
            one_way=None if r.mode is RebalanceMode.FULL else r.mode.value,
        )
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def bands_model(self) -> Bands:
        return Bands(
            self.bands.to_band(), {a: b.to_band() for a, b in self.bands.overrides.items()}
        )

    def portfolio_spec(self, *, unfetched: bool = False) -> PortfolioSpec:
        """The portfolio the user asks for, as the domain's value. `unfetched`: with no targets
        yet from `targets_url`, empty ones (for what only reads the journal)."""
        p = self.portfolio
        if p.targets is None:
            if unfetched:
                return PortfolioSpec(p.quote, {}, self.bands_model(), p.quote_reserve)
            raise ConfigError(
                ["portfolio.targets_url: no targets fetched yet (they are read when the bot runs)"]
            )
        return PortfolioSpec(p.quote, dict(p.targets), self.bands_model(), p.quote_reserve)


def bands_problems(portfolio: PortfolioSettings, bands: BandsSettings) -> list[str]:
    """What makes the bands unfit for these targets, one line each (none: they fit)."""
    if portfolio.targets is None:
        return []
    problems = []
    managed = set(portfolio.targets) | {portfolio.quote}
    for asset in bands.overrides:
        if asset not in managed:
            problems.append(f"bands.overrides.{asset}: {asset} is not in portfolio.targets")
    quote = portfolio.quote
    quote_band = bands.overrides.get(quote, bands)
    if quote not in portfolio.targets and quote_band.kind is BandKind.RELATIVE:
        problems.append(
            f"bands: {quote} has no target weight, so a relative band around it is empty;"
            f" give {quote} a weight in portfolio.targets or an absolute band in"
            f" [bands.overrides.{quote}]"
        )
    return problems
