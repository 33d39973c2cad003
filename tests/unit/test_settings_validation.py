"""Issue #16, items 4 and 7: a secret never appears in a message, and a value that passes
validation is one the bot can run with. One test per kind of bad input, each naming the field.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from bot.errors import ConfigError, ScenarioError, SnapshotError
from bot.metrics import cannot_listen
from bot.settings import (
    ExchangeSettings,
    NotifySettings,
    Settings,
    load_settings,
)
from bot.sim.scenario import load_scenario
from bot.snapshot import load_snapshot

ROOT = Path(__file__).resolve().parents[2]
PAPER_CYRILLIC = "paper.balances.'\\u0412\\u0422\\u0421'"
SECRET = "Zq9-very-private-credential-77"
GOOD = """
[portfolio]
quote = "USDT"
targets = { BTC = 0.5, ETH = 0.3, USDT = 0.2 }
"""


PAPER = '[exchange]\nmode = "paper"\n'


def write(tmp_path: Path, text: str, name: str = "bot.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ or {})
    lines = info.value.problems
    assert lines and all(line and "\n" not in line for line in lines)
    return lines


def one_problem(tmp_path: Path, extra: str, environ: dict[str, str] | None = None) -> str:
    lines = problems(write(tmp_path, GOOD + extra), environ)
    assert len(lines) == 1, lines
    return lines[0]


# ---- item 4: secrets ----------------------------------------------------------------------------

CREDENTIAL_VARIABLES = [
    "REBALANCE_EXCHANGE__API_KEY_FILE",
    "REBALANCE_EXCHANGE__SECRET_FILE",
    "REBALANCE_EXCHANGE__PASSWORD_FILE",
]


@pytest.mark.parametrize("variable", CREDENTIAL_VARIABLES)
def test_a_secret_put_in_a_file_variable_is_not_shown(tmp_path: Path, variable: str) -> None:
    line = one_problem(tmp_path, "", {variable: SECRET})
    field = variable.removeprefix("REBALANCE_EXCHANGE__").lower()
    assert line == (
        f"exchange.{field}: cannot read the file: No such file or directory (from {variable})"
    )


@pytest.mark.parametrize(
    ("variable", "value", "field"),
    [
        ("REBALANCE_EXCHANGE__API_KEY", f"{SECRET}\x01", None),  # with the _FILE too: not both
        ("REBALANCE_EXCHANGE__SECRET", " ", "exchange.secret"),
        ("REBALANCE_EXCHANGE__PASSWORD", "", "exchange.password"),
        ("REBALANCE_NOTIFY__TELEGRAM_TOKEN", f"{SECRET}\t", "notify.telegram_token"),
        ("REBALANCE_NOTIFY__WEBHOOK_URL", SECRET, "notify.webhook_url"),
        ("REBALANCE_NOTIFY__WEBHOOK_URL", f"https://hooks.example.com/{SECRET} x", "notify."),
        ("REBALANCE_EXCHANGE", f'{{"api_key": "{SECRET}", "apikey": "{SECRET}"}}', "exchange."),
        ("REBALANCE_EXCHANGE__OPTIONS", f'{{"apiKey": "{SECRET}"}}', "exchange.options"),
        ("REBALANCE_EXCHANGE__FEES", f'{{"maker": "{SECRET}"', "REBALANCE_EXCHANGE__FEES"),
        ("REBALANCE_LOOP__POLL_INTERVAL", SECRET, "loop.poll_interval"),
        ("REBALANCE_METRICS__HOST", SECRET + "!", "metrics.host"),
        ("REBALANCE_PORTFOLIO__TARGETS", f'{{"BTC": "{SECRET}"}}', "portfolio.targets"),
    ],
)
def test_a_secret_in_any_variable_is_never_shown(
    tmp_path: Path, variable: str, value: str, field: str | None
) -> None:
    environ = {variable: value}
    if variable.endswith("API_KEY"):
        key_file = tmp_path / "key"
        key_file.write_text("another-key\n")
        environ["REBALANCE_EXCHANGE__API_KEY_FILE"] = str(key_file)
        field = "exchange.api_key"
    lines = problems(write(tmp_path, GOOD), environ)
    assert not any(SECRET in line for line in lines), lines
    assert any(line.startswith(field or "") for line in lines), lines
    assert all(variable in line or "not both" in line for line in lines), lines


def test_the_last_guard_blanks_a_credential_that_reached_a_message() -> None:
    """Should a check above ever echo a credential variable's value (or its stripped text), the
    scrub before printing blanks it; other variables' values are left as they are."""
    from bot.settings.loader import _scrub

    environ = {
        "REBALANCE_EXCHANGE__SECRET": f"  {SECRET}\n",
        "REBALANCE_NOTIFY__TELEGRAM_TOKEN": "tok-12345",
        "REBALANCE_LOOP__POLL_INTERVAL": "abcd",
    }
    lines = _scrub([f"x: got {SECRET}", "y: got tok-12345 and abcd"], environ)
    assert lines == ["x: got ***", "y: got *** and abcd"]


