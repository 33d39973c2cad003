"""A set of targets from outside the config file (a targets file, a URL), validated like the config.

A targets document is TOML or JSON holding one table, `targets`, of asset -> weight:

    targets = { BTC = 0.5, ETH = 0.3, USDT = 0.2 }          # TOML
    {"targets": {"BTC": "0.5", "ETH": "0.3", "USDT": "0.2"}}  # JSON (numbers or text)

`bot.settings.loader.with_targets` puts a new set into the settings through the same validators
as the config's own targets (asset codes, weights in (0, 1] summing to 1, the bands fitting them).
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.errors import ConfigError
from bot.inputs import parse_json, parse_toml, read_text

# A targets document is small: a thousand assets at most.
MAX_TARGETS_BYTES = 256 * 1024


def _fail(message: str) -> ConfigError:
    return ConfigError([message])


def parse_targets(text: str, where: str, *, json_text: bool) -> dict[str, Any]:
    """The `targets` table of a TOML or JSON document, unvalidated; one-line ConfigError else."""
    if json_text:
        data = parse_json(text, where, _fail, parse_float=Decimal)
    else:
        data = parse_toml(text, where, _fail, parse_float=Decimal)
    if not isinstance(data, dict) or not isinstance(data.get("targets"), dict):
        raise _fail(f'{where}: expected a "targets" table of asset -> weight')
    extra = sorted(str(k) for k in data if k != "targets")
    if extra:
        raise _fail(f"{where}: unknown key(s) {', '.join(map(ascii, extra))} (only targets)")
    targets: dict[str, Any] = data["targets"]
    return targets


def read_targets_file(path: Path) -> tuple[dict[str, Any], str]:
    """A targets file's table (JSON when the name ends in .json, else TOML) and its content's
    hash; one-line ConfigError when it cannot be read."""
    text = read_text(path, _fail, what="targets", max_bytes=MAX_TARGETS_BYTES)
    digest = hashlib.sha256(text.encode()).hexdigest()
    return parse_targets(text, str(path), json_text=path.suffix.lower() == ".json"), digest
