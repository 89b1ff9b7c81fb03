"""Positions and P&L against hand-computed cases."""

from __future__ import annotations

import pytest

from backend.trading.positions import Position, replay


def test_adding_then_reducing_then_flipping_when_hand_computed() -> None:
    p = Position("a", "s", "X")
    p.apply(100, 10.0, 1.0)  # long 100 @ 10
    p.apply(50, 13.0, 0.5)  # avg = (100*10 + 50*13) / 150 = 11
    assert p.qty == 150 and p.avg_cost == pytest.approx(11.0)
    r = p.apply(-60, 12.0, 0.6)  # realise 60 * (12 - 11) = 60
    assert r == pytest.approx(60.0) and p.qty == 90 and p.avg_cost == pytest.approx(11.0)
    r = p.apply(-140, 10.0, 1.4)  # close 90 at -1 each = -90; open short 50 @ 10
    assert r == pytest.approx(-90.0) and p.qty == -50 and p.avg_cost == pytest.approx(10.0)
    assert p.realised_pnl == pytest.approx(-30.0) and p.fees == pytest.approx(3.5)
    assert p.unrealised(9.0) == pytest.approx(50.0)  # short 50 from 10, marked at 9


def test_replay_cash_when_round_trip_then_equals_pnl_minus_fees() -> None:
    rows = [("a", "s", "X", 100.0, 10.0, 1.0), ("a", "s", "X", -100.0, 12.0, 1.2)]
    positions, cash = replay(rows)
    p = positions[("a", "s", "X")]
    assert p.qty == 0 and p.realised_pnl == pytest.approx(200.0)
    assert cash["a"] == pytest.approx(200.0 - 2.2)
