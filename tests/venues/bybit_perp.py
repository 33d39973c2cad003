"""Bybit's REST API v5 for linear perpetuals (category linear, unified trading account), as
ccxt's bybit class calls it on a client made with the profile's `for_perps()`, answered from data
a test sets. Bybit's signature and receive-window checks are the spot fake's (`bybit.Fake`).

Formats from Bybit's docs (https://bybit-exchange.github.io/docs/v5/): #market/instrument,
#market/tickers, #position, #account/wallet-balance, #order/execution (execType Funding:
execFee positive when paid), #order/create-order, #asset/transfer/create-inter-transfer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.venues import bybit
from tests.venues.venue import Handler, Request

CREDENTIALS = bybit.CREDENTIALS


def instrument(symbol: str, base: str, tick: str, step: str) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "contractType": "LinearPerpetual",
        "status": "Trading",
        "baseCoin": base,
        "quoteCoin": "USDT",
        "launchTime": "1585526400000",
        "deliveryTime": "0",
        "deliveryFeeRate": "",
        "priceScale": "2",
        "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
        "priceFilter": {"minPrice": "0.10", "maxPrice": "1999999.80", "tickSize": tick},
        "lotSizeFilter": {
            "maxOrderQty": "1190.000",
            "minOrderQty": step,
            "qtyStep": step,
            "postOnlyMaxOrderQty": "1190.000",
            "maxMktOrderQty": "500.000",
            "minNotionalValue": "5",
        },
        "unifiedMarginTrade": True,
        "fundingInterval": 480,
        "settleCoin": "USDT",
        "copyTrading": "both",
        "upperFundingRate": "0.00375",
        "lowerFundingRate": "-0.00375",
        "isPreListing": False,
        "preListingInfo": None,
        "displayName": "",
    }


INSTRUMENTS = [
    instrument("BTCUSDT", "BTC", "0.10", "0.001"),
    instrument("ETHUSDT", "ETH", "0.01", "0.01"),
]


def usdt_coin(
    wallet: str, equity: str, position_im: str = "0", order_im: str = "0"
) -> dict[str, Any]:
    """The USDT entry of a UNIFIED wallet-balance's coin list."""
    return {
        "availableToBorrow": "",
        "bonus": "0",
        "accruedInterest": "0",
        "availableToWithdraw": "",
        "totalOrderIM": order_im,
        "equity": equity,
        "totalPositionMM": "0",
        "usdValue": equity,
        "spotHedgingQty": "0",
        "unrealisedPnl": "0",
        "collateralSwitch": True,
        "borrowAmount": "0",
        "totalPositionIM": position_im,
        "walletBalance": wallet,
        "cumRealisedPnl": "0",
        "locked": "0",
        "marginCollateral": True,
        "coin": "USDT",
        "spotBorrow": "0",
    }


