"""Making a ccxt client for one exchange, from its profile and the user's choices.

    client = ccxt_client("binance", profile_for("binance"), timeout=10.0, options={},
                         credentials={"apiKey": ..., "secret": ...})
    enable_sandbox(client)                       # testnet, or a clear ConfigError

ccxt's own rate limiter is switched off: the gateway paces requests (asyncio-throttle), and two
limiters would stack. Errors are `ConfigError`s naming the setting to change.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import ccxt
import ccxt.async_support as ccxt_async

from bot.errors import ConfigError
from bot.exchange.profile import ApiUrlLayout, ExchangeProfile
from bot.exchange.profiles import profile_for, profiles


def ccxt_client(
    exchange_id: str,
    profile: ExchangeProfile,
    *,
    timeout: float,
    options: Mapping[str, Any],
    credentials: Callable[[], Mapping[str, str]] | None = None,
    api_url: str | None = None,
) -> Any:
    """`ccxt.async_support.<exchange_id>`, configured: the profile's options under the user's,
    the timeout (seconds), credentials (ccxt's names: apiKey, secret, password; read last, so a
    wrong id or URL is reported before a missing key) and `api_url`."""
    cls = getattr(ccxt_async, exchange_id, None)
    if cls is None or exchange_id not in ccxt_async.exchanges:
        raise ConfigError([f"exchange.id: {exchange_id!r} is not an exchange ccxt knows"])
    config: dict[str, Any] = {
        # Numbers in replies as the exchange printed them, not floats (order books excepted).
        "number": str,
        "enableRateLimit": False,
        "timeout": int(timeout * 1000),
        "options": {**profile.options(), **options},
        **(api_url_config(exchange_id, api_url, profile) if api_url else {}),
        **(credentials() if credentials is not None else {}),
    }
    if profile.error_classes:  # codes ccxt leaves unmapped, as the profile maps them
        exact = config.setdefault("exceptions", {}).setdefault("exact", {})
        exact.update({code: getattr(ccxt_async, n) for code, n in profile.error_classes.items()})
    return cls(config)


def with_user_options(profile: ExchangeProfile, options: Mapping[str, Any]) -> ExchangeProfile:
    """The profile as the user's ccxt options leave it: a receive window set in them (Binance:
    `recvWindow`, milliseconds) is the one the exchange applies, so the gateway waits that long
    after a lost order request before it may send again."""
    name = profile.receive_window_option
    if name is None or name not in options:
        return profile
    try:
        window = float(options[name]) / 1000
    except (TypeError, ValueError):
        raise ConfigError(
            [f"exchange.options.{name}: milliseconds, got {options[name]!r}"]
        ) from None
    if not window > 0:
        raise ConfigError([f"exchange.options.{name}: must be > 0 milliseconds"])
    return replace(profile, receive_window=window)


def enable_sandbox(exchange: Any, profile: ExchangeProfile | None = None) -> None:
    """Switch a ccxt exchange to its sandbox, or refuse clearly when it has none or when its
    profile says ccxt's sandbox must not be used (`sandbox_refused`: Binance USD-M).

    ccxt raises a bare Python error (not a ccxt one) for several exchanges without a sandbox, so
    the test URLs are checked first.
    """
    refused = (profile or profile_for(str(getattr(exchange, "id", "")))).sandbox_refused
    if refused is not None:
        raise ConfigError([f"exchange.mode: {refused}"])
    if not (getattr(exchange, "urls", None) or {}).get("test"):
        raise ConfigError(
            [
                f'exchange.id: {exchange.id} has no testnet (sandbox) in ccxt; use mode = "paper"'
                " for a dry run on its real data"
            ]
        )
    try:
        exchange.set_sandbox_mode(True)
    except Exception as exc:  # ccxt's NotSupported or a bare error, depending on the exchange
        raise ConfigError(
            [f"exchange.id: {exchange.id} cannot switch to its sandbox: {exc}"]
        ) from None


def enable_demo(exchange: Any, profile: ExchangeProfile | None = None) -> None:
    """Switch a ccxt exchange to its demo-trading environment, or refuse clearly when it has
    none (ccxt's `enable_demo_trading`: Binance, Bybit, Bitget, or a `demo` URL; the sandbox
    switch where the profile says that is the exchange's demo trading: OKX)."""
    if profile is not None and profile.demo_via_sandbox:
        enable_sandbox(exchange)
        return
    own = getattr(type(exchange), "enable_demo_trading", None)
    base = getattr(ccxt_async.Exchange, "enable_demo_trading", None)
    if own is base and not (getattr(exchange, "urls", None) or {}).get("demo"):
        raise ConfigError(
            [
                f'exchange.id: {exchange.id} has no demo trading in ccxt; use mode = "testnet"'
                ' where it has a sandbox, or mode = "paper" for a dry run on its real data'
            ]
        )
    try:
        exchange.enable_demo_trading(True)
    except Exception as exc:  # ccxt's NotSupported or a bare error, depending on the exchange
        raise ConfigError(
            [f"exchange.id: {exchange.id} cannot switch to demo trading: {exc}"]
        ) from None


def api_url_config(
    exchange_id: str, api_url: str, profile: ExchangeProfile | None = None
) -> dict[str, Any]:
    """ccxt config that sends every API call of `exchange_id` to `api_url` (the profile's
    `ApiUrlLayout`): merge it into the client config (it holds no keys and no options).

    For Binance, public and private calls go to `{api_url}/api/v3`, sapi to `{api_url}/sapi/v1`,
    and so on for each of ccxt's Binance API URLs (futures and options keep their paths too).
    """
    layout = profile or profiles().get(exchange_id)
    if layout is None or layout.api_url is None:
        supported = sorted(p.id for p in profiles().values() if p.api_url is not None)
        raise ConfigError(
            [
                f"exchange.api_url: not supported for {exchange_id!r}"
                f" (supported: {', '.join(supported)})"
            ]
        )
    base = api_url.rstrip("/")
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            [f"exchange.api_url: an http(s) URL like http://127.0.0.1:8765, got {api_url!r}"]
        )
    urls, exact = _ccxt_tables(exchange_id, layout.api_url)
    api = {name: base + urlsplit(url).path for name, url in urls}
    return {"urls": {"api": api}, "exceptions": {"exact": dict(exact)}}


@functools.cache
def _ccxt_tables(
    exchange_id: str, layout: ApiUrlLayout
) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, Any], ...]]:
    """ccxt's API base URLs of `exchange_id` and the host-keyed exact error codes the layout
    merges into the general table (ccxt deep-merges a client's config over its own)."""
    described = getattr(ccxt, exchange_id)().describe()
    urls = tuple((name, str(url)) for name, url in described["urls"]["api"].items())
    exact: dict[str, Any] = {}
    for table in layout.exception_tables:
        exact.update(described["exceptions"][table]["exact"])
    return urls, tuple(exact.items())
