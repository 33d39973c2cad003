"""Exchange profiles: one file per exchange, found by ccxt id or ccxt ancestry; the user's ccxt
options can widen the receive window, and the gateway then waits as long."""

from __future__ import annotations

import pytest

from bot.errors import ConfigError
from bot.exchange.connect import ccxt_client, with_user_options
from bot.exchange.profiles import GENERIC, profile_for, profiles


def test_every_profile_file_is_found_by_its_id() -> None:
    assert {"binance", "sim"} <= set(profiles())
    assert profile_for("binance").id == "binance"


def test_an_exchange_derived_from_a_profiled_one_shares_its_profile() -> None:
    assert profile_for("binanceus").id == "binance"  # ccxt's binanceus is a binance
    assert profile_for("bitstamp") is GENERIC  # no profile, no profiled ancestor
    assert profile_for("no-such-exchange") is GENERIC


def test_binance_profile_facts() -> None:
    binance = profile_for("binance")
    assert binance.options()["recvWindow"] == 5000
    assert binance.ambiguity_window == 6.0
    assert binance.client_id.accepts("rb1a2b-3c4d-0c12")
    assert not binance.client_id.accepts("x" * 37)
    assert binance.is_auth_failure(Exception('binance {"code":-2015,"msg":"Invalid API-key"}'))
    assert not binance.is_auth_failure(Exception("timeout"))


def test_a_wider_receive_window_in_the_options_is_waited_out() -> None:
    """recvWindow = 60000 in exchange.options: Binance may execute a lost request for 60 s, so
    the gateway must not resend before 61 s."""
    widened = with_user_options(profile_for("binance"), {"recvWindow": 60000})
    assert widened.receive_window == 60.0
    assert widened.ambiguity_window == 61.0
    assert widened.options()["recvWindow"] == 60000
    assert with_user_options(profile_for("binance"), {}).ambiguity_window == 6.0
    with pytest.raises(ConfigError, match="recvWindow: milliseconds"):
        with_user_options(profile_for("binance"), {"recvWindow": "soon"})


def test_a_wrong_exchange_id_is_reported_before_missing_keys() -> None:
    def no_keys() -> dict[str, str]:
        raise ConfigError(["exchange: mode testnet needs API credentials"])

    with pytest.raises(ConfigError, match="not an exchange ccxt knows"):
        ccxt_client("binanze", GENERIC, timeout=1, options={}, credentials=no_keys)
    with pytest.raises(ConfigError, match="api_url: not supported for 'kraken'"):
        ccxt_client(
            "kraken", GENERIC, timeout=1, options={}, credentials=no_keys, api_url="http://x:1"
        )


def test_client_ids_are_joined_as_the_exchange_allows() -> None:
    from bot.exchange.profile import ClientIdRules

    binance = profile_for("binance").client_id
    assert binance.join("rb1a2b", "12ab34", "0") == "rb1a2b-12ab34-0"
    letters_only = ClientIdRules(charset="A-Za-z0-9", max_length=32)
    joined = letters_only.join("rb1a2b", "12ab34", "0") + "c3"
    assert joined == "rb1a2bz12ab34z0c3"
    assert letters_only.accepts(joined)
    assert ClientIdRules(charset="A-Za-z0-9_").separator == "_"