@dataclass
class Fake(bybit.Fake):
    positions: list[dict[str, Any]] = field(default_factory=list)
    wallet_coins: list[dict[str, Any]] = field(default_factory=lambda: [usdt_coin("1000", "1000")])
    # GET /v5/execution/list?execType=Funding rows, newest first, `page` a reply
    fundings: list[dict[str, Any]] = field(default_factory=list)
    page: int = 50
    last_create: dict[str, Any] = field(default_factory=dict)
    last_transfer: dict[str, Any] = field(default_factory=dict)

    def routes(self) -> dict[tuple[str, str], Handler]:
        private = {
            ("GET", "/v5/position/list"): self.position_list,
            ("GET", "/v5/account/wallet-balance"): self.wallet,
            ("GET", "/v5/execution/list"): self.funding,
            ("POST", "/v5/order/create"): self.create_linear,
            ("POST", "/v5/asset/transfer/inter-transfer"): self.inter_transfer,
        }
        return {
            **super().routes(),
            ("GET", "/v5/market/instruments-info"): self.linear_instruments,
            ("GET", "/v5/market/tickers"): self.linear_tickers,
            **{route: self._private(h) for route, h in private.items()},
        }

    async def linear_instruments(self, request: Request) -> Any:
        listed = INSTRUMENTS if request.param("status") is None else []
        body = {"category": "linear", "list": listed, "nextPageCursor": ""}
        return self.reply(body) if self._category(request) == "linear" else self.reply({})

    async def linear_tickers(self, request: Request) -> Any:
        rows = [
            ("BTCUSDT", "50012.5", "50000.1", "0.0001"),
            ("ETHUSDT", "2499.1", "2500", "-0.000025"),
        ]
        wanted = request.param("symbol")
        listed = [
            {
                "symbol": s,
                "lastPrice": mark,
                "indexPrice": index,
                "markPrice": mark,
                "prevPrice24h": mark,
                "price24hPcnt": "0",
                "highPrice24h": mark,
                "lowPrice24h": mark,
                "prevPrice1h": mark,
                "openInterest": "1000",
                "openInterestValue": "50000000",
                "turnover24h": "1000000",
                "volume24h": "20",
                "fundingRate": rate,
                "nextFundingTime": "1765008000000",
                "predictedDeliveryPrice": "",
                "basisRate": "",
                "deliveryFeeRate": "",
                "deliveryTime": "0",
                "ask1Size": "1",
                "bid1Price": str(float(mark) - 0.1),
                "ask1Price": str(float(mark) + 0.1),
                "bid1Size": "1",
                "basis": "",
            }
            for s, mark, index, rate in rows
            if wanted is None or s == wanted
        ]
        return self.reply({"category": self._category(request), "list": listed})

    async def position_list(self, request: Request) -> Any:
        if self._category(request) != "linear":
            return self.reply({"category": request.param("category"), "list": []})
        symbol = request.param("symbol")
        if symbol is None and request.param("settleCoin") is None:
            raise self.refuse(10001, "params error: symbol or settleCoin is required")
        rows = [p for p in self.positions if symbol is None or p["symbol"] == symbol]
        if symbol is None:  # without a symbol Bybit lists positions with a size only
            rows = [p for p in rows if p["size"] not in ("0", "")]
        return self.reply({"category": "linear", "list": rows, "nextPageCursor": ""})

    async def wallet(self, request: Request) -> Any:
        if request.param("accountType") != "UNIFIED":
            raise self.refuse(10001, "accountType only support UNIFIED.")
        entry = {
            "accountType": "UNIFIED",
            "totalEquity": "0",
            "totalWalletBalance": "0",
            "totalAvailableBalance": "0",
            "coin": self.wallet_coins,
        }
        return self.reply({"list": [entry]})

    async def funding(self, request: Request) -> Any:
        if request.param("execType") != "Funding":
            return await self.executions(request)
        start = int(request.param("startTime", 0))
        end = int(request.param("endTime", start + 7 * 24 * 3600 * 1000))
        rows = [f for f in self.fundings if start <= int(f["execTime"]) <= end]
        rows.sort(key=lambda f: int(f["execTime"]), reverse=True)
        offset = int(request.param("cursor") or 0)
        chunk = rows[offset : offset + self.page]
        more = offset + self.page < len(rows)
        cursor = str(offset + self.page) if more else ""
        return self.reply({"category": "linear", "list": chunk, "nextPageCursor": cursor})

    async def create_linear(self, request: Request) -> Any:
        body = request.body if isinstance(request.body, dict) else {}
        if body.get("category") != "linear":
            return await self.create(request)
        self.last_create = dict(body)
        if body.get("reduceOnly") is True and not any(
            p["symbol"] == body["symbol"] and p["size"] != "0" for p in self.positions
        ):
            raise self.refuse(110017, "Reduce-only rule not satisfied")
        return self.reply(
            {"orderId": "1321003749386327552", "orderLinkId": body.get("orderLinkId")}
        )

    async def inter_transfer(self, request: Request) -> Any:
        body = request.body if isinstance(request.body, dict) else {}
        self.last_transfer = dict(body)
        return self.reply({"transferId": body.get("transferId"), "status": "SUCCESS"})
