"""Positions and P&L against an independent ledger written here, hand-computed cases and the cash identity.

The oracle ledger keeps a signed cost basis (money paid for the open quantity) instead of an average
price, and realises ``proceeds of the closed part - the basis it takes out``: the same definition of
average-cost P&L, by different arithmetic. Two identities need no ledger at all:
  - at any mark, realised + unrealised = cash flows from trades + quantity x mark (fees apart);
  - once flat, realised P&L - fees = the change in cash.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.trading.domain import OrderType, Side, TimeInForce
from backend.trading.engine import TradingEngine
from backend.trading.positions import Position, replay
from backend.trading.pre_trade import RiskLimits

from .conftest import make_engine


class OracleBook:
    """One instrument's position by cost basis; cash moves by -signed qty x price - fee."""

    def __init__(self) -> None:
        self.qty = 0.0
        self.basis = 0.0  # signed: sum of signed qty x price of the open quantity (average-cost pooled)
        self.realised = 0.0
        self.fees = 0.0
        self.cash = 0.0

    def fill(self, signed_qty: float, price: float, fee: float) -> None:
        self.cash -= signed_qty * price + fee
        self.fees += fee
        if self.qty == 0 or (self.qty > 0) == (signed_qty > 0):
            self.qty += signed_qty
            self.basis += signed_qty * price
            return
        closing = min(abs(signed_qty), abs(self.qty))
        taken = self.basis * closing / abs(self.qty)  # the basis the closed part carried
        direction = 1.0 if self.qty > 0 else -1.0
        self.realised += direction * closing * price - taken
        self.basis -= taken
        self.qty += signed_qty
        opened = abs(signed_qty) - closing
        if abs(self.qty) < 1e-9:
            self.qty, self.basis = 0.0, 0.0
        if opened > 1e-9:  # through zero: the rest opens a new position at this price
            self.basis = math.copysign(opened, signed_qty) * price

    @property
    def avg_cost(self) -> float:
        return self.basis / self.qty if self.qty else 0.0

    def unrealised(self, mark: float) -> float:
        return self.qty * mark - self.basis


# ---- hand-computed cases ------------------------------------------------------------------------
def test_short_covered_at_a_profit_then_realised_is_positive_and_fees_apart() -> None:
    p = Position("a", "s", "X")
    p.apply(-100, 50.0, 2.0)  # short 100 @ 50
    r = p.apply(100, 45.0, 1.8)  # cover @ 45: gain 5 a share
    assert r == pytest.approx(500.0) and p.realised_pnl == pytest.approx(500.0)
    assert p.qty == 0 and p.avg_cost == 0 and p.fees == pytest.approx(3.8)


def test_short_covered_at_a_loss_then_realised_is_negative() -> None:
    p = Position("a", "s", "X")
    p.apply(-100, 50.0, 0.0)
    assert p.apply(100, 55.0, 0.0) == pytest.approx(-500.0)
    assert p.realised_pnl == pytest.approx(-500.0) and p.qty == 0


def test_short_partially_covered_then_rest_keeps_its_average_and_marks_to_market() -> None:
    p = Position("a", "s", "X")
    p.apply(-100, 50.0, 0.0)
    p.apply(-50, 56.0, 0.0)  # average short price (100*50 + 50*56) / 150 = 52
    assert p.qty == -150 and p.avg_cost == pytest.approx(52.0)
    assert p.apply(40, 45.0, 0.0) == pytest.approx(40 * 7.0)  # covers 40 at 45 against 52
    assert p.qty == -110 and p.avg_cost == pytest.approx(52.0)
    assert p.unrealised(50.0) == pytest.approx(110 * 2.0)  # short 110 from 52, marked at 50
    assert p.unrealised(53.0) == pytest.approx(-110 * 1.0)


def test_short_flipped_long_through_zero_then_closed_part_realised_and_rest_opens_at_fill() -> None:
    p = Position("a", "s", "X")
    p.apply(-100, 50.0, 0.0)
    assert p.apply(150, 48.0, 0.0) == pytest.approx(200.0)
    assert p.qty == 50 and p.avg_cost == pytest.approx(48.0)
    assert p.unrealised(49.0) == pytest.approx(50.0)


def test_long_flipped_short_then_closed_part_realised_and_rest_opens_at_fill() -> None:
    p = Position("a", "s", "X")
    p.apply(60, 20.0, 0.0)
    p.apply(40, 25.0, 0.0)  # 100 @ 22
    assert p.apply(-130, 21.0, 0.0) == pytest.approx(-100.0)  # 100 closed at -1
    assert p.qty == -30 and p.avg_cost == pytest.approx(21.0)
    assert p.unrealised(20.0) == pytest.approx(30.0)


