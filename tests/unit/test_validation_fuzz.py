"""Fuzzing the two files a user hands the bot: configurations (TOML file + environment) and
snapshots (JSON). Whatever is drawn, the loader either accepts it or raises the bot's own error
with one line per problem; never another exception. What it accepts is what the bot can run
with: every number finite and inside the range its field states, every asset code ASCII upper
case, the weights summing to 1 within the tolerance; a value from a credential variable never
appears in a message or in `repr()`; an accepted snapshot is planned without a traceback.

Bounded and derandomized: the same few hundred examples on every run, in a few seconds.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import math
import re
import typing
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from bot.errors import BotError, ConfigError, SnapshotError
from bot.inputs import exact_number
from bot.runtime.planning import plan_from_snapshot
from bot.settings import WEIGHT_TOLERANCE, Between, Settings, load_settings
from bot.snapshot import MARKET_FIELDS, Snapshot, load_snapshot

FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

ENV_SECRET = "s3cr3t-ENV-VALUE-9f8e7d"  # only ever put in environment variables
ASSET = re.compile(r"[A-Z0-9]{1,20}")


class Raw(str):
    """Text written into the file as it is (a token no serializer would produce)."""


# ---- odd values ---------------------------------------------------------------------------------

ODD_FLOATS = st.one_of(
    st.sampled_from(
        [math.inf, -math.inf, math.nan, 1e308, -1e308, 5e-324, 0.0, -0.0, -1.0, 1e16, 1e24, 0.5]
    ),
    st.floats(),
)
ODD_INTS = st.one_of(
    st.sampled_from([0, -1, 1, 5, 65536, 2**63, 10**30, 10**400]), st.integers(-(10**6), 10**6)
)
LOOK_ALIKES = ["ВТС", "ЕТН", "BТC", "btc", "Btc", "USDT ", " BTC", "BTC\n", "B-T-C", "Ｂ", "ß", "İ"]
ODD_TEXT = st.one_of(
    st.sampled_from(
        [
            "inf",
            "nan",
            "-inf",
            "1e308",
            "1e999999",
            "١٢٣",
            "۱۲",
            "1_000",
            "0x10",
            "",
            " ",
            "true",
            "\x00",
            "a\x00b",
            "127.0.0.1",
            "0.0.0.0",
            "::1",
            "256.1.1.1",
            "a" * 300,
            "every 7d",
            "every 0m",
            "every 99999999999999999999d",
            "every ١d",
            "daily 25:00",
            "http://example.com",
            "ftp://x",
            "9" * 80,
            "0.5",
            "0.05",
            "-0.01",
            "BTC",
            *LOOK_ALIKES,
        ]
    ),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=12),
)
RAW_TOKENS = st.sampled_from(
    [
        Raw("1e999999"),
        Raw("-1e999999"),
        Raw("9" * 5000),
        Raw("1" + "0" * 400),
        Raw("0." + "0" * 400 + "1"),
        Raw("[" * 2000 + "]" * 2000),
        Raw("{a = " * 200 + "1" + "}" * 200),
    ]
)


def _flat(token: Raw) -> bool:
    return not token.startswith(("[", "{"))


SCALARS = st.one_of(ODD_FLOATS, ODD_INTS, st.booleans(), ODD_TEXT, RAW_TOKENS)
ODD_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["BTC", "btc", "ВТС", "x", "width", "kind"]), inner),
    ),
    max_leaves=6,
)


# ---- configurations -----------------------------------------------------------------------------

BASE: dict[str, Any] = {
    "exchange": {"mode": "sim", "fees": {"maker": 0.001, "taker": 0.001}},
    "portfolio": {"quote": "USDT", "targets": {"BTC": 0.5, "ETH": 0.3, "USDT": 0.2}},
    "bands": {"width": 0.05},
}


def option_paths(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    for name, field in model.model_fields.items():
        if name in ("base_dir", "config_file"):
            continue
        paths.append((*prefix, name))
        inner = _model_in(field.annotation)
        if inner is not None:
            paths.extend(option_paths(inner, (*prefix, name)))
    return paths


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


PATHS = [
    *option_paths(Settings),
    ("portfolio", "targets", "btc"),
    ("portfolio", "targets", "ВТС"),
    ("portfolio", "targets", "BTC"),
    ("portfolio", "targets", "SOL"),
    ("bands", "overrides", "ETH"),
    ("bands", "overrides", "ETH", "width"),
    ("paper", "balances", "USDT"),
    ("paper", "balances", "usdt"),
    ("exchange", "options", "recvWindow"),
    ("exchange", "options", "apiKey"),
    ("Loop",),
    ("loop", "poll_intervall"),
]


def stated_bounds(model: type[BaseModel]) -> set[Decimal]:
    found: set[Decimal] = set()
    for field in model.model_fields.values():
        for meta in [*field.metadata, *_metadata(field.annotation)]:
            if isinstance(meta, Between):
                found |= {meta.low, meta.high}
        inner = _model_in(field.annotation)
        if inner is not None:
            found |= stated_bounds(inner)
    return found


def _metadata(annotation: Any) -> list[Any]:
    found = list(getattr(annotation, "__metadata__", ()))
    for arg in typing.get_args(annotation):
        found += _metadata(arg)
    return found


# Each stated bound, and a hair inside and outside it: as a float, an int and text.
EDGES = sorted(
    {
        edge
        for bound in stated_bounds(Settings)
        for edge in (bound, bound - Decimal("0.001"), bound + Decimal("0.001"), bound * 2)
    }
)
EDGE_VALUES = st.sampled_from(EDGES).flatmap(
    lambda edge: st.sampled_from(
        [float(edge), str(edge)] + ([int(edge)] if edge == edge.to_integral_value() else [])
    )
)
MUTATIONS = st.lists(
    st.tuples(st.sampled_from(PATHS), st.one_of(EDGE_VALUES, ODD_VALUES)), max_size=3
)

CREDENTIAL_VARIABLES = [
    f"REBALANCE_EXCHANGE__{name}"
    for name in ("API_KEY", "SECRET", "PASSWORD", "API_KEY_FILE", "SECRET_FILE", "PASSWORD_FILE")
] + ["REBALANCE_NOTIFY__TELEGRAM_TOKEN", "REBALANCE_NOTIFY__WEBHOOK_URL"]
OTHER_VARIABLES = [
    "REBALANCE_LOOP__POLL_INTERVAL",
    "REBALANCE_EXCHANGE__TIMEOUT",
    "REBALANCE_PORTFOLIO__TARGETS",
    "REBALANCE_PORTFOLIO__TARGETS__BTC",
    "REBALANCE_EXCHANGE",
    "REBALANCE_METRICS__HOST",
    "REBALANCE_METRICS__PORT",
    "REBALANCE_NOTIFY__TELEGRAM_CHAT_ID",
    "REBALANCE_EXCHANGE__OPTIONS",
    "REBALANCE_LOOPS__POLL_INTERVAL",
]
ENV_VALUES = st.one_of(
    st.just(ENV_SECRET),
    st.sampled_from(
        [
            f'{{"secret": "{ENV_SECRET}"}}',
            f'{{"BTC": "{ENV_SECRET}"}}',
            f"https://hooks.example.com/{ENV_SECRET}",
            f"http://{ENV_SECRET}",
            f"{ENV_SECRET}\n",
            f"[{ENV_SECRET}",
        ]
    ),
    ODD_TEXT.filter(lambda text: "\x00" not in text),
)
ENVIRONMENTS = st.one_of(
    st.just({}),
    st.dictionaries(
        st.sampled_from(CREDENTIAL_VARIABLES + OTHER_VARIABLES),
        st.one_of(ENV_VALUES, EDGE_VALUES.map(str)),
        max_size=3,
    ),
)


def toml_value(value: Any) -> str:
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return (
            "nan"
            if value != value
            else "inf"
            if value == math.inf
            else "-inf"
            if value == -math.inf
            else repr(value)
        )
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    assert isinstance(value, dict)
    return (
        "{" + ", ".join(f"{toml_value(str(k))} = {toml_value(v)}" for k, v in value.items()) + "}"
    )


def to_toml(data: dict[str, Any]) -> str:
    return "\n".join(f"{toml_value(str(k))} = {toml_value(v)}" for k, v in data.items()) + "\n"


def put(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        child = data.get(key)
        if not isinstance(child, dict):
            child = data[key] = {}
        data = child
    data[path[-1]] = value


def numbers_in_range(model: BaseModel, where: str = "") -> list[str]:
    """Every number of an accepted configuration that is not finite or outside its field's
    stated range, by path."""
    bad = []
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        path = f"{where}{name}"
        if isinstance(value, BaseModel):
            bad += numbers_in_range(value, path + ".")
        elif isinstance(value, dict):
            bound = _bound(field.annotation, in_dict=True)
            for key, item in value.items():
                if isinstance(item, BaseModel):
                    bad += numbers_in_range(item, f"{path}.{key}.")
                elif bound is not None and not _inside(item, bound):
                    bad.append(f"{path}.{key}={item!r}")
        elif value is not None and not isinstance(value, bool):
            bound = _bound(field.annotation) or next(
                (m for m in field.metadata if isinstance(m, Between)), None
            )
            if isinstance(value, int | float | Decimal):
                assert bound is not None, f"{path}: a number without a stated range"
                if not _inside(value, bound):
                    bad.append(f"{path}={value!r}")
    return bad


def _bound(annotation: Any, in_dict: bool = False) -> Between | None:
    if in_dict and typing.get_origin(annotation) is dict:
        return _bound(typing.get_args(annotation)[1])
    for meta in getattr(annotation, "__metadata__", ()):
        if isinstance(meta, Between):
            return meta
    if typing.get_origin(annotation) is dict:
        return None
    for arg in typing.get_args(annotation):
        found = _bound(arg)
        if found is not None:
            return found
    return None


def _inside(value: Any, bound: Between) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return False
    if isinstance(value, float) and not math.isfinite(value):
        return False
    return bound.contains(Decimal(repr(value)) if isinstance(value, float) else Decimal(value))


def check_accepted(s: Settings) -> None:
    assert numbers_in_range(s) == []
    codes = [s.portfolio.quote, *s.portfolio.targets, *s.bands.overrides, *s.paper.balances]
    assert all(ASSET.fullmatch(code) for code in codes), codes
    assert abs(sum(s.portfolio.targets.values(), Decimal(0)) - 1) <= WEIGHT_TOLERANCE
    host = s.metrics.host
    try:
        ipaddress.ip_address(host)
    except ValueError:
        assert re.fullmatch(r"[A-Za-z0-9.-]{1,253}", host), host
    for flag in (s.exchange.allow_unverified, s.metrics.enabled, s.rebalance.direct_pairs):
        assert isinstance(flag, bool)
    assert ENV_SECRET not in repr(s) and ENV_SECRET not in str(s)


def check_refused(exc: ConfigError) -> None:
    assert exc.problems
    for line in exc.problems:
        assert line and "\n" not in line, line
        assert ENV_SECRET not in line, line
        assert "Traceback" not in line


@FUZZ
@given(mutations=MUTATIONS, environ=ENVIRONMENTS)
def test_configurations(tmp_path: Path, mutations: list[Any], environ: dict[str, str]) -> None:
    data = json.loads(json.dumps(BASE))
    for path, value in mutations:
        put(data, path, value)
    config = tmp_path / "fuzz.toml"
    config.write_text(to_toml(data), encoding="utf-8")
    try:
        accepted = load_settings(config, environ)
    except ConfigError as exc:
        check_refused(exc)
    else:
        check_accepted(accepted)


def numeric_fields(
    model: type[BaseModel], prefix: tuple[str, ...] = ()
) -> dict[tuple[str, ...], Between]:
    """Every numeric option's path and stated range."""
    found = {}
    for name, field in model.model_fields.items():
        inner = _model_in(field.annotation)
        bound = next(
            (m for m in [*field.metadata, *_metadata(field.annotation)] if isinstance(m, Between)),
            None,
        )
        if inner is not None and typing.get_origin(field.annotation) is not dict:
            found.update(numeric_fields(inner, (*prefix, name)))
        elif bound is not None:
            key = {"targets": "BTC", "balances": "USDT"}.get(name)
            found[(*prefix, name, key) if key else (*prefix, name)] = bound
    return found


