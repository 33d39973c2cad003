"""Loading: the TOML file, then the environment over it, validated once into `Settings`.

Sources, later wins: the TOML file given with `--config`, then environment variables prefixed
`REBALANCE_` with `__` between levels (`REBALANCE_LOOP__POLL_INTERVAL=30`). A variable naming a
table (`REBALANCE_PORTFOLIO__TARGETS`, `REBALANCE_EXCHANGE__FEES`, a whole section) holds JSON and
replaces the file's table; a deeper variable (`REBALANCE_PORTFOLIO__TARGETS__BTC=0.5`) changes one
entry. A `REBALANCE_` variable that names no option is refused, never ignored.

API credentials come only from the environment (`REBALANCE_EXCHANGE__API_KEY`) or from a file the
environment names (`REBALANCE_EXCHANGE__API_KEY_FILE=/run/secrets/api_key`, as Docker secrets are
mounted); a config file that contains one is refused, so a key never lands in a repository.

`load_settings` raises `ConfigError` with one line per problem, naming the field. A value is shown
only when it came from the config file and its name is not a credential's; a value from the
environment is never shown, whatever variable held it: the line names the variable instead.
"""

from __future__ import annotations

import os
import types
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from bot.errors import ConfigError
from bot.inputs import parse_json, read_toml
from bot.settings.fields import ENV_PREFIX, NOTIFY_SECRETS, SECRET_FIELDS, is_credential_name
from bot.settings.models import PortfolioSettings, Settings, bands_problems
from bot.settings.targets import read_targets_file

Loc = tuple[str, ...]
# Where each value from the environment came from: its path in the settings -> the variable.
Origins = dict[Loc, str]
_NOT_OPTIONS = frozenset({"base_dir", "config_file"})  # set by the loader, never by the user