def test_pydantic_validation_errors_never_show_a_secret(tmp_path: Path) -> None:
    """The models' own ValidationError text (`input_value=...` by default) shows no input."""
    attempts = [
        lambda: ExchangeSettings(api_key_file=SECRET),  # type: ignore[arg-type]
        lambda: ExchangeSettings(retries=SECRET),  # type: ignore[arg-type]
        lambda: ExchangeSettings(api_key=SecretStr(""), secret=SECRET),  # type: ignore[arg-type]
        lambda: NotifySettings(webhook_url=SECRET),  # type: ignore[arg-type]
        lambda: NotifySettings(telegram_token=SECRET + "\x02", telegram_chat_id="1"),  # type: ignore[arg-type]
        lambda: Settings(portfolio={"quote": SECRET, "targets": {"BTC": SECRET}}),  # type: ignore[arg-type]
    ]
    for attempt in attempts:
        with pytest.raises(ValidationError) as info:
            attempt()
        assert SECRET not in str(info.value) and SECRET not in repr(info.value)


def test_repr_of_settings_shows_no_credential(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "-file\n")
    environ = {
        "REBALANCE_EXCHANGE__API_KEY": SECRET + "-key",
        "REBALANCE_EXCHANGE__SECRET_FILE": str(secret_file),
        "REBALANCE_EXCHANGE__PASSWORD": SECRET + "-password",
        "REBALANCE_NOTIFY__TELEGRAM_TOKEN": "123:" + SECRET,
        "REBALANCE_NOTIFY__TELEGRAM_CHAT_ID": "42",
        "REBALANCE_NOTIFY__WEBHOOK_URL": f"https://hooks.example.com/{SECRET}",
    }
    s = load_settings(write(tmp_path, GOOD), environ)
    for text in (repr(s), str(s), repr(s.exchange), repr(s.notify), s.model_dump_json()):
        assert SECRET not in text
    secret = s.exchange.credential("secret")
    assert secret is not None and secret.get_secret_value() == SECRET + "-file"


# ---- item 7: numbers --------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["inf", "1e308", "nan", "-inf", "1e-300"])
def test_exchange_timeout_must_be_finite_and_sane(tmp_path: Path, value: str) -> None:
    line = one_problem(tmp_path, f"timeout = {value}\n".replace("timeout", "[exchange]\ntimeout"))
    assert line.startswith("exchange.timeout: ")
    assert "[0.1, 600] seconds" in line


def test_poll_interval_inf_is_refused(tmp_path: Path) -> None:
    line = one_problem(tmp_path, "[loop]\npoll_interval = inf\n")
    assert line.startswith("loop.poll_interval: expected a number in [0.01, 86400] seconds")
    assert "not a finite number" in line