NUMERIC = numeric_fields(Settings)


def annotation_at(path: tuple[str, ...]) -> Any:
    """The annotation of the option at `path` (None below a table's keys)."""
    model: Any = Settings
    annotation = None
    for name in path:
        fields = getattr(model, "model_fields", None)
        if fields is None or name not in fields:
            return None
        annotation = fields[name].annotation
        model = _model_in(annotation)
    return annotation


INTEGERS = {path for path in NUMERIC if annotation_at(path) is int}
NUMERIC[("bands", "overrides", "ETH", "width")] = NUMERIC[("bands", "width")]


def near(bound: Between, integer: bool = False) -> st.SearchStrategy[Any]:
    """The field's own bounds, a hair inside and outside them, and its middle: as floats, whole
    numbers and text (a whole-number field: whole numbers, as numbers and text)."""
    if integer:
        ints = {int(bound.low), int(bound.high), int(bound.low) - 1, int(bound.high) + 1}
        ints.add(int((bound.low + bound.high) / 2))
        return st.sampled_from(sorted(ints)).flatmap(lambda i: st.sampled_from([i, str(i)]))
    tiny = Decimal("1e-6")
    edges = {bound.low, bound.high, bound.low + tiny, bound.low - tiny, bound.high - tiny}
    edges |= {bound.high + tiny, (bound.low + bound.high) / 2}
    return st.sampled_from(sorted(edges)).flatmap(
        lambda edge: st.sampled_from(
            [float(edge), str(edge)] + ([int(edge)] if edge == edge.to_integral_value() else [])
        )
    )


