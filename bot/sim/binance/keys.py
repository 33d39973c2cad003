"""GET /sapi/v1/account/apiRestrictions (signed, weight 1): what the API key may do, in Binance's
reply format, from the front's `KeyRestrictions` (settable: a test shows a read-only key or one
that may withdraw)."""

from __future__ import annotations

from typing import Any

from bot.sim.binance.params import Params
from bot.sim.binance.venue import Venue

# When the key was made, as Binance reports it (ms): a fixed instant, the key has no history here.
CREATED_MS = 1_700_000_000_000


async def api_restrictions(venue: Venue, params: Params) -> dict[str, Any]:
    await venue.exchange.charge("fetch_api_restrictions", 1)
    key = venue.key_restrictions
    return {
        "ipRestrict": False,
        "createTime": CREATED_MS,
        "enableReading": key.reading,
        "enableWithdrawals": key.withdrawals,
        "enableInternalTransfer": False,
        "enableMargin": False,
        "enableFutures": False,
        "permitsUniversalTransfer": False,
        "enableVanillaOptions": False,
        "enableFixApiTrade": False,
        "enableFixReadOnly": False,
        "enableSpotAndMarginTrading": key.spot_trading,
        "enablePortfolioMarginTrading": False,
    }
