"""One exchange profile per file: `<id>.py` defines `PROFILE`, an `ExchangeProfile` whose `id` is
ccxt's exchange id. Adding an exchange is adding a file here.

An exchange with no file of its own gets the profile of the ccxt class it derives from (binanceus
is a binance), else `GENERIC`: ccxt's unified behaviour, nothing assumed.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil

import ccxt

from bot.exchange.profile import ExchangeProfile

GENERIC = ExchangeProfile(id="generic")


@functools.cache
def profiles() -> dict[str, ExchangeProfile]:
    """Every profile in this package, by exchange id."""
    found: dict[str, ExchangeProfile] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        profile = getattr(module, "PROFILE", None)
        if not isinstance(profile, ExchangeProfile):
            raise TypeError(f"{module.__name__} must define PROFILE, an ExchangeProfile")
        if profile.id in found:
            raise TypeError(f"two profiles for exchange id {profile.id!r}")
        found[profile.id] = profile
    return found


def verified_exchanges() -> frozenset[str]:
    """The spot exchanges whose profile the native-format tests check (the built-in simulator
    aside): live trading elsewhere needs exchange.allow_unverified. A perpetuals-only client
    (binanceusdm) is not among them: see `perp_exchanges`."""
    return frozenset(p for p, profile in profiles().items() if p != "sim" and not profile.contracts)


def perp_exchanges() -> frozenset[str]:
    """The exchanges whose linear perpetuals the native-format tests check
    (tests/venues/test_perp_venues.py): a profile with `perps` facts."""
    return frozenset(p for p, profile in profiles().items() if profile.perps is not None)


def profile_for(exchange_id: str) -> ExchangeProfile:
    """The profile of `exchange_id`, or of the nearest ccxt class it derives from, or
    `GENERIC`."""
    known = profiles()
    if exchange_id in known:
        return known[exchange_id]
    cls = getattr(ccxt, exchange_id, None)
    if isinstance(cls, type) and exchange_id in ccxt.exchanges:
        for ancestor in cls.__mro__[1:]:
            name = getattr(ancestor, "__name__", "")
            if name in known:
                return known[name]
    return GENERIC