EDGE_MUTATION = st.sampled_from(sorted(NUMERIC)).flatmap(
    lambda path: st.tuples(
        st.just(path),
        st.one_of(
            near(NUMERIC[path], integer=path in INTEGERS),
            st.one_of(ODD_FLOATS, st.booleans(), RAW_TOKENS.filter(_flat)),
        ),
    )
)


@FUZZ
@given(mutations=st.lists(EDGE_MUTATION, min_size=1, max_size=2))
def test_numbers_at_and_beyond_their_bounds(tmp_path: Path, mutations: list[Any]) -> None:
    """Most of these are accepted: each accepted number is checked against its stated range."""
    data = json.loads(json.dumps(BASE))
    for path, value in mutations:
        put(data, path, value)
    config = tmp_path / "edges.toml"
    config.write_text(to_toml(data), encoding="utf-8")
    try:
        accepted = load_settings(config, {})
    except ConfigError as exc:
        check_refused(exc)
        return
    check_accepted(accepted)
    written = dict(mutations)  # the last write of each path
    for path, value in written.items():
        assert not isinstance(value, bool), f"{path}: {value} accepted as a number"
        assert not isinstance(value, float) or math.isfinite(value), f"{path}: {value} accepted"
        assert not isinstance(value, Raw), f"{path}: {value[:20]} accepted"


