"""Settings: the one place that reads configuration and environment.

- `models.py`: the configuration model, one frozen section per TOML table;
- `fields.py`: the kinds of values it holds (numbers in stated ranges, asset codes, hosts, URLs,
  paths), each refusing what the bot could not run with;
- `loader.py`: the TOML file and the `REBALANCE_*` environment merged and validated once, one
  line per problem, no secret ever in a message.
"""

from bot.settings.fields import (
    ENV_PREFIX,
    NOTIFY_SECRETS,
    SECRET_FIELDS,
    WEIGHT_TOLERANCE,
    Between,
)
from bot.settings.loader import (
    format_validation_error,
    load_settings,
    read_environment,
    sim_server_credentials,
)
from bot.settings.models import (
    BandSettings,
    BandsSettings,
    ExchangeSettings,
    ExecutionSettings,
    FeeSettings,
    JournalSettings,
    LogSettings,
    LoopSettings,
    MetricsSettings,
    Mode,
    NotifySettings,
    OnRestart,
    PaperSettings,
    PortfolioSettings,
    RebalanceSettings,
    RiskSettings,
    Settings,
    SimSettings,
    SimTime,
)

__all__ = [
    "ENV_PREFIX",
    "NOTIFY_SECRETS",
    "SECRET_FIELDS",
    "WEIGHT_TOLERANCE",
    "BandSettings",
    "BandsSettings",
    "Between",
    "ExchangeSettings",
    "ExecutionSettings",
    "FeeSettings",
    "JournalSettings",
    "LogSettings",
    "LoopSettings",
    "MetricsSettings",
    "Mode",
    "NotifySettings",
    "OnRestart",
    "PaperSettings",
    "PortfolioSettings",
    "RebalanceSettings",
    "RiskSettings",
    "Settings",
    "SimSettings",
    "SimTime",
    "format_validation_error",
    "load_settings",
    "read_environment",
    "sim_server_credentials",
]