@pytest.mark.parametrize(
    ("section", "option"),
    [
        ("execution", "child_timeout"),
        ("execution", "passive_timeout"),
        ("execution", "deviation_timeout"),
        ("execution", "leg_deadline"),
        ("risk", "max_wait"),
        ("loop", "cooldown"),
        ("notify", "timeout"),
    ],
)
@pytest.mark.parametrize("value", ["inf", "1e308"])
def test_infinite_durations_are_refused(
    tmp_path: Path, section: str, option: str, value: str
) -> None:
    line = one_problem(tmp_path, f"[{section}]\n{option} = {value}\n")
    assert line.startswith(f"{section}.{option}: ")


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ("[exchange]\nretries = true", "exchange.retries"),
        ("[loop]\npoll_interval = true", "loop.poll_interval"),
        ("[bands]\nwidth = true", "bands.width"),
        ("[metrics]\nport = false", "metrics.port"),
        ("[execution]\nbook_depth = true", "execution.book_depth"),
        ("[risk]\nmax_cost_bps = true", "risk.max_cost_bps"),
    ],
)
def test_booleans_are_not_numbers(tmp_path: Path, extra: str, field: str) -> None:
    line = one_problem(tmp_path, extra + "\n")
    assert line.startswith(f"{field}: ") and "boolean" in line


def test_weights_sum_to_one_within_the_stated_tolerance_summed_exactly(tmp_path: Path) -> None:
    """The rule is stated (1 within 1e-9, in the message and config/example.toml) and applied to
    the exact sum, not to a sum rounded to 28 digits."""
    lines = problems(write(tmp_path, GOOD.replace("BTC = 0.5", 'BTC = "0.5000000011"')))
    assert lines == [
        "portfolio.targets: target weights must sum to 1 (within 1e-9), got 1.0000000011"
        " (list USDT with a weight to hold cash)"
    ]
    # Just past the tolerance by 1e-28: a sum rounded to 28 digits would make it exactly 1e-9.
    past = write(tmp_path, GOOD.replace("BTC = 0.5", 'BTC = "0.5000000010000000000000000001"'))
    assert problems(past)[0].startswith("portfolio.targets: target weights must sum to 1")
    for weight in ("0.5000000001", "0.4999999991", "0.5000000000000000000000000001"):
        path = write(tmp_path, GOOD.replace("BTC = 0.5", f'BTC = "{weight}"'), "near.toml")
        assert load_settings(path, {}).portfolio.targets["BTC"] == Decimal(weight)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (GOOD.replace('quote = "USDT"', 'quote = "USD\u0422"'), "portfolio.quote"),  # Cyrillic Т
        (GOOD + '[paper]\nbalances = { "\u0412\u0422\u0421" = 1 }\n', PAPER_CYRILLIC),
        (GOOD + "[paper]\nbalances = { btc = 1 }\n", "paper.balances.btc"),
        (GOOD + '[paper]\nbalances = { "BTC " = 1 }\n', "paper.balances.BTC "),
        (GOOD + '[bands.overrides."\u0415TH"]\nwidth = 0.1\n', "bands.overrides.'\\u0415TH'"),
    ],
)
def test_asset_codes_are_ascii_upper_case(tmp_path: Path, text: str, field: str) -> None:
    lines = problems(write(tmp_path, text))
    assert any(line.startswith(f"{field}: an asset is an upper-case code") for line in lines), lines
    assert all(line.isascii() for line in lines)  # a look-alike is shown escaped


@pytest.mark.parametrize(
    "host", ["a\\u0000b", "\u0432\u0442\u0441.local", "-bad-", "a" * 64, "a b", ""]
)
def test_metrics_host_must_be_bindable_text(tmp_path: Path, host: str) -> None:
    line = one_problem(tmp_path, f'[metrics]\nhost = "{host}"\n')
    assert line.startswith("metrics.host: expected an IP address")


@pytest.mark.parametrize("port", ["0", "65536", "-1", "9108.5", '"http"'])
def test_metrics_port_must_be_a_port(tmp_path: Path, port: str) -> None:
    line = one_problem(tmp_path, f"[metrics]\nport = {port}\n")
    assert line.startswith("metrics.port: ")


