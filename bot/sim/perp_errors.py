"""The futures simulator's refusals: ccxt's classes, as ccxt's binanceusdm raises them for
Binance's replies, each message ending in "(code msg)" with Binance's own code and text.

A front that serves the simulator as Binance's /fapi API reads them back with `binance_code`.
"""

from __future__ import annotations

import re

import ccxt

MARGIN_INSUFFICIENT = (-2019, "Margin is insufficient.")
REDUCE_ONLY_REJECTED = (-2022, "ReduceOnly Order is rejected.")
REDUCE_ONLY_NOT_REQUIRED = (-1106, "Parameter 'reduceonly' sent when not required.")
POSITION_SIDE_MISMATCH = (-4061, "Order's position side does not match user's setting.")
LEVERAGE_INVALID = (-4028, "Leverage {} is not valid")
MARGIN_TYPE_SAME = (-4046, "No need to change margin type.")
MARGIN_TYPE_ORDERS = (-4047, "Margin type cannot be changed if there exists open orders.")
MARGIN_TYPE_POSITION = (-4048, "Margin type cannot be changed if there exists position.")
POSITION_MODE_SAME = (-4059, "No need to change position side.")
POSITION_MODE_ORDERS = (-4067, "Position side cannot be changed if there exists open orders.")
POSITION_MODE_POSITION = (-4068, "Position side cannot be changed if there exists position.")
ISOLATED_ONLY = (-4051, "Isolated balance insufficient.")
POST_ONLY_REJECTED = (
    -5022,
    "Due to the order could not be executed as maker, the Post Only order will be rejected.",
)
BALANCE_INSUFFICIENT = (-5013, "Asset transfer failed: insufficient balance")

_CODE = re.compile(r"\((-\d+) (.+)\)$")


def refusal(
    cls: type[ccxt.BaseError], exchange_id: str, why: str, code: tuple[int, str]
) -> ccxt.BaseError:
    """`cls` with the message "<exchange> <why> (<code> <msg>)"."""
    return cls(f"{exchange_id} {why} ({code[0]} {code[1]})")


def binance_code(exc: BaseException) -> tuple[int, str] | None:
    """The Binance (code, msg) a refusal made by `refusal` carries; None for any other error."""
    found = _CODE.search(str(exc))
    if found is None:
        return None
    return int(found.group(1)), found.group(2)
