"""Smart order router allocation and execution quality against hand-computed cases."""

from __future__ import annotations

import pytest

from backend.trading import router
from backend.trading.venues import SimulatedVenue, VenueProfile


def venue(name: str, taker_bps: float, latency_ms: float, asks: list[tuple[float, float]]) -> SimulatedVenue:
    v = SimulatedVenue(VenueProfile(name, 0.0, taker_bps, latency_ms, 0, 1, 1, 0))
    for i, (p, q) in enumerate(asks):
        v.book("X").rest(f"{name}{i}", "mm", False, p, q)
    return v


def test_allocation_when_cheaper_venue_has_worse_price_then_scored_all_in() -> None:
    # A: 100.00 with 10 bps taker -> 100.10 all-in; B: 100.05 with 0 bps -> 100.05 (latency penalty 0)
    a = venue("A", 10.0, 0.0, [(100.00, 50)])
    b = venue("B", 0.0, 0.0, [(100.05, 30), (100.20, 100)])
    d = router.allocate([a, b], "X", True, 60, None, latency_penalty_bps_per_ms=0.0)
    alloc = {x.venue: x for x in d.allocations}
    assert alloc["B"].qty == 30 and alloc["A"].qty == 30  # B's 30 first, then A (100.10 < 100.20)
    assert alloc["A"].worst_price == 100.00 and alloc["B"].expected_avg_price == pytest.approx(100.05)
    assert d.unallocated_qty == 0


def test_allocation_when_latency_penalised_then_equal_prices_go_to_faster_venue() -> None:
    slow = venue("SLOW", 0.0, 10.0, [(100.0, 10)])
    fast = venue("FAST", 0.0, 1.0, [(100.0, 10)])
    d = router.allocate([slow, fast], "X", True, 10, None)
    assert [x.venue for x in d.allocations] == ["FAST"]


def test_allocation_when_limit_binds_then_remainder_unallocated() -> None:
    a = venue("A", 0.0, 0.0, [(100.0, 10), (101.0, 10)])
    d = router.allocate([a], "X", True, 25, 100.5)
    assert d.allocations[0].qty == 10 and d.unallocated_qty == 15


def test_quality_when_hand_computed() -> None:
    q = router.quality(True, 100, 100.0, [(100.10, 50, 0.5), (100.30, 30, 0.3)])
    avg = (100.10 * 50 + 100.30 * 30) / 80
    assert q["fill_rate"] == 0.8 and q["avg_price"] == pytest.approx(avg)
    assert q["shortfall_bps"] == pytest.approx((avg - 100.0) / 100.0 * 1e4)
    assert q["fee_bps"] == pytest.approx(0.8 / (avg * 80) * 1e4)
    sell = router.quality(False, 10, 100.0, [(99.9, 10, 0.0)])
    assert sell["shortfall_bps"] == pytest.approx(10.0)