def test_every_stated_range_is_enforced_at_its_bounds(tmp_path: Path) -> None:
    """For every numeric option: each included bound is accepted, and a value just past each
    bound is refused with a line naming the option and its range."""
    from tests.unit.test_validation_fuzz import BASE, INTEGERS, NUMERIC, put, to_toml

    for path, bound in NUMERIC.items():
        step = 1 if path in INTEGERS else type(bound.low)("0.000001")
        cases = [(bound.low, not bound.low_open), (bound.high, not bound.high_open)]
        cases += [(bound.low - step, False), (bound.high + step, False)]
        for value, ok in cases:
            data = json.loads(json.dumps(BASE))
            put(data, path, int(value) if path in INTEGERS else str(value))
            if path[:2] == ("portfolio", "targets"):
                data["portfolio"]["targets"] = {"BTC": str(value)}
                data["portfolio"]["quote"] = "BTC"
            if path[0] == "derivatives" and path[1].endswith("_leverage"):  # target <= max
                other = "max_leverage" if path[1] == "target_leverage" else "target_leverage"
                data.setdefault("derivatives", {})[other] = "20" if other[0] == "m" else "1"
            config = tmp_path / "bounds.toml"
            config.write_text(to_toml(data), encoding="utf-8")
            where = ".".join(path)
            if ok:
                load_settings(config, {})
                continue
            with pytest.raises(ConfigError) as info:
                load_settings(config, {})
            if path[:2] == ("portfolio", "targets") and value > 1:
                continue  # also refused as a sum
            assert any(line.startswith(f"{where}: ") for line in info.value.problems), where
            assert any(bound.interval in line for line in info.value.problems), where


def test_example_config_states_every_range() -> None:
    """config/example.toml states each numeric option's range as the code enforces it, in the
    comment just above the option."""
    from tests.unit.test_validation_fuzz import NUMERIC

    text = (ROOT / "config" / "example.toml").read_text(encoding="utf-8")
    missing = []
    for path, bound in NUMERIC.items():
        section, option = path[0], path[1] if path[1] not in ("fees", "overrides") else path[2]
        if path[1] in ("overrides",):
            continue
        body = text[text.index(f"[{section}]") :]
        match = re.search(rf"((?:^#.*\n)+)(?:^#? ?[a-z_]+ = .*\n)*?^#? ?{option} = ", body, re.M)
        if path[1] == "fees":
            match = re.search(r"((?:^#.*\n)+)^# fees = ", body, re.M)
        if path[1] in ("targets", "balances"):
            match = re.search(rf"((?:^#.*\n)+)^{path[1]} = ", body, re.M)
        if match is None or bound.interval not in match.group(1):
            missing.append(f"{'.'.join(path)} {bound.interval}")
    assert missing == []


# ---- item 7: files ------------------------------------------------------------------------------


def test_a_config_file_that_is_not_utf8_is_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes((GOOD + "# caf\xe9\n").encode("latin-1"))
    assert problems(path) == [
        f"{path}: not UTF-8 text (byte 0xe9 on line 5); save the file as UTF-8"
    ]


def test_a_scenario_file_that_is_not_utf8_is_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "scenario.toml"
    path.write_bytes(b'seed = 1\nname = "caf\xe9"\n')
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.problems == [
        f"{path}: not UTF-8 text (byte 0xe9 on line 2); save the file as UTF-8"
    ]


@pytest.mark.parametrize(
    "body",
    ["a = " + "[" * 3000 + "]" * 3000, "a = " + "{b = " * 1000 + "1" + "}" * 1000],
)
def test_deeply_nested_toml_is_refused(tmp_path: Path, body: str) -> None:
    path = write(tmp_path, body + "\n")
    assert problems(path) == [f"{path}: nested more than 32 levels deep"]
    with pytest.raises(ScenarioError, match="nested more than 32 levels deep"):
        load_scenario(path)


def test_a_huge_integer_in_a_config_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "[exchange.options]\nx = " + "9" * 5000 + "\n")
    (line,) = problems(path)
    assert line.startswith(f"{path}: a number too long to read")