@FUZZ
@given(
    data=st.one_of(
        st.binary(max_size=40),
        st.sampled_from(
            [
                b"\xff\xfe[portfolio]\n",
                '[portfolio]\nquote = "USDT"\n'.encode("utf-16"),
                b'[portfolio]\nquote = "\xc3\x28"\n',
                b"a = " + b"[" * 5000 + b"]" * 5000,
                b"a = " + b"{b = " * 3000 + b"1" + b"}" * 3000,
                b"[" + b".".join([b"a"] * 3000) + b"]\nx = 1\n",
                b"a = " + b"9" * 5000,
                b'\xef\xbb\xbf[portfolio]\nquote = "USDT"\ntargets = { USDT = 1 }\n',
            ]
        ),
    )
)
def test_config_files_of_any_bytes(tmp_path: Path, data: bytes) -> None:
    config = tmp_path / "bytes.toml"
    config.write_bytes(data)
    try:
        accepted = load_settings(config, {})
    except ConfigError as exc:
        check_refused(exc)
    else:
        check_accepted(accepted)


# ---- snapshots ----------------------------------------------------------------------------------

SNAPSHOT: dict[str, Any] = {
    "taken_at": "2026-11-25T12:00:00Z",
    "balances": {"BTC": "1.5", "ETH": "10", "USDT": "50000"},
    "markets": {
        "BTC/USDT": {"amount_step": "0.00001", "price_tick": "0.01", "taker_fee": "0.001"},
        "ETH/USDT": {"amount_step": "0.0001", "price_tick": "0.01", "taker_fee": "0.001"},
    },
    "books": {
        "BTC/USDT": {"bids": [["94999.99", "2"]], "asks": [["95000.01", "3"]]},
        "ETH/USDT": {"bids": [["3499.99", "20"]], "asks": [["3500.01", "30"]]},
    },
}
SNAPSHOT_PATHS: list[tuple[Any, ...]] = [
    ("balances", "BTC"),
    ("balances", "btc"),
    ("balances", "ВТС"),
    ("balances", "SOL"),
    ("taken_at",),
    ("extra",),
    ("markets", "BTC/USDT"),
    ("markets", "btc/usdt"),
    ("markets", "BTC/USDT", "lot"),
    *[("markets", "BTC/USDT", field) for field in MARKET_FIELDS],
    ("books", "BTC/USDT"),
    ("books", "BTC/USDT", "bids"),
    ("books", "BTC/USDT", "bids", 0),
    ("books", "BTC/USDT", "bids", 0, 0),
    ("books", "BTC/USDT", "asks", 0, 1),
    ("books", "BTC/USDT", "depth"),
    ("books", "SOL/USDT"),
]
NUMBER_TOKENS = st.sampled_from(
    [
        Raw("1e999999"),
        Raw("-1e999999"),
        Raw("1e-999999"),
        Raw("NaN"),
        Raw("Infinity"),
        Raw("-Infinity"),
        Raw("9" * 5000),
        Raw("0." + "0" * 40 + "1"),
        Raw("[" * 3000 + "]" * 3000),
        Raw('{"a": 1, "a": 2}'),
        "1e999999",
        "١٢٣",
        "۱.۵",
        "1_000",
        "9" * 5000,
        "1." + "1" * 40,
        "0x10",
        " 1 ",
        "-0",
        "1e-25",
        "1e23",
        "1e24",
    ]
)
SNAPSHOT_VALUES = st.one_of(st.sampled_from(["1", "0.5", 2, "100"]), NUMBER_TOKENS, ODD_VALUES)


