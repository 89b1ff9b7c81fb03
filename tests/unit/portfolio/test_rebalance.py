"""Rebalance planning: hand-computed plans, lots, minimum trade value, costs, drift triggers, cash."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.core.errors import InvalidInput
from engines.portfolio.compute.rebalance import plan
from engines.portfolio.models.rebalance import RebalanceRequest


def req(**kw) -> RebalanceRequest:  # noqa: ANN003
    base = {"holdings": [{"symbol": "A", "qty": 100}, {"symbol": "B", "qty": 50}], "cash": 5_000.0,
            "prices": {"A": 50.0, "B": 100.0, "C": 20.0}, "target_weights": {"A": 0.4, "B": 0.3, "C": 0.3}}
    return RebalanceRequest(**{**base, **kw})


def test_plan_when_hand_computed_then_orders_match():
    # NAV = 5000 + 100*50 + 50*100 = 15000; targets: A 6000 -> 120, B 4500 -> 45, C 4500 -> 225
    p = plan(req())
    assert p.nav == 15_000 and p.triggered
    got = {(o.symbol, o.side, o.qty) for o in p.orders}
    assert got == {("A", "buy", 20), ("B", "sell", 5), ("C", "buy", 225)}
    assert [o.side for o in p.orders] == ["sell", "buy", "buy"]  # sells first
    assert p.cash_after == pytest.approx(5000 - 20 * 50 + 5 * 100 - 225 * 20)
    assert p.residual_max_drift == pytest.approx(0.0, abs=1e-12)


def test_plan_when_lots_then_quantities_are_lot_multiples():
    p = plan(req(lot_sizes={"C": 100.0, "A": 1.0, "B": 1.0}))
    c = next(o for o in p.orders if o.symbol == "C")
    assert c.qty == 200  # 225 rounds to 2 lots of 100
    assert p.residual_max_drift == pytest.approx(25 * 20 / 15_000)


def test_plan_when_small_trade_then_skipped_with_reason():
    p = plan(req(min_trade_value=600.0))
    assert {o.symbol for o in p.orders} == {"A", "C"}  # B's sell of 500 is under 600
    assert [s.symbol for s in p.skipped] == ["B"] and "min_trade_value" in p.skipped[0].reason


def test_plan_when_costs_then_buys_scaled_so_cash_never_negative():
    p = plan(req(costs={"commission_bps": 10, "half_spread_bps": 5, "fixed_per_order": 1.0}))
    cost = sum(o.notional * 15e-4 + 1.0 for o in p.orders)
    assert p.estimated_cost == pytest.approx(cost)
    assert p.cash_after >= 0 and p.cash_after == pytest.approx(
        5000 - sum(o.notional * (1 if o.side == "buy" else -1) for o in p.orders) - cost)


def test_plan_when_drift_under_threshold_then_not_triggered_and_no_orders():
    p = plan(req(target_weights={"A": 1 / 3, "B": 1 / 3, "C": 1 / 3 - 0.0}, prices={"A": 50.0, "B": 100.0, "C": 20.0},
                 drift={"threshold": 0.5}))
    assert not p.triggered and p.orders == [] and "not due" in p.reason


def test_plan_when_calendar_due_then_triggered():
    d = {"calendar_days": 30, "last_rebalance": dt.date(2024, 1, 1), "as_of": dt.date(2024, 2, 5)}
    assert plan(req(drift=d)).triggered
    assert not plan(req(drift={**d, "as_of": dt.date(2024, 1, 20)})).triggered


def test_plan_when_targets_do_not_sum_to_budget_then_invalid_naming_target_weights():
    with pytest.raises(InvalidInput) as e:
        plan(req(target_weights={"A": 0.5, "B": 0.3}))
    assert e.value.field == "target_weights"


@settings(max_examples=60, deadline=None)
@given(cash=st.floats(0, 1e6), qa=st.integers(0, 5000), qb=st.integers(0, 5000), wa=st.floats(0, 1),
       bps=st.floats(0, 50), fixed=st.floats(0, 20), lot=st.sampled_from([1.0, 10.0, 100.0]))
def test_plan_property_cash_after_never_negative_and_no_short(cash, qa, qb, wa, bps, fixed, lot):
    r = RebalanceRequest(holdings=[{"symbol": "A", "qty": qa}, {"symbol": "B", "qty": qb}], cash=cash,
                         prices={"A": 37.5, "B": 112.25}, target_weights={"A": wa, "B": 1 - wa},
                         lot_sizes={"A": lot, "B": lot}, costs={"commission_bps": bps, "fixed_per_order": fixed})
    if cash + qa * 37.5 + qb * 112.25 <= 0:
        return
    p = plan(r)
    assert p.cash_after >= -1e-6
    held = {"A": qa, "B": qb}
    for o in p.orders:
        assert o.qty % lot == 0
        if o.side == "sell":
            assert o.qty <= held[o.symbol]