def test_check_config_reads_the_scenario_too(tmp_path: Path) -> None:
    write(tmp_path, 'seed = 1\nname = "\xe9"\n', "scenario.toml")
    (tmp_path / "scenario.toml").write_bytes(b'seed = 1\nname = "\xe9"\n')
    config = write(tmp_path, GOOD + '[sim]\nscenario = "scenario.toml"\n')
    done = run_cli("check-config", "--config", str(config))
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error: ") and "not UTF-8 text" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


# ---- item 7: snapshots --------------------------------------------------------------------------


def snapshot_text(balances: str = '"BTC": "1.5", "USDT": 1000', extra: str = "") -> str:
    return (
        f'{{"balances": {{{balances}}}, {extra}'
        '"markets": {"BTC/USDT": {"amount_step": "0.0001", "price_tick": "0.01"}},'
        ' "books": {"BTC/USDT": {"bids": [["99", "1"]], "asks": [["101", "1"]]}}}'
    )


def snapshot_problem(tmp_path: Path, text: str) -> str:
    path = tmp_path / "snap.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SnapshotError) as info:
        load_snapshot(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    return message.removeprefix(f"{path}: ")


@pytest.mark.parametrize("number", ["1e999999", '"1e999999"', "-1e999999", '"1e-999999"'])
def test_snapshot_numbers_beyond_any_size_are_refused(tmp_path: Path, number: str) -> None:
    message = snapshot_problem(tmp_path, snapshot_text(f'"BTC": {number}'))
    assert message.startswith("balances.BTC: expected a number, got ")
    assert message.endswith("out of range: a number is 0 or between 1e-24 and 1e24 in size")


@pytest.mark.parametrize(
    "number", ['"\u0661\u0662\u0663"', '"\u06f1.\u06f5"', '"1_000"', "NaN", "Infinity"]
)
def test_snapshot_numbers_are_ascii_decimals(tmp_path: Path, number: str) -> None:
    message = snapshot_problem(tmp_path, snapshot_text(f'"BTC": {number}'))
    assert message.startswith("balances.BTC: expected a number, got ")
    assert message.endswith(("(like 12.5 or 1e-3), at most 64 characters", "(inf, nan)"))
    assert message.isascii()  # the digits shown escaped


@pytest.mark.parametrize("number", ["9" * 5000, '"' + "9" * 5000 + '"', '"1.' + "1" * 40 + '"'])
def test_snapshot_numbers_of_thousands_of_digits_are_refused(tmp_path: Path, number: str) -> None:
    message = snapshot_problem(tmp_path, snapshot_text(f'"BTC": {number}'))
    assert message.startswith("balances.BTC: ")


def test_snapshot_nesting_is_bounded(tmp_path: Path) -> None:
    message = snapshot_problem(
        tmp_path, snapshot_text(extra='"x": ' + "[" * 5000 + "]" * 5000 + ", ")
    )
    assert message == "nested more than 32 levels deep" or "nested more than 32" in message


@pytest.mark.parametrize(
    ("balances", "where"),
    [
        ('"btc": "1", "USDT": 1', "balances.btc"),
        ('"\u0412\u0422\u0421": "1"', "balances.'\\u0412\\u0422\\u0421'"),
    ],
)
def test_snapshot_lowercase_or_look_alike_balances_are_refused(
    tmp_path: Path, balances: str, where: str
) -> None:
    message = snapshot_problem(tmp_path, snapshot_text(balances))
    assert message.startswith(f"{where}: an asset is an upper-case code")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (snapshot_text(extra='"balance": {}, '), "snapshot: unknown field(s) balance"),
        (snapshot_text('"BTC": "1", "BTC": "2"'), "the key 'BTC' appears twice in one object"),
        (
            snapshot_text().replace('"asks"', '"depth": 5, "asks"'),
            "books.BTC/USDT: unknown field(s) depth",
        ),
        (snapshot_text().replace('["99", "1"]', '["99", "1", "x"]'), "books.BTC/USDT.bids[0]"),
    ],
)
def test_snapshot_keys_are_never_dropped(tmp_path: Path, text: str, message: str) -> None:
    assert message in snapshot_problem(tmp_path, text)


