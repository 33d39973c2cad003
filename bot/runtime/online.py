"""`check-config --online`: what only the exchange can tell, asked once, nothing traded.

    problems, facts = await online_check(settings)

It answers (its markets), it takes the key (a balance read, where the mode has keys), the key may
trade and not withdraw (where the exchange tells: the profile's `key_permissions`), and its
clock is near ours (the offset ccxt measures; beyond 1 s signed requests risk refusal). Each
problem starts with what it is about ("key:", "exchange:", "clock:"): the command line picks its
exit code from that word.
"""

from __future__ import annotations

import ccxt

from bot.errors import AuthFailed, GatewayError
from bot.exchange.gateway import Gateway
from bot.exchange.permissions import judge
from bot.runtime.wiring import build_backend
from bot.settings import Mode, Settings

KEYED = (Mode.TESTNET, Mode.DEMO, Mode.LIVE)
MAX_CLOCK_OFFSET_MS = 1000


async def online_check(settings: Settings) -> tuple[list[str], list[str]]:
    """(problems, facts); a fact that starts "warning:" is a risk to show, not a problem."""
    problems: list[str] = []
    facts: list[str] = []
    backend = build_backend(settings, live_confirmed=True)
    try:
        markets = await backend.gateway.load_markets()
        facts.append(f"exchange: {backend.description} answers, {len(markets)} markets")
        if settings.exchange.mode in KEYED:
            await backend.gateway.fetch_balances()
            facts.append("key: accepted (balances read)")
            found, told = await key_permissions(backend.gateway, settings.exchange.id)
            problems += found
            facts += told
        measure = getattr(backend.exchange, "load_time_difference", None)
        if measure is not None and settings.exchange.mode is not Mode.SIM:
            offset_ms = -float(await measure() or 0)  # ccxt measures ours minus theirs
            facts.append(f"clock: the exchange's is {offset_ms:+.0f} ms from ours")
            if abs(offset_ms) > MAX_CLOCK_OFFSET_MS:
                problems.append(
                    f"clock: the exchange's is {offset_ms:+.0f} ms from ours; synchronise this"
                    " machine's clock (timedatectl, chrony): signed requests may be refused"
                )
    except AuthFailed as exc:
        problems.append(f"key: {exc}")
    except GatewayError as exc:
        problems.append(f"exchange: cannot be read: {exc}")
    except ccxt.BaseError as exc:
        problems.append(f"exchange: {type(exc).__name__}: {exc}")
    finally:
        await backend.close()
    return problems, facts


async def key_permissions(gateway: Gateway, exchange: str) -> tuple[list[str], list[str]]:
    """What the key may do, where the exchange tells (its profile names the call): a key that
    may not trade is a problem, one that may withdraw a warning. A refused key is raised
    (AuthFailed); any other failure of the call means the exchange does not tell here (Binance's
    testnet has no /sapi)."""
    call = gateway.profile.key_permissions
    if call is None:
        return [], [f"permissions: not told by {exchange}"]
    try:
        permissions = await gateway.ask(call.method, call.read)
    except AuthFailed:
        raise
    except GatewayError as exc:
        return [], [f"permissions: not told by {exchange} here ({type(exc).__name__}: {exc})"]
    return judge(permissions, exchange)
