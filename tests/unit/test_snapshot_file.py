"""Snapshot files: exact numbers, clear errors naming the place of the problem."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.errors import SnapshotError
from bot.snapshot import load_snapshot, parse_snapshot


def minimal() -> dict[str, Any]:
    return {
        "balances": {"BTC": "1.5", "USDT": 1000},
        "markets": {
            "BTC/USDT": {"amount_step": "0.0001", "price_tick": "0.01", "taker_fee": 0.001}
        },
        "books": {"BTC/USDT": {"bids": [["99.5", "2"], ["100", "1"]], "asks": [["101", "3"]]}},
    }


def test_parses_exact_values_and_sorts_levels() -> None:
    snap = parse_snapshot(json.loads(json.dumps(minimal()), parse_float=Decimal, parse_int=Decimal))
    assert snap.balances == {"BTC": Decimal("1.5"), "USDT": Decimal(1000)}
    m = snap.markets["BTC/USDT"]
    assert (m.base, m.quote, m.taker_fee) == ("BTC", "USDT", Decimal("0.001"))
    book = snap.books["BTC/USDT"]
    assert book.best_bid == Decimal("100") and book.best_ask == Decimal("101")


def test_example_snapshot_loads() -> None:
    snap = load_snapshot(Path("config/snapshots/demo.json"))
    assert set(snap.books) <= set(snap.markets)
    assert snap.balances["BTC"] == Decimal("5.79")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("books"), "books: missing"),
        (lambda d: d["balances"].update(BTC="-1"), "balances.BTC: must be >= 0"),
        (lambda d: d["balances"].update(BTC="lots"), "balances.BTC: expected a number"),
        (lambda d: d["markets"].update({"BTCUSDT": {}}), "markets.BTCUSDT: a symbol is BASE/QUOTE"),
        (lambda d: d["markets"]["BTC/USDT"].pop("amount_step"), "amount_step: missing"),
        (lambda d: d["markets"]["BTC/USDT"].update(amount_step="0"), "amount_step must be > 0"),
        (lambda d: d["markets"]["BTC/USDT"].update(lot="1"), "unknown field(s) lot"),
        (lambda d: d["books"].update({"ETH/USDT": {"bids": [], "asks": []}}), "no such market"),
        (lambda d: d["books"]["BTC/USDT"].update(bids=[["0", "1"]]), "bids[0]: price must be > 0"),
    ],
)
def test_bad_snapshots_name_the_problem(tmp_path: Path, mutate: Any, message: str) -> None:
    data = minimal()
    mutate(data)
    path = tmp_path / "snap.json"
    path.write_text(json.dumps(data))
    with pytest.raises(SnapshotError, match=None) as info:
        load_snapshot(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)


def test_unreadable_snapshot(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match="not found"):
        load_snapshot(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(SnapshotError, match="invalid JSON"):
        load_snapshot(bad)
