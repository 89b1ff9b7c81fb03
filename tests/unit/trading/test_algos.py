"""Execution algorithm schedules against hand-computed cases."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from backend.core.errors import InvalidInput
from backend.trading import algos


def test_twap_when_not_divisible_then_lots_sum_to_total() -> None:
    assert algos.twap_schedule(1000, 3, 100) == [300, 300, 400]
    assert sum(algos.twap_schedule(1234, 7, 1)) == 1234


def test_volume_profile_and_vwap_schedule_when_hand_computed() -> None:
    d1, d2 = datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 1, 6, tzinfo=UTC)
    bars = [(d1.replace(hour=14, minute=0), 100.0), (d2.replace(hour=14, minute=0), 300.0),
            (d1.replace(hour=14, minute=1), 600.0), (d2.replace(hour=14, minute=1), 600.0)]
    prof = algos.volume_profile(bars)
    assert prof[14 * 60] == 200.0 and prof[14 * 60 + 1] == 600.0 and prof[0] == 0.0
    start = int(datetime(2026, 1, 7, 14, 0, tzinfo=UTC).timestamp() * 1e9)
    # two 60 s slices: midpoints at 14:00:30 and 14:01:30 -> weights 200 : 600
    assert algos.vwap_schedule(800, prof, start, 120, 2, 1) == [200, 600]


def test_vwap_when_no_volume_in_window_then_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        algos.vwap_schedule(100, [0.0] * 1440, 0, 60, 2, 1)


def test_pov_child_when_hand_computed() -> None:
    # 10% of 5,000 traded = 500 target; 120 done -> 380, rounded down to lots of 50 -> 350
    assert algos.pov_child_qty(0.10, 5000, 120, 10_000, 50) == 350
    assert algos.pov_child_qty(0.10, 5000, 500, 10_000, 1) == 0
    assert algos.pov_child_qty(0.50, 5000, 0, 1000, 1) == 1000  # capped at the parent quantity