def put_json(data: Any, path: tuple[Any, ...], value: Any) -> None:
    for key in path[:-1]:
        try:
            data = data[key]
        except (KeyError, IndexError, TypeError):
            return
    with contextlib.suppress(IndexError, TypeError):
        data[path[-1]] = value


def to_json(data: Any) -> str:
    raws: list[str] = []

    def default(value: Any) -> Any:  # pragma: no cover - every value is JSON already
        raise TypeError(value)

    def mark(value: Any) -> Any:
        if isinstance(value, Raw):
            raws.append(str(value))
            return f"\x00RAW{len(raws) - 1}\x00"
        if isinstance(value, dict):
            return {k: mark(v) for k, v in value.items()}
        if isinstance(value, list):
            return [mark(v) for v in value]
        return value

    text = json.dumps(mark(data), ensure_ascii=False, default=default)
    for i, raw in enumerate(raws):
        text = text.replace(json.dumps(f"\x00RAW{i}\x00"), raw)
    return text


def snapshot_numbers(snap: Any) -> list[Decimal]:
    values = list(snap.balances.values())
    for m in snap.markets.values():
        values += [m.amount_step, m.price_tick, m.min_amount, m.min_cost, m.maker_fee, m.taker_fee]
    for book in snap.books.values():
        values += [level.price for level in (*book.bids, *book.asks)]
        values += [level.amount for level in (*book.bids, *book.asks)]
    return values


def snapshot_or_error(path: Path) -> Snapshot | SnapshotError:
    """The snapshot, or the bot's own error; any other exception fails the test."""
    try:
        return load_snapshot(path)
    except SnapshotError as exc:
        return exc


SPEC = load_settings(Path("config/demo.toml"), {})


@FUZZ
@given(mutations=st.lists(st.tuples(st.sampled_from(SNAPSHOT_PATHS), SNAPSHOT_VALUES), max_size=4))
def test_snapshots(tmp_path: Path, mutations: list[Any]) -> None:
    data = json.loads(json.dumps(SNAPSHOT))
    for path, value in mutations:
        put_json(data, path, value)
    path = tmp_path / "snap.json"
    path.write_text(to_json(data), encoding="utf-8")
    snap = snapshot_or_error(path)
    if isinstance(snap, SnapshotError):
        assert "\n" not in str(snap) and str(snap).startswith(str(path))
        return
    assert all(ASSET.fullmatch(asset) for asset in snap.balances), list(snap.balances)
    for value in snapshot_numbers(snap):
        assert exact_number(value) == value  # finite, ASCII-written, bounded in size and digits
    with contextlib.suppress(BotError):  # a domain refusal (no price, ...) is the bot's own
        plan_from_snapshot(SPEC.portfolio_spec(), SPEC.rebalance.policy(), snap)


@FUZZ
@given(data=st.binary(max_size=40))
def test_snapshot_files_of_any_bytes(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "bytes.json"
    path.write_bytes(data)
    outcome = snapshot_or_error(path)
    assert not isinstance(outcome, SnapshotError) or "\n" not in str(outcome)