def load_settings(path: Path | None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read, merge and validate the configuration, or raise ConfigError listing every problem."""
    env = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    if path is not None:
        # Floats as exact decimals: 1e-400 is refused as out of range, never read as 0.
        data = read_toml(
            path, lambda message: ConfigError([message]), what="config", parse_float=Decimal
        )
    problems = _secrets_in_file(data)
    for name in sorted(_NOT_OPTIONS & set(data)):
        del data[name]
        problems.append(f"{name}: unknown option (see config/example.toml for the options)")
    values, origins, env_problems = read_environment(env)
    problems += env_problems
    for loc, value in values:
        _put(data, loc, value)
    if path is not None:
        data["base_dir"] = path.resolve().parent
        data["config_file"] = path.resolve()
    problems += _targets_from_file(data)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        problems.extend(format_validation_error(exc, origins))
    if problems:
        raise ConfigError(_scrub(problems, env))
    return settings


def sim_server_credentials(default_key: str, default_secret: str) -> tuple[str, str]:
    """The key and secret `rebalance-bot sim-server` accepts: REBALANCE_EXCHANGE__API_KEY and
    REBALANCE_EXCHANGE__SECRET when set, so that `run` against the server signs with the same
    variables it would use on Binance; else the given defaults (the server's local test keys)."""
    key = os.environ.get(f"{ENV_PREFIX}EXCHANGE__API_KEY") or default_key
    secret = os.environ.get(f"{ENV_PREFIX}EXCHANGE__SECRET") or default_secret
    return key, secret


# ---- the environment --------------------------------------------------------------------------


def read_environment(
    environ: Mapping[str, str],
) -> tuple[list[tuple[Loc, Any]], Origins, list[str]]:
    """The `REBALANCE_*` variables as (path, value) pairs, shallow paths first, with the variable
    each path came from, and one line per variable that cannot be read. JSON in a variable that
    names a table is parsed here; no message repeats a variable's value."""
    values: list[tuple[Loc, Any]] = []
    origins: Origins = {}
    problems: list[str] = []
    for name in sorted(environ):
        if not name.upper().startswith(ENV_PREFIX):
            continue
        parts = name[len(ENV_PREFIX) :].split("__")
        if not all(parts) or parts[0].lower() in _NOT_OPTIONS:
            problems.append(
                f"{name}: not a configuration variable (REBALANCE_<SECTION>__<OPTION>, see"
                " config/example.toml)"
            )
            continue
        loc, is_table = _locate(parts)
        value: Any = environ[name]
        if is_table:
            try:
                value = parse_json(
                    value, name, lambda message: ValueError(message), parse_float=Decimal
                )
            except ValueError as exc:
                problems.append(str(exc))
                continue
            if not isinstance(value, dict):
                problems.append(f'{name}: expected a JSON object, like {{"BTC": 0.5}}')
                continue
        values.append((loc, value))
        origins[loc] = name
    values.sort(key=lambda item: len(item[0]))
    return values, origins, problems


def _locate(parts: list[str]) -> tuple[Loc, bool]:
    """The settings path a variable names, and whether it names a table. Section and option
    names are case-insensitive; keys inside a table (asset codes, ccxt options) keep their case."""
    node: Any = Settings
    loc: list[str] = []
    for part in parts:
        kind, inner = _shape(node)
        if kind == "model":
            key = part.lower()
            field = inner.model_fields.get(key)
            node = field.annotation if field is not None else None
        elif kind == "dict":
            key, node = part, inner
        else:
            key, node = part.lower(), None
        loc.append(key)
    return tuple(loc), _shape(node)[0] in ("model", "dict")


def _shape(annotation: Any) -> tuple[str, Any]:
    """("model", cls), ("dict", value annotation) or ("scalar", None)."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            annotation = next(a for a in get_args(annotation) if a is not type(None))
        else:
            break
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "model", annotation
    if get_origin(annotation) is dict:
        return "dict", get_args(annotation)[1]
    return "scalar", None


def _put(data: dict[str, Any], loc: Loc, value: Any) -> None:
    node = data
    for key in loc[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[loc[-1]] = value


# ---- targets from elsewhere -------------------------------------------------------------------


def _targets_from_file(data: dict[str, Any]) -> list[str]:
    """Exactly one source of targets; with `targets_file`, its table read into `targets`."""
    portfolio = data.get("portfolio")
    if not isinstance(portfolio, dict):
        return []
    if "targets" in portfolio and "targets_file" in portfolio:
        return [
            "portfolio: set one source of targets (targets, targets_file or targets_url),"
            " not targets and targets_file"
        ]
    if "targets_url" in portfolio:
        return []  # the model says what else is set
    name = portfolio.get("targets_file")
    if not isinstance(name, str) or not name.strip() or "\x00" in name:
        return []  # none, or the model says what is wrong with it
    file = Path(name)
    if not file.is_absolute():
        file = Path(data.get("base_dir", ".")) / file
    try:
        portfolio["targets"], _ = read_targets_file(file)
    except ConfigError as exc:
        return [f"portfolio.targets_file: {line}" for line in exc.problems]
    return []


def with_targets(settings: Settings, targets: dict[str, Any], where: str) -> Settings:
    """`settings` with these targets in force, through the validators of the config's own (asset
    codes, weights summing to 1, bands fitting them); else ConfigError with one line: `where`,
    then each problem. The source settings (file, url, token) stay as they were."""
    p = settings.portfolio
    data = {"quote": p.quote, "targets": targets, "quote_reserve": p.quote_reserve}
    try:
        portfolio = PortfolioSettings.model_validate(data)
    except ValidationError as exc:
        lines = [f"portfolio.{line}" for line in format_validation_error(exc)]
        raise ConfigError([f"{where}: " + "; ".join(lines)]) from None
    problems = bands_problems(portfolio, settings.bands)
    if problems:
        raise ConfigError([f"{where}: " + "; ".join(problems)])
    new = p.model_copy(update={"targets": portfolio.targets})
    return settings.model_copy(update={"portfolio": new})


# ---- secrets in the file ----------------------------------------------------------------------


def _secrets_in_file(data: dict[str, Any]) -> list[str]:
    """Credentials in the config file: removed, and one line each naming the variable to use."""
    problems = []
    portfolio = data.get("portfolio")
    if isinstance(portfolio, dict) and "targets_token" in portfolio:
        portfolio.pop("targets_token")
        problems.append(
            "portfolio.targets_token: secrets are never read from the config file; set"
            f" {ENV_PREFIX}PORTFOLIO__TARGETS_TOKEN in the environment"
        )
    notify = data.get("notify")
    if isinstance(notify, dict):
        for key in NOTIFY_SECRETS:
            if key in notify:
                notify.pop(key)
                problems.append(
                    f"notify.{key}: secrets are never read from the config file; set"
                    f" {ENV_PREFIX}NOTIFY__{key.upper()} in the environment"
                )
    api = data.get("api")
    if isinstance(api, dict):
        for key in ("token", "token_file"):
            if key in api:
                api.pop(key)
                problems.append(
                    f"api.{key}: secrets are never read from the config file; set"
                    f" {ENV_PREFIX}API__TOKEN or {ENV_PREFIX}API__TOKEN_FILE in the environment"
                )
    exchange = data.get("exchange")
    if not isinstance(exchange, dict):
        return problems
    for key in sorted(k for k in exchange if k.removesuffix("_file") in SECRET_FIELDS):
        del exchange[key]
        name = key.removesuffix("_file").upper()
        problems.append(
            f"exchange.{key}: credentials are never read from the config file; set"
            f" {ENV_PREFIX}EXCHANGE__{name} or {ENV_PREFIX}EXCHANGE__{name}_FILE in the"
            " environment"
        )
    return problems


# ---- messages ---------------------------------------------------------------------------------


def format_validation_error(exc: ValidationError, origins: Origins | None = None) -> list[str]:
    """One line per problem: `field.path: message (got value)` for a value from the file,
    `field.path: message (from REBALANCE_VARIABLE)` for one from the environment; a credential,
    or anything under a credential's name, is never shown."""
    lines = []
    for err in exc.errors():
        loc = tuple(str(p) for p in err["loc"] if p != "[key]")
        where = _where(loc, origins or {})
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown option (see config/example.toml for the options)"
        shown = _shown(err, loc, origins or {})
        for line in msg.split("\n"):
            # A check over several fields names each field itself, one problem per line.
            named = not where or line.startswith((f"{where}.", f"{where}:"))
            lines.append(line if named else f"{where}: {line}{shown}")
    return lines


def _origin(loc: Loc, origins: Origins, unknown: bool) -> str | None:
    """The variable a value at `loc` came from: the one naming `loc` or a table above it; for an
    unknown option, also one naming something below it (REBALANCE_LOOPS__POLL_INTERVAL)."""
    for end in range(len(loc), 0, -1):
        if loc[:end] in origins:
            return origins[loc[:end]]
    below = [name for path, name in origins.items() if unknown and path[: len(loc)] == loc]
    return ", ".join(sorted(below)) or None


def _where(loc: Loc, origins: Origins) -> str:
    """`loc` as a message names it. A key in another alphabet is escaped (a Cyrillic 'ВТС' never
    reads as BTC); a key that came inside a variable's JSON is shown only when short, as an asset
    code or an option name is: a credential pasted there as a key stays out of the message."""
    shown = []
    for i, part in enumerate(loc):
        from_env = any(path == loc[:j] for path in origins for j in range(1, i + 1))
        if from_env and (len(part) > 12 or not part.isascii() or not part.isprintable()):
            shown.append("<key>")
        else:
            shown.append(part if part.isascii() and part.isprintable() else ascii(part))
    return ".".join(shown)


def _shown(err: Any, loc: Loc, origins: Origins) -> str:
    origin = _origin(loc, origins, err["type"] == "extra_forbidden")
    if origin is not None:
        return f" (from {origin})"
    if err["type"] in ("missing", "extra_forbidden") or any(map(is_credential_name, loc)):
        return ""
    value = err.get("input")
    if not isinstance(value, str | int | float | Decimal):
        return ""
    text = ascii(value)  # escaped outside ASCII: a look-alike shows what it is
    return f" (got {text if len(text) <= 80 else text[:77] + '...'})"


def _scrub(problems: list[str], environ: Mapping[str, str]) -> list[str]:
    """The last guard: a credential variable's value never reaches a message, even should a
    check above have let it through."""
    secrets = sorted(
        (
            value
            for name, value in environ.items()
            if name.upper().startswith(ENV_PREFIX)
            and is_credential_name(name)
            and len(value.strip()) >= 4
        ),
        key=len,
        reverse=True,
    )
    out = []
    for line in problems:
        for secret in secrets:
            line = line.replace(secret, "***").replace(secret.strip(), "***")
        out.append(line)
    return out