def test_unrealised_without_mark_or_when_flat_then_zero() -> None:
    p = Position("a", "s", "X")
    assert p.unrealised(10.0) == 0.0
    p.apply(10, 5.0, 0.0)
    assert p.unrealised(None) == 0.0 and p.unrealised(6.0) == pytest.approx(10.0)
    d = p.as_dict(6.0)
    assert d["market_value"] == pytest.approx(60.0) and d["unrealised_pnl"] == pytest.approx(10.0)


def test_replay_cash_when_short_round_trip_then_pnl_minus_fees() -> None:
    rows = [("a", "s", "X", -10.0, 100.0, 0.5), ("a", "s", "X", 10.0, 90.0, 0.4), ("b", "s", "X", 5.0, 10.0, 0.0)]
    positions, cash = replay(rows)
    assert positions[("a", "s", "X")].realised_pnl == pytest.approx(100.0)
    assert cash["a"] == pytest.approx(100.0 - 0.9) and cash["b"] == pytest.approx(-50.0)


# ---- properties against the oracle --------------------------------------------------------------
FILLS = st.lists(
    st.tuples(st.integers(-60, 60).filter(bool), st.integers(1000, 3000), st.integers(0, 50)), min_size=1, max_size=40
)


@settings(max_examples=150, deadline=None)
@given(FILLS, st.integers(1000, 3000))
def test_any_fills_when_applied_then_position_equals_the_oracle_ledger(fills, mark_cents) -> None:
    p, o = Position("a", "s", "X"), OracleBook()
    for q, cents, fee_cents in fills:
        price, fee = cents / 100, fee_cents / 100
        p.apply(float(q), price, fee)
        o.fill(float(q), price, fee)
        assert p.qty == pytest.approx(o.qty, abs=1e-9)
        assert p.avg_cost == pytest.approx(abs(o.avg_cost), rel=1e-9, abs=1e-9)
        assert p.realised_pnl == pytest.approx(o.realised, rel=1e-9, abs=1e-7)
        assert p.fees == pytest.approx(o.fees, rel=1e-12, abs=1e-12)
    mark = mark_cents / 100
    assert p.unrealised(mark) == pytest.approx(o.unrealised(mark), rel=1e-9, abs=1e-7)
    # the identity: realised + unrealised = trade cash flows + value of what is held
    assert p.realised_pnl + p.unrealised(mark) == pytest.approx(o.cash + o.fees + o.qty * mark, rel=1e-9, abs=1e-6)
    _, cash = replay([("a", "s", "X", float(q), c / 100, f / 100) for q, c, f in fills])
    assert cash["a"] == pytest.approx(o.cash, rel=1e-12, abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(FILLS, st.integers(1000, 3000), st.integers(0, 50))
def test_any_session_when_flattened_then_realised_minus_fees_equals_cash_change(fills, close_cents, fee) -> None:
    rows = [("a", "s", "X", float(q), c / 100, f / 100) for q, c, f in fills]
    net = sum(q for q, _, _ in fills)
    if net:
        rows.append(("a", "s", "X", float(-net), close_cents / 100, fee / 100))
    positions, cash = replay(rows)
    p = positions[("a", "s", "X")]
    assert p.qty == 0
    assert p.realised_pnl - p.fees == pytest.approx(cash["a"], rel=1e-9, abs=1e-6)


# ---- through the engine -------------------------------------------------------------------------
def _engine() -> TradingEngine:
    eng = make_engine(RiskLimits(duplicate_window_s=None))
    eng.on_quote("AAA", 100.00, 100.02, 1000, 1000)
    return eng


def test_engine_short_rests_fills_then_covered_lower_then_profit_cash_and_account_view_by_hand() -> None:
    eng = _engine()
    start = eng.accounts["acc"].cash
    short = eng.submit(
        account_id="acc",
        symbol="AAA",
        side=Side.SHORT,
        type=OrderType.LIMIT,
        qty=10.0,
        limit_price=100.10,
        venue="ATLAS",
    )[0]
    eng.on_trade("AAA", 100.11, 1)  # traded through: filled at its limit as a maker on ATLAS
    cover = eng.submit(
        account_id="acc", symbol="AAA", side=Side.BUY, type=OrderType.LIMIT, qty=10.0, limit_price=99.50, venue="ATLAS"
    )[0]
    eng.on_trade("AAA", 99.49, 1)
    assert short.avg_fill_price == 100.10 and cover.avg_fill_price == 99.50
    fees = (100.10 * 10 + 99.50 * 10) * -0.2e-4  # ATLAS pays makers 0.2 bp
    p = eng.ledger.positions[("acc", "default", "AAA")]
    assert p.qty == 0 and p.realised_pnl == pytest.approx(6.0) and p.fees == pytest.approx(fees)
    acct = eng.accounts["acc"]
    assert acct.cash - start == pytest.approx(1001.0 - 995.0 - fees)
    view = eng.account_view(acct)
    assert view["realised_pnl"] == pytest.approx(6.0) and view["fees"] == pytest.approx(fees)
    assert view["equity"] == pytest.approx(start + 6.0 - fees)


def test_engine_short_covered_higher_then_loss_and_open_short_marked_against_its_price() -> None:
    eng = _engine()
    start = eng.accounts["acc"].cash
    eng.submit(
        account_id="acc",
        symbol="AAA",
        side=Side.SHORT,
        type=OrderType.LIMIT,
        qty=10.0,
        limit_price=100.10,
        venue="ATLAS",
    )
    eng.on_trade("AAA", 100.11, 1)
    eng.on_quote("AAA", 100.40, 100.42, 1000, 1000)
    view = eng.account_view(eng.accounts["acc"])
    assert view["unrealised_pnl"] == pytest.approx(-10 * (100.41 - 100.10))  # short, market rose
    assert view["gross_exposure"] == pytest.approx(10 * 100.41)
    eng.submit(
        account_id="acc", symbol="AAA", side=Side.BUY, type=OrderType.LIMIT, qty=4.0, limit_price=100.30, venue="ATLAS"
    )
    eng.on_trade("AAA", 100.29, 1)
    p = eng.ledger.positions[("acc", "default", "AAA")]
    assert p.qty == -6 and p.avg_cost == pytest.approx(100.10) and p.realised_pnl == pytest.approx(-0.8)
    fees = (100.10 * 10 + 100.30 * 4) * -0.2e-4
    assert eng.accounts["acc"].cash - start == pytest.approx(1001.0 - 401.2 - fees)
    assert eng.ledger.net_qty("acc", "AAA") == -6


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([Side.BUY, Side.SHORT, Side.SELL]),
            st.integers(1, 300),
            st.integers(-15, 15),
            st.sampled_from(["market", "limit", "quote"]),
            st.sampled_from(["s1", "s2"]),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_engine_any_session_when_oracle_replays_its_fills_then_positions_cash_and_view_agree(steps) -> None:
    eng = _engine()
    start = eng.accounts["acc"].cash
    fills = []
    mid = 100.01
    for side, qty, off, kind, strategy in steps:
        if kind == "quote":
            mid = round(100.01 + off * 0.05, 2)
            fills += eng.on_quote("AAA", round(mid - 0.01, 2), round(mid + 0.01, 2), qty * 5, qty * 5).fills
            continue
        kw = {"tif": TimeInForce.IOC} if kind == "market" else {"limit_price": round(mid + off * 0.01, 2)}
        typ = OrderType.MARKET if kind == "market" else OrderType.LIMIT
        fills += eng.submit(
            account_id="acc", symbol="AAA", side=side, type=typ, qty=float(qty), strategy=strategy, **kw
        )[1].fills
    books: dict[str, OracleBook] = {}
    for f in fills:
        books.setdefault(f.strategy, OracleBook()).fill(f.side.sign * f.qty, f.price, f.fee)
    mark = eng.marks["AAA"]
    for strategy, o in books.items():
        p = eng.ledger.positions[("acc", strategy, "AAA")]
        assert p.qty == pytest.approx(o.qty, abs=1e-9)
        assert p.realised_pnl == pytest.approx(o.realised, rel=1e-9, abs=1e-6)
        assert p.fees == pytest.approx(o.fees, rel=1e-9, abs=1e-9)
        assert p.unrealised(mark) == pytest.approx(o.unrealised(mark), rel=1e-9, abs=1e-6)
    acct = eng.accounts["acc"]
    assert acct.cash - start == pytest.approx(sum(o.cash for o in books.values()), rel=1e-12, abs=1e-6)
    net = sum(o.qty for o in books.values())
    assert eng.ledger.net_qty("acc", "AAA") == pytest.approx(net, abs=1e-9)
    view = eng.account_view(acct)
    assert view["realised_pnl"] == pytest.approx(sum(o.realised for o in books.values()), rel=1e-9, abs=1e-6)
    assert view["unrealised_pnl"] == pytest.approx(sum(o.unrealised(mark) for o in books.values()), abs=1e-6)
    assert view["equity"] == pytest.approx(acct.cash + net * mark, rel=1e-12)
    assert view["gross_exposure"] == pytest.approx(abs(net) * mark, rel=1e-12)
