"""The order lifecycle against a transition table written out here, from the lifecycle's definition.

The expected table is not read from ``backend.trading.state``: a wrong edge there fails a cell here
instead of removing a case. Every status x trigger pair is tried. Then, through the engine, every way an
order can end (denied, rejected, cancelled, expired, filled, FOK/IOC remainders, kill switch, stops) must
bring the account's open-order totals back to zero, and a random session must keep those totals equal to a
recount of the orders still open.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.trading.domain import OrderType, Side, TimeInForce
from backend.trading.engine import TradingEngine
from backend.trading.pre_trade import RiskLimits
from backend.trading.state import OPEN, TERMINAL, IllegalTransition, OrderStatus, Trigger, next_status

from .conftest import make_engine

S, T = OrderStatus, Trigger

# The lifecycle (docs/architecture.md, ARCHITECTURE "Trading core"): an order is checked locally
# (denied) or submitted; the venue rejects or accepts it; an accepted order may be triggered (stops),
# filled in parts or in full, cancelled, expired, or amended (staying where it is).
_LIVE = ("accepted", "triggered", "partially_filled")
EXPECTED: dict[tuple[str, str], str] = {
    ("initialised", "submit"): "submitted",
    ("initialised", "deny"): "denied",
    ("submitted", "accept"): "accepted",
    ("submitted", "reject"): "rejected",
    ("accepted", "trigger"): "triggered",
    **{(s, "fill_partial"): "partially_filled" for s in _LIVE},
    **{(s, "fill"): "filled" for s in _LIVE},
    **{(s, "cancel"): "cancelled" for s in _LIVE},
    **{(s, "expire"): "expired" for s in _LIVE},
    **{(s, "amend"): s for s in _LIVE},
}
ALL_STATUSES = (
    "initialised",
    "denied",
    "submitted",
    "accepted",
    "rejected",
    "triggered",
    "partially_filled",
    "filled",
    "cancelled",
    "expired",
)
ALL_TRIGGERS = ("submit", "deny", "accept", "reject", "trigger", "fill_partial", "fill", "cancel", "expire", "amend")
EXPECTED_TERMINAL = {"denied", "rejected", "cancelled", "expired", "filled"}
EXPECTED_OPEN = {"submitted", "accepted", "triggered", "partially_filled"}


def test_statuses_and_triggers_are_exactly_the_lifecycle_ones() -> None:
    assert {s.value for s in OrderStatus} == set(ALL_STATUSES)
    assert {t.value for t in Trigger} == set(ALL_TRIGGERS)


@pytest.mark.parametrize("status", ALL_STATUSES)
@pytest.mark.parametrize("trigger", ALL_TRIGGERS)
def test_every_status_and_trigger_when_applied_then_as_the_written_table_says(status: str, trigger: str) -> None:
    want = EXPECTED.get((status, trigger))
    if want is None:
        with pytest.raises(IllegalTransition) as e:
            next_status(S(status), T(trigger))
        assert e.value.status == 409
    else:
        assert next_status(S(status), T(trigger)).value == want


def test_terminal_and_open_sets_when_compared_then_as_written() -> None:
    assert {s.value for s in TERMINAL} == EXPECTED_TERMINAL
    assert {s.value for s in OPEN} == EXPECTED_OPEN
    assert not (EXPECTED_TERMINAL & EXPECTED_OPEN)


# ---- account totals back to zero after every terminal transition ----------------------------------
def _totals(eng: TradingEngine, account: str = "acc") -> tuple[int, float, float, float]:
    r = eng.accounts[account].risk
    buy = sum(v[0] for v in r.open_leaves.values())
    sell = sum(v[1] for v in r.open_leaves.values())
    return r.open_count, r.open_notional, buy, sell


def _assert_zero(eng: TradingEngine) -> None:
    count, notional, buy, sell = _totals(eng)
    assert count == 0 and eng.orders == {}
    assert notional == pytest.approx(0.0, abs=1e-6)
    assert buy == pytest.approx(0.0, abs=1e-9) and sell == pytest.approx(0.0, abs=1e-9)


def _engine(**limits: object) -> TradingEngine:
    eng = make_engine(RiskLimits(duplicate_window_s=None, **limits))
    eng.on_quote("AAA", 100.00, 100.02, 1000, 1000)
    return eng


def _go(eng: TradingEngine, **kw: object):  # noqa: ANN202
    base = {"account_id": "acc", "symbol": "AAA", "side": Side.BUY, "type": OrderType.LIMIT, "qty": 10.0}
    base.update(kw)
    return eng.submit(**base)[0]


def test_resting_limit_when_open_then_totals_count_it_and_when_cancelled_then_zero() -> None:
    eng = _engine()
    o = _go(eng, limit_price=99.50)
    assert _totals(eng) == (1, pytest.approx(10 * 99.50), 10.0, 0.0)
    eng.cancel(o.id)
    assert o.status is S.CANCELLED
    _assert_zero(eng)


def test_resting_short_when_open_then_sell_leaves_and_when_filled_by_trade_then_zero() -> None:
    eng = _engine()
    o = _go(eng, side=Side.SHORT, limit_price=100.50, qty=7.0)
    assert _totals(eng) == (1, pytest.approx(7 * 100.50), 0.0, 7.0)
    eng.on_trade("AAA", 100.51, 1)
    assert o.status is S.FILLED
    _assert_zero(eng)


def _thin() -> TradingEngine:
    """A book with one simulated lot at the touch on ATLAS and none elsewhere."""
    eng = make_engine(RiskLimits(duplicate_window_s=None))
    eng.on_quote("AAA", 100.00, 100.02, 1, 1)
    return eng


def _hit_bid(eng: TradingEngine, qty: float) -> None:
    """A short IOC through the touch down to 99.50 on ATLAS: takes the simulated lot, then user bids."""
    taker = eng.submit(
        account_id="acc",
        symbol="AAA",
        side=Side.SHORT,
        type=OrderType.LIMIT,
        qty=qty,
        limit_price=99.50,
        tif=TimeInForce.IOC,
        venue="ATLAS",
    )[0]
    assert taker.status is S.FILLED


def test_partial_fill_then_remaining_leaves_counted_and_then_cancel_brings_zero() -> None:
    eng = _thin()
    o = _go(eng, limit_price=99.50, qty=10.0, venue="ATLAS")
    _hit_bid(eng, 5.0)
    assert o.status is S.PARTIALLY_FILLED and o.filled_qty == 4.0
    count, notional, buy, sell = _totals(eng)
    assert (count, buy, sell) == (1, 6.0, 0.0) and notional == pytest.approx(6 * 99.50)
    eng.cancel(o.id)
    _assert_zero(eng)


def test_day_order_when_expired_then_zero_and_partially_filled_day_order_too() -> None:
    eng = _thin()
    a = _go(eng, limit_price=99.50, tif=TimeInForce.DAY, venue="ATLAS")
    b = _go(eng, side=Side.SHORT, limit_price=100.60, tif=TimeInForce.DAY, qty=5.0)
    _hit_bid(eng, 4.0)
    assert a.status is S.PARTIALLY_FILLED
    eng.expire_due(max(a.expire_ns, b.expire_ns))
    assert a.status is S.EXPIRED and b.status is S.EXPIRED
    _assert_zero(eng)


@pytest.mark.parametrize("kind", ["denied", "rejected", "fok", "ioc", "market", "stop", "stop_cancel", "kill"])
def test_every_way_to_end_when_reached_then_account_totals_zero(kind: str) -> None:
    eng = _engine(max_order_qty=50)
    if kind == "denied":
        o = _go(eng, qty=51.0, limit_price=99.0)
        assert o.status is S.DENIED
    elif kind == "rejected":
        eng = make_engine(RiskLimits(duplicate_window_s=None))
        eng.on_trade("AAA", 100.0, 1)  # a mark, no book
        o = _go(eng, type=OrderType.MARKET, tif=None)
        assert o.status is S.REJECTED
    elif kind == "fok":
        o = _go(eng, qty=50.0, limit_price=99.0, tif=TimeInForce.FOK)
        assert o.status is S.CANCELLED
    elif kind == "ioc":
        o = _go(eng, qty=50.0, limit_price=99.0, tif=TimeInForce.IOC)
        assert o.status is S.CANCELLED
    elif kind == "market":
        o = _go(eng, type=OrderType.MARKET, qty=30.0, tif=None)
        assert o.status is S.FILLED
    elif kind == "stop":
        o = _go(eng, type=OrderType.STOP, stop_price=100.50)
        assert o.status is S.ACCEPTED and _totals(eng)[0] == 1
        eng.on_quote("AAA", 100.50, 100.52, 1000, 1000)
        assert o.status is S.FILLED
    elif kind == "stop_cancel":
        o = _go(eng, side=Side.SHORT, type=OrderType.STOP_LIMIT, stop_price=99.50, limit_price=99.40)
        eng.cancel(o.id)
        assert o.status is S.CANCELLED and eng.stops.get("AAA", {}) == {}
    else:
        _go(eng, limit_price=99.0)
        _go(eng, side=Side.SHORT, type=OrderType.STOP, stop_price=99.0)
        eng.set_kill(True, "acc", "test")
    _assert_zero(eng)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["buy", "short", "cancel", "amend", "quote", "trade"]),
            st.integers(1, 40),
            st.integers(-30, 30),
            st.sampled_from(list(TimeInForce)),
            st.sampled_from([OrderType.LIMIT, OrderType.STOP, OrderType.STOP_LIMIT]),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_random_session_when_every_step_then_totals_equal_recount_and_zero_after_expiry_and_cancel(steps) -> None:
    eng = _engine()
    mid = 100.01
    for kind, qty, off, tif, typ in steps:
        if kind in ("buy", "short"):
            side = Side.BUY if kind == "buy" else Side.SHORT
            kw: dict = {}
            if typ in (OrderType.LIMIT, OrderType.STOP_LIMIT):
                kw["limit_price"] = round(mid + off * 0.01, 2)
            if typ in (OrderType.STOP, OrderType.STOP_LIMIT):
                kw["stop_price"] = round(mid - off * 0.01, 2)
            eng.submit(account_id="acc", symbol="AAA", side=side, type=typ, qty=float(qty), tif=tif, **kw)
        elif kind == "cancel" and eng.orders:
            eng.cancel(sorted(eng.orders)[qty % len(eng.orders)])
        elif kind == "amend" and eng.orders:
            o = eng.orders[sorted(eng.orders)[qty % len(eng.orders)]]
            if qty > o.filled_qty:
                eng.amend(o.id, qty=float(qty))
        elif kind == "quote":
            mid = round(100.01 + off * 0.01, 2)
            eng.on_quote("AAA", round(mid - 0.01, 2), round(mid + 0.01, 2), qty * 10, qty * 10)
        elif kind == "trade":
            eng.on_trade("AAA", round(mid + off * 0.01, 2), 1)
        mine = list(eng.orders.values())
        count, _, buy, sell = _totals(eng)
        assert count == len(mine)
        assert all(o.status.value in EXPECTED_OPEN for o in mine)
        assert buy == pytest.approx(sum(o.qty - o.filled_qty for o in mine if o.side is Side.BUY), abs=1e-6)
        assert sell == pytest.approx(sum(o.qty - o.filled_qty for o in mine if o.side is not Side.BUY), abs=1e-6)
    eng.expire_due(eng.clock.now + 2 * 86_400 * 10**9)  # every DAY order's session has closed
    for oid in list(eng.orders):
        eng.cancel(oid)
    _assert_zero(eng)