def test_a_snapshot_that_is_not_utf8_is_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "snap.json"
    path.write_bytes(snapshot_text().replace("1.5", "1\xb75").encode("latin-1"))
    with pytest.raises(SnapshotError, match=r"not UTF-8 text \(byte 0xb7 on line 1\)"):
        load_snapshot(path)


# ---- unknown or mistyped variables ------------------------------------------------------------


def test_unknown_variables_are_refused_and_table_keys_keep_their_case(tmp_path: Path) -> None:
    lines = problems(write(tmp_path, GOOD), {"REBALANCE_LOOPS__POLL_INTERVAL": "5"})
    assert lines == [
        "loops: unknown option (see config/example.toml for the options)"
        " (from REBALANCE_LOOPS__POLL_INTERVAL)"
    ]
    environ = {
        "REBALANCE_PORTFOLIO__TARGETS__BTC": "0.4",
        "REBALANCE_PORTFOLIO__TARGETS__SOL": "0.1",
    }
    s = load_settings(write(tmp_path, GOOD), environ)
    assert s.portfolio.targets == {
        "BTC": Decimal("0.4"),
        "ETH": Decimal("0.3"),
        "USDT": Decimal("0.2"),
        "SOL": Decimal("0.1"),
    }
    lines = problems(write(tmp_path, GOOD), {"REBALANCE_PORTFOLIO__TARGETS": "{not json"})
    assert lines[0].startswith("REBALANCE_PORTFOLIO__TARGETS: invalid JSON")


# ---- as a user runs it --------------------------------------------------------------------------


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    environ = {k: v for k, v in os.environ.items() if not k.startswith("REBALANCE_")}
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        env=environ,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("[loop]\npoll_interval = inf\n", {}, "error: loop.poll_interval: expected a number"),
        ("", {"REBALANCE_EXCHANGE__SECRET_FILE": SECRET}, "error: exchange.secret_file:"),
        ("a = " + "[" * 3000 + "]" * 3000 + "\n", {}, "nested more than 32 levels deep"),
    ],
)
def test_check_config_prints_one_line_and_exits_2(
    tmp_path: Path, text: str, env: dict[str, str], expected: str
) -> None:
    config = write(tmp_path, PAPER + GOOD + text if not text.startswith("a =") else text)
    done = run_cli("check-config", "--config", str(config), env=env)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert expected in done.stderr and "Traceback" not in done.stderr
    assert SECRET not in done.stderr + done.stdout


def test_a_busy_metrics_port_is_one_line_at_start(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        text = GOOD
        text += f'[sim]\nscenario = "{ROOT / "config" / "scenarios" / "demo.toml"}"\n'
        text += f'[journal]\npath = "{tmp_path / "j.sqlite"}"\n'
        text += f"[metrics]\nenabled = true\nport = {port}\n"
        done = run_cli("run", "--once", "--config", str(write(tmp_path, text)))
    assert done.returncode == 2, done.stderr
    assert f"error: metrics: cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr


def test_cannot_listen_says_why_in_one_line() -> None:
    """For the start-up check (before anything is built): a busy port, a host not on this
    machine, a host that is not one."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert cannot_listen("127.0.0.1", port) == (
            f"metrics: cannot listen on 127.0.0.1:{port}: Address already in use"
        )
    assert cannot_listen("127.0.0.1", 0) is None
    assert cannot_listen("192.0.2.1", 9108) is not None  # TEST-NET-1: never this machine's
    assert (
        cannot_listen("a\x00b", 9108)
        == "metrics: cannot listen on 'a\\x00b':9108: not a host and port"
    )


def test_messages_name_the_allowed_values_never_a_pattern(tmp_path: Path) -> None:
    lines = problems(write(tmp_path, GOOD + '[log]\nlevel = "loud"\nformat = "xml"\n'))
    assert lines == [
        "log.level: Input should be 'debug', 'info', 'warning' or 'error' (got 'loud')",
        "log.format: Input should be 'auto', 'json' or 'console' (got 'xml')",
    ]
