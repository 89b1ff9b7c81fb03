"""The order state machine: the table, and hypothesis-driven sessions against the engine."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from backend.core.errors import Conflict
from backend.trading.domain import OrderType, Side, TimeInForce
from backend.trading.state import TERMINAL, TRANSITIONS, IllegalTransition, OrderStatus, Trigger, next_status

from .conftest import make_engine

S, T = OrderStatus, Trigger


def test_table_happy_path_then_reaches_filled() -> None:
    s = S.INITIALISED
    for t in (T.SUBMIT, T.ACCEPT, T.FILL_PARTIAL, T.FILL_PARTIAL, T.FILL):
        s = next_status(s, t)
    assert s is S.FILLED


@pytest.mark.parametrize("status", sorted(TERMINAL, key=lambda s: s.value))
@pytest.mark.parametrize("trigger", list(Trigger))
def test_terminal_status_when_any_trigger_then_illegal(status, trigger) -> None:
    with pytest.raises(IllegalTransition) as e:
        next_status(status, trigger)
    assert e.value.status == 409 and e.value.extra["status"] == status.value


def test_every_edge_in_table_leaves_a_non_terminal_state() -> None:
    assert all(src not in TERMINAL for src, _ in TRANSITIONS)
    assert (S.INITIALISED, T.FILL) not in TRANSITIONS and (S.SUBMITTED, T.FILL) not in TRANSITIONS


class EngineSession(RuleBasedStateMachine):
    """Random submits, cancels, amends and market moves; invariants after every step."""

    def __init__(self) -> None:
        super().__init__()
        self.eng = make_engine()
        self.mid = 100.0
        self.eng.on_quote("AAA", 99.99, 100.01, 500, 500)
        self.seen: dict[str, object] = {}
        self.terminal: dict[str, tuple] = {}

    def _record(self, eff) -> None:  # noqa: ANN001
        for o, status in eff.transitions:
            if o.id in self.terminal:
                raise AssertionError(f"terminal order {o.id} moved to {status}")
            self.seen[o.id] = o
            if status in TERMINAL:
                self.terminal[o.id] = (o.status, o.filled_qty)

    @rule(side=st.sampled_from(list(Side)), typ=st.sampled_from(list(OrderType)), qty=st.integers(1, 400),
          off=st.integers(-20, 20), tif=st.sampled_from(list(TimeInForce)))
    def submit(self, side, typ, qty, off, tif) -> None:  # noqa: ANN001
        kw = {}
        if typ in (OrderType.LIMIT, OrderType.STOP_LIMIT):
            kw["limit_price"] = round(self.mid + off * 0.01, 2)
        if typ in (OrderType.STOP, OrderType.STOP_LIMIT):
            kw["stop_price"] = round(self.mid - off * 0.01, 2)
        if typ is OrderType.MARKET and tif in (TimeInForce.GTC, TimeInForce.DAY):
            tif = TimeInForce.IOC
        _, eff = self.eng.submit(account_id="acc", symbol="AAA", side=side, type=typ, qty=float(qty), tif=tif, **kw)
        self._record(eff)

    @precondition(lambda self: self.eng.orders)
    @rule(i=st.integers(0, 10_000))
    def cancel(self, i) -> None:  # noqa: ANN001
        oid = sorted(self.eng.orders)[i % len(self.eng.orders)]
        self._record(self.eng.cancel(oid)[1])

    @precondition(lambda self: self.eng.orders)
    @rule(i=st.integers(0, 10_000), qty=st.integers(1, 500))
    def amend(self, i, qty) -> None:  # noqa: ANN001
        o = self.eng.orders[sorted(self.eng.orders)[i % len(self.eng.orders)]]
        if qty > o.filled_qty:
            self._record(self.eng.amend(o.id, qty=float(qty))[1])

    @rule(step=st.integers(-10, 10), size=st.integers(1, 1000))
    def quote(self, step, size) -> None:  # noqa: ANN001
        self.mid = round(max(90.0, min(110.0, self.mid + step * 0.01)), 2)
        self._record(self.eng.on_quote("AAA", round(self.mid - 0.01, 2), round(self.mid + 0.01, 2), size, size))

    @rule(step=st.integers(-10, 10))
    def trade(self, step) -> None:  # noqa: ANN001
        self._record(self.eng.on_trade("AAA", round(self.mid + step * 0.01, 2), 10))

    @rule(i=st.integers(0, 10_000))
    def illegal_cancel_of_terminal(self, i) -> None:  # noqa: ANN001
        if self.terminal:
            oid = sorted(self.terminal)[i % len(self.terminal)]
            with pytest.raises(Conflict):
                self.eng.cancel(oid)

    @invariant()
    def orders_consistent(self) -> None:
        for oid, o in self.seen.items():
            assert -1e-9 <= o.filled_qty <= o.qty + 1e-9
            if o.status is S.FILLED:
                assert abs(o.filled_qty - o.qty) < 1e-9
            if o.status in TERMINAL:
                assert oid not in self.eng.orders
                assert self.terminal[oid] == (o.status, o.filled_qty)
            else:
                assert oid in self.eng.orders
        for v in self.eng.venues.values():
            b = v.books.get("AAA")
            if b and b.best_bid() is not None and b.best_ask() is not None:
                assert b.best_bid() < b.best_ask()
            for e in (b.user_entries() if b else []):
                o = self.eng.orders[e.order_id]
                assert abs(e.qty - o.leaves_qty) < 1e-9 and o.resting_venue == v.name

    @invariant()
    def position_equals_fills(self) -> None:
        net = sum(o.side.sign * o.filled_qty for o in self.seen.values())
        assert abs(self.eng.ledger.net_qty("acc", "AAA") - net) < 1e-6


TestEngineSession = EngineSession.TestCase
TestEngineSession.settings = settings(max_examples=40, stateful_step_count=40, deadline=None)
