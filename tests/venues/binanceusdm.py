"""Binance USDⓈ-M futures (fapi, and the sapi transfer), as ccxt's binanceusdm class calls them,
answered from data a test sets: positions, the futures wallet, funding, the position mode.

Formats from Binance's derivatives docs (https://developers.binance.com/docs/derivatives/usds-
margined-futures/): numbers as strings, errors `{"code": -NNNN, "msg": ...}` with HTTP 400. What
this fake checks as Binance does: X-MBX-APIKEY and the HMAC-SHA256 `signature` of the query (GET)
or the form body (POST), and a timestamp inside recvWindow. Every request is kept as sent (host,
path, params) for the tests to read.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import ccxt
import yarl

from tests.venues.venue import Answer, Handler, Request, Venue

CREDENTIALS = {"apiKey": "usdm-test-key", "secret": "usdm-test-secret"}


@dataclass
class Sent:
    method: str
    host: str
    path: str
    params: dict[str, str]


def perp(symbol: str, base: str, tick: str, step: str, kind: str = "PERPETUAL") -> dict[str, Any]:
    """One contract of GET /fapi/v1/exchangeInfo."""
    return {
        "symbol": symbol,
        "pair": base + "USDT",
        "contractType": kind,
        "deliveryDate": 4133404800000 if kind == "PERPETUAL" else 1743148800000,
        "onboardDate": 1569398400000,
        "status": "TRADING",
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": base,
        "quoteAsset": "USDT",
        "marginAsset": "USDT",
        "pricePrecision": 2,
        "quantityPrecision": 3,
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": ["PoW"],
        "settlePlan": 0,
        "triggerProtect": "0.0500",
        "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": "0.10",
                "maxPrice": "4529764",
                "tickSize": tick,
            },
            {"filterType": "LOT_SIZE", "stepSize": step, "maxQty": "1000", "minQty": step},
            {"filterType": "MARKET_LOT_SIZE", "stepSize": step, "maxQty": "120", "minQty": step},
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
            {"filterType": "MIN_NOTIONAL", "notional": "100"},
            {
                "filterType": "PERCENT_PRICE",
                "multiplierUp": "1.0500",
                "multiplierDown": "0.9500",
                "multiplierDecimal": "4",
            },
        ],
        "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT"],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
    }


CONTRACTS = [
    perp("BTCUSDT", "BTC", "0.10", "0.001"),
    perp("ETHUSDT", "ETH", "0.01", "0.001"),
    perp("BTCUSDT_250328", "BTC", "0.10", "0.001", kind="CURRENT_QUARTER"),
]


def usdt(wallet: str, unrealized: str, available: str) -> dict[str, Any]:
    """The USDT entry of GET /fapi/v3/account's assets."""
    margin = str(float(wallet) + float(unrealized)) if unrealized != "0" else wallet
    return {
        "asset": "USDT",
        "walletBalance": wallet,
        "unrealizedProfit": unrealized,
        "marginBalance": margin,
        "maintMargin": "0.00000000",
        "initialMargin": "0.00000000",
        "positionInitialMargin": "0.00000000",
        "openOrderInitialMargin": "0.00000000",
        "crossWalletBalance": wallet,
        "crossUnPnl": unrealized,
        "availableBalance": available,
        "maxWithdrawAmount": available,
        "updateTime": 1625474304765,
    }


