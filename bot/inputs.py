"""What a user hands the bot, read defensively: files (configuration, scenario, snapshot) and the
numbers written in them.

A file is UTF-8 text (a leading byte-order mark is allowed) of bounded size; its TOML tables or
JSON objects and arrays nest at most `MAX_DEPTH` deep; a JSON object never repeats a key. A number
is finite, written with ASCII digits, of at most `MAX_DIGITS` significant digits, and 0 or between
1e-24 and 1e24 in size: nothing a user writes can overflow the arithmetic, take seconds to parse,
or read as something else than it shows (Arabic-Indic digits, `1_000`, `inf`).

Readers raise the error the caller gives (`fail(message)`), one line naming the file, so each
loader keeps its own error type (`ConfigError`, `ScenarioError`, `SnapshotError`); a bad number is
a `ValueError` whose message says what is wrong and never repeats the value.

This module imports nothing of the bot: the settings, the snapshot and the simulator all use it.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

MAX_DEPTH = 32  # tables in tables, arrays in arrays: far beyond any real file
MAX_DIGITS = 28  # significant digits: Decimal's default precision, so inputs stay exact
MAX_EXPONENT = 24  # a non-zero number is at least 1e-24 and below 1e24 in size
MAX_NUMBER_TEXT = 64  # characters of one number written as text
MiB = 1 << 20

Fail = Callable[[str], Exception]

NOT_FINITE = "not a finite number (inf, nan)"
OUT_OF_RANGE = (
    f"out of range: a number is 0 or between 1e-{MAX_EXPONENT} and 1e{MAX_EXPONENT} in size"
)
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,9})?")
_LIMIT = Decimal(10) ** MAX_EXPONENT
_SMALLEST = Decimal(10) ** -MAX_EXPONENT


def exact_number(value: object) -> Decimal:
    """`value` (an int, a float, a Decimal or text) as an exact, bounded Decimal.

    Raises ValueError saying what is wrong, never repeating the value (it may come from a variable
    that holds something private)."""
    return bounded(parse_number(value))


def parse_number(value: object) -> Decimal:
    """`value` as a finite Decimal, not yet bounded: refuses booleans, inf and nan, text other
    than ASCII decimal notation, and integers far beyond any bound (before converting them)."""
    if isinstance(value, bool):
        raise ValueError("a boolean (true/false), not a number")
    if isinstance(value, int):
        if value.bit_length() > 100:  # well past 1e24, refused before any conversion to text
            raise ValueError(OUT_OF_RANGE)
        return Decimal(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(NOT_FINITE)
        return Decimal(repr(value))
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(NOT_FINITE)
        return value
    if isinstance(value, str):
        text = value.strip()
        if len(text) > MAX_NUMBER_TEXT or not _NUMBER.fullmatch(text):
            raise ValueError(
                "not a number written with the digits 0-9 (like 12.5 or 1e-3),"
                f" at most {MAX_NUMBER_TEXT} characters"
            )
        return Decimal(text)
    raise ValueError("not a number")


def bounded(number: Decimal) -> Decimal:
    """`number` if it is 0 or between 1e-24 and 1e24 in size, with at most 28 significant
    digits; else ValueError."""
    if number:
        size = abs(number)
        if size >= _LIMIT or size < _SMALLEST:
            raise ValueError(OUT_OF_RANGE)
        if len(_strip_zeros(number.as_tuple().digits)) > MAX_DIGITS:
            raise ValueError(f"more than {MAX_DIGITS} significant digits")
    return number


def _strip_zeros(digits: tuple[int, ...]) -> tuple[int, ...]:
    end = len(digits)
    while end > 1 and digits[end - 1] == 0:
        end -= 1
    start = 0
    while start < end - 1 and digits[start] == 0:
        start += 1
    return digits[start:end]


def nesting_depth(value: object, limit: int = MAX_DEPTH) -> int:
    """How deep dicts and lists nest in `value` (a scalar: 0), counted without recursion; the
    count stops a little past `limit`."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack and deepest <= limit:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        deepest = max(deepest, depth + 1)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def read_text(path: Path, fail: Fail, *, what: str, max_bytes: int = MiB) -> str:
    """The file's text, or `fail` with one line: not found, unreadable, too big, not UTF-8."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(max_bytes + 1)
    except FileNotFoundError:
        raise fail(f"{what} file not found: {path}") from None
    except IsADirectoryError:
        raise fail(f"{path}: is a folder, not a {what} file") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "invalid path"
        raise fail(f"{path}: cannot read: {reason}") from None
    if len(raw) > max_bytes:
        raise fail(f"{path}: larger than {max_bytes // MiB} MiB, not a {what} file")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise fail(
            f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line});"
            " save the file as UTF-8"
        ) from None


def parse_toml(
    text: str, where: str, fail: Fail, *, parse_float: Callable[[str], Any] = float
) -> dict[str, Any]:
    """TOML text as a dict of bounded nesting, or `fail` with one line starting with `where`."""
    try:
        data = tomllib.loads(text, parse_float=parse_float)
    except tomllib.TOMLDecodeError as exc:
        raise fail(f"{where}: invalid TOML: {exc}") from None
    except RecursionError:
        raise fail(f"{where}: nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as exc:  # an integer of thousands of digits
        raise fail(f"{where}: a number too long to read ({_first_clause(exc)})") from None
    _check_depth(data, where, fail)
    return data


def read_toml(
    path: Path, fail: Fail, *, what: str, parse_float: Callable[[str], Any] = float
) -> dict[str, Any]:
    return parse_toml(read_text(path, fail, what=what), str(path), fail, parse_float=parse_float)


def parse_json(text: str, where: str, fail: Fail, **options: Any) -> Any:
    """JSON text (objects without repeated keys, bounded nesting), or `fail` with one line
    starting with `where`. `options` go to `json.loads` (parse_float, parse_int, ...)."""
    try:
        data = json.loads(text, object_pairs_hook=_no_repeated_keys, **options)
    except _RepeatedKey as exc:
        raise fail(f"{where}: the key {exc.key!r} appears twice in one object") from None
    except json.JSONDecodeError as exc:
        raise fail(
            f"{where}: invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except RecursionError:
        raise fail(f"{where}: nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as exc:  # an integer of thousands of digits
        raise fail(f"{where}: a number too long to read ({_first_clause(exc)})") from None
    _check_depth(data, where, fail)
    return data


def read_json(path: Path, fail: Fail, *, what: str, max_bytes: int, **options: Any) -> Any:
    return parse_json(
        read_text(path, fail, what=what, max_bytes=max_bytes), str(path), fail, **options
    )


class _RepeatedKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _RepeatedKey(key)
        out[key] = value
    return out


def _check_depth(data: object, where: str, fail: Fail) -> None:
    if nesting_depth(data) > MAX_DEPTH:
        raise fail(f"{where}: nested more than {MAX_DEPTH} levels deep")


def _first_clause(exc: ValueError) -> str:
    text = str(exc).split(";")[0].strip()
    return text if len(text) <= 120 else text[:117] + "..."