@dataclass
class Fake(Venue):
    exchange_id: str = "binanceusdm"
    create_path: str = "/fapi/v1/order"
    # GET /fapi/v3/positionRisk entries, as Binance answers them
    positions: list[dict[str, Any]] = field(default_factory=list)
    # GET /fapi/v3/account assets
    assets: list[dict[str, Any]] = field(default_factory=lambda: [usdt("1000", "0", "1000")])
    # GET /fapi/v1/income entries (every type; the fake filters by incomeType and time)
    income: list[dict[str, Any]] = field(default_factory=list)
    dual_side: bool = False
    # POST /fapi/v1/order: an error (HTTP status, code, msg) instead of a new order
    order_error: tuple[int, int, str] | None = None
    sent: list[Sent] = field(default_factory=list)

    def market_id(self, symbol: str) -> str:
        return symbol.split(":")[0].replace("/", "")

    def error(self, exc: Exception) -> Answer:
        if isinstance(exc, ccxt.RateLimitExceeded):
            return Answer(429, {"code": -1003, "msg": "Too many requests."})
        return Answer(400, {"code": -1000, "msg": str(exc)})

    def last(self, path: str) -> Sent:
        return next(s for s in reversed(self.sent) if s.path == path)

    async def handle(
        self, method: str, url: yarl.URL, headers: Mapping[str, str], data: bytes | None
    ) -> tuple[int, dict[str, str], str]:
        raw = url.raw_query_string if method in ("GET", "DELETE") else (data or b"").decode()
        params = dict(parse_qsl(raw))
        self.sent.append(Sent(method, url.host or "", url.path, params))
        if "signature" in params:
            self._check(raw, headers)
        return await super().handle(method, url, headers, data)

    def _check(self, raw: str, headers: Mapping[str, str]) -> None:
        """Binance's checks of a signed request; a failure is recorded as an assertion."""
        payload, _, signature = raw.rpartition("&signature=")
        digest = hmac.new(CREDENTIALS["secret"].encode(), payload.encode(), hashlib.sha256)
        assert signature == digest.hexdigest(), "bad signature"
        assert {k.upper(): v for k, v in headers.items()}["X-MBX-APIKEY"] == CREDENTIALS["apiKey"]
        params = dict(parse_qsl(payload))
        window = int(params.get("recvWindow", "5000"))
        assert abs(int(params["timestamp"]) - int(time.time() * 1000)) < window

    def routes(self) -> dict[tuple[str, str], Handler]:
        return {
            ("GET", "/fapi/v1/time"): self.time,
            ("GET", "/fapi/v1/exchangeInfo"): self.exchange_info,
            ("GET", "/fapi/v1/leverageBracket"): self.brackets,
            ("GET", "/fapi/v3/positionRisk"): self.position_risk,
            ("GET", "/fapi/v3/account"): self.account,
            ("GET", "/fapi/v1/premiumIndex"): self.premium_index,
            ("GET", "/fapi/v1/income"): self.income_history,
            ("GET", "/fapi/v1/positionSide/dual"): self.position_side,
            ("POST", "/fapi/v1/order"): self.create,
            ("POST", "/sapi/v1/asset/transfer"): self.transfer,
        }

    async def time(self, request: Request) -> Any:
        return {"serverTime": int(time.time() * 1000)}

    async def exchange_info(self, request: Request) -> Any:
        return {
            "timezone": "UTC",
            "serverTime": int(time.time() * 1000),
            "futuresType": "U_MARGINED",
            "rateLimits": [],
            "exchangeFilters": [],
            "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"}],
            "symbols": CONTRACTS,
        }

    async def brackets(self, request: Request) -> Any:
        bracket = {
            "bracket": 1,
            "initialLeverage": 125,
            "notionalCap": 50000,
            "notionalFloor": 0,
            "maintMarginRatio": 0.004,
            "cum": 0.0,
        }
        return [{"symbol": c["symbol"], "brackets": [bracket]} for c in CONTRACTS]

    async def position_risk(self, request: Request) -> Any:
        symbol = request.param("symbol")
        return [p for p in self.positions if symbol is None or p["symbol"] == symbol]

    async def account(self, request: Request) -> Any:
        wallet = sum(float(a["walletBalance"]) for a in self.assets)
        return {
            "totalInitialMargin": "0.00000000",
            "totalMaintMargin": "0.00000000",
            "totalWalletBalance": f"{wallet:.8f}",
            "totalUnrealizedProfit": "0.00000000",
            "totalMarginBalance": f"{wallet:.8f}",
            "totalPositionInitialMargin": "0.00000000",
            "totalOpenOrderInitialMargin": "0.00000000",
            "totalCrossWalletBalance": f"{wallet:.8f}",
            "totalCrossUnPnl": "0.00000000",
            "availableBalance": f"{wallet:.8f}",
            "maxWithdrawAmount": f"{wallet:.8f}",
            "assets": self.assets,
            "positions": [],
        }

    async def premium_index(self, request: Request) -> Any:
        rows = [
            ("BTCUSDT", "50012.50000000", "50000.12345678", "0.00010000"),
            ("ETHUSDT", "2499.10000000", "2500.00000000", "-0.00002500"),
        ]
        return [
            {
                "symbol": s,
                "markPrice": mark,
                "indexPrice": index,
                "estimatedSettlePrice": index,
                "lastFundingRate": rate,
                "interestRate": "0.00010000",
                "nextFundingTime": 1765008000000,
                "time": 1764990000000,
            }
            for s, mark, index, rate in rows
        ]

    async def income_history(self, request: Request) -> Any:
        kind = request.param("incomeType")
        start = int(request.param("startTime", 0))
        limit = int(request.param("limit", 100))
        rows = [
            r
            for r in self.income
            if (kind is None or r["incomeType"] == kind) and r["time"] >= start
        ]
        return sorted(rows, key=lambda r: r["time"])[:limit]

    async def position_side(self, request: Request) -> Any:
        return {"dualSidePosition": self.dual_side}

    async def create(self, request: Request) -> Any:
        if self.order_error is not None:
            status, code, msg = self.order_error
            raise Answer(status, {"code": code, "msg": msg})
        p = request.param
        return {
            "clientOrderId": p("newClientOrderId"),
            "cumQty": "0",
            "cumQuote": "0.00000",
            "executedQty": "0",
            "orderId": 4011456390,
            "avgPrice": "0.00",
            "origQty": p("quantity"),
            "price": p("price"),
            "reduceOnly": p("reduceOnly") == "true",
            "side": p("side"),
            "positionSide": p("positionSide", "BOTH"),
            "status": "NEW",
            "stopPrice": "0.00",
            "closePosition": False,
            "symbol": p("symbol"),
            "timeInForce": p("timeInForce", "GTC"),
            "type": p("type"),
            "origType": p("type"),
            "updateTime": 1764990000000,
            "workingType": "CONTRACT_PRICE",
            "priceProtect": False,
            "priceMatch": "NONE",
            "selfTradePreventionMode": "EXPIRE_MAKER",
            "goodTillDate": 0,
        }

    async def transfer(self, request: Request) -> Any:
        return {"tranId": 13526853623}
