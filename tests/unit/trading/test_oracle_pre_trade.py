"""Pre-trade checks as properties: side x order type x time in force x existing position x resting orders.

A plain reference written here from the definitions of the limits (``RiskLimits`` and docs) says which
checks an order violates, from state the test tracks itself (the fills it saw, the orders it left
resting, the cash it started with). The engine must deny exactly when the reference finds a violation,
with the code of one of the violated checks; an order the reference passes must not be denied.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.trading.domain import OrderType, Side, TimeInForce
from backend.trading.engine import TradingEngine
from backend.trading.pre_trade import RiskLimits
from backend.trading.state import OrderStatus

from .conftest import make_engine

TOL = 1e-9
BID, ASK = 100.00, 100.02
MARK = (BID + ASK) / 2  # the engine marks an instrument at the quote's mid


@dataclass
class Probe:
    side: Side
    type: OrderType
    tif: TimeInForce
    qty: float
    limit: float | None
    stop: float | None


@dataclass
class Seen:
    """What the test itself knows about the account before the probe."""

    cash: float
    position: float = 0.0
    resting: list[tuple[Side, float, float]] = field(default_factory=list)  # side, qty, limit
    accepted: int = 0  # submissions accepted (the rate window)


def _on_grid(p: float, step: str) -> bool:
    return Decimal(repr(p)) % Decimal(step) == 0


def reference(o: Probe, s: Seen, lim: RiskLimits, killed: bool) -> set[str]:
    """Every check the order violates, by the definitions of the limits."""
    bad: set[str] = set()
    if killed:
        bad.add("TRADING_HALTED")
    if o.qty <= 0 or not _on_grid(o.qty, "1"):
        bad.add("QUANTITY_INVALID_LOT")
    for p in (o.limit, o.stop):
        if p is not None and (p <= 0 or not _on_grid(p, "0.01")):
            bad.add("PRICE_INVALID_TICK")
    if lim.max_order_qty is not None and o.qty > lim.max_order_qty:
        bad.add("QUANTITY_EXCEEDS_MAXIMUM")
    ref = o.limit if o.limit is not None else o.stop if o.stop is not None else MARK  # limit, stop, else last
    notional = o.qty * ref
    if lim.max_order_notional is not None and notional > lim.max_order_notional + TOL:
        bad.add("NOTIONAL_EXCEEDS_MAX_PER_ORDER")
    if lim.price_collar_pct is not None:
        for p in (o.limit, o.stop):
            if p is not None and abs(p - MARK) > MARK * lim.price_collar_pct / 100 + TOL:
                bad.add("PRICE_OUTSIDE_COLLAR")
    sell_resting = sum(q for side, q, _ in s.resting if side is not Side.BUY)
    buy_resting = sum(q for side, q, _ in s.resting if side is Side.BUY)
    if o.side is Side.SELL and o.qty > s.position - sell_resting + TOL:  # a sell only reduces a long
        bad.add("SELL_EXCEEDS_LONG_POSITION")
    if lim.max_position_qty is not None:
        if o.side is Side.BUY:
            projected = s.position + buy_resting + o.qty
        else:
            projected = s.position - sell_resting - o.qty
        # over the limit is allowed only for an order that strictly shrinks |position| (a flip to the same
        # size on the other side is a new position, not a reduction)
        if abs(projected) > lim.max_position_qty + TOL and abs(projected) >= abs(s.position):
            bad.add("POSITION_LIMIT_EXCEEDED")
    same_way = (o.side is Side.BUY) == (s.position > 0)
    increases = s.position == 0 or same_way or o.qty > abs(s.position)
    gross = abs(s.position) * MARK
    if lim.max_gross_exposure is not None and increases and gross + notional > lim.max_gross_exposure + TOL:
        bad.add("GROSS_EXPOSURE_EXCEEDED")
    if lim.max_open_orders is not None and len(s.resting) >= lim.max_open_orders:
        bad.add("OPEN_ORDERS_EXCEEDED")
    if lim.max_orders_per_window is not None and s.accepted >= lim.max_orders_per_window:
        bad.add("RATE_LIMIT_EXCEEDED")
    if increases:
        equity = s.cash + s.position * MARK
        reserved = sum(q * px for _, q, px in s.resting)
        available = equity - (gross + reserved) * lim.margin_rate
        if notional * lim.margin_rate > available + TOL:
            bad.add("INSUFFICIENT_BUYING_POWER")
    return bad


def _setup(positions: list[int], resting: list[tuple[bool, int, int]], cash: float) -> tuple[TradingEngine, Seen]:
    eng = make_engine(
        RiskLimits(
            duplicate_window_s=None,
            max_order_notional=None,
            max_gross_exposure=None,
            max_position_qty=None,
            margin_rate=0.0,
        ),
        cash=cash,
    )
    eng.on_quote("AAA", BID, ASK, 100_000, 100_000)
    seen = Seen(cash=cash)
    for q in positions:  # market orders against deep liquidity: the fills are the facts we track
        side = Side.BUY if q > 0 else Side.SHORT
        o, eff = eng.submit(account_id="acc", symbol="AAA", side=side, type=OrderType.MARKET, qty=float(abs(q)))
        assert o.status is OrderStatus.FILLED
        seen.accepted += 1
        for f in eff.fills:
            seen.position += f.side.sign * f.qty
            seen.cash -= f.side.sign * f.qty * f.price + f.fee
    for is_buy, q, ticks in resting:  # passive: buys below the bid, sells above the ask
        side = Side.BUY if is_buy else Side.SHORT
        px = round(BID - ticks * 0.01, 2) if is_buy else round(ASK + ticks * 0.01, 2)
        o, _ = eng.submit(account_id="acc", symbol="AAA", side=side, type=OrderType.LIMIT, qty=float(q), limit_price=px)
        assert o.status is OrderStatus.ACCEPTED and o.resting_venue is not None
        seen.accepted += 1
        seen.resting.append((side, float(q), px))
    return eng, seen


def _price(cents_from_mark: int, half_tick: bool) -> float:
    return round(MARK + cents_from_mark / 100 + (0.005 if half_tick else 0.0), 3)


@st.composite
def probes(draw: st.DrawFn) -> Probe:
    typ = draw(st.sampled_from(list(OrderType)))
    tif = draw(st.sampled_from([TimeInForce.IOC, TimeInForce.FOK] if typ is OrderType.MARKET else list(TimeInForce)))
    half = draw(st.sampled_from([False] * 9 + [True]))  # now and then a price off the tick grid
    limit = _price(draw(st.integers(-1200, 1200)), half) if typ in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None
    stop_half = draw(st.sampled_from([False] * 9 + [True]))
    stop = _price(draw(st.integers(-1200, 1200)), stop_half) if typ in (OrderType.STOP, OrderType.STOP_LIMIT) else None
    qty = draw(st.sampled_from([float(q) for q in range(1, 61)] + [2.5, 0.0]))
    return Probe(draw(st.sampled_from(list(Side))), typ, tif, qty, limit, stop)


LIMITS = st.builds(
    RiskLimits,
    max_order_qty=st.one_of(st.none(), st.integers(0, 60).map(float)),
    max_order_notional=st.one_of(st.none(), st.integers(0, 60).map(lambda k: k * 100.0)),
    price_collar_pct=st.one_of(st.none(), st.sampled_from([0.5, 2.0, 5.0, 10.0])),
    max_position_qty=st.one_of(st.none(), st.integers(0, 80).map(float)),
    max_gross_exposure=st.one_of(st.none(), st.integers(0, 100).map(lambda k: k * 100.0)),
    max_open_orders=st.one_of(st.none(), st.integers(0, 4)),
    max_orders_per_window=st.one_of(st.none(), st.integers(0, 7)),
    duplicate_window_s=st.none(),
    margin_rate=st.sampled_from([0.1, 0.5, 1.0]),
)


NONZERO = st.tuples(st.booleans(), st.integers(1, 30)).map(lambda t: t[1] if t[0] else -t[1])
STATE = {
    "positions": st.lists(NONZERO, max_size=3),
    "resting": st.lists(st.tuples(st.booleans(), st.integers(1, 30), st.integers(5, 40)), max_size=3),
    "cash": st.sampled_from([500.0, 2_000.0, 6_000.0, 1e7]),
}


def _assert_as_reference(probe: Probe, limits: RiskLimits, positions, resting, cash, killed: bool) -> None:  # noqa: ANN001
    eng, seen = _setup(positions, resting, cash)
    eng.accounts["acc"].risk.limits = limits
    if killed:
        eng.set_kill(True, "acc", "test")
        seen.resting.clear()
    before = eng.accounts["acc"].cash, eng.ledger.net_qty("acc", "AAA")
    want = reference(probe, seen, limits, killed)
    o, eff = eng.submit(
        account_id="acc",
        symbol="AAA",
        side=probe.side,
        type=probe.type,
        qty=probe.qty,
        tif=probe.tif,
        limit_price=probe.limit,
        stop_price=probe.stop,
    )
    if want:
        assert o.status is OrderStatus.DENIED, f"accepted; the reference finds {want}"
        assert o.denial.code in want
        assert eff.fills == [] and (eng.accounts["acc"].cash, eng.ledger.net_qty("acc", "AAA")) == before
        assert o.id not in eng.orders
    else:
        assert o.status is not OrderStatus.DENIED, (o.denial, probe, seen)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(probe=probes(), limits=LIMITS, killed=st.sampled_from([False] * 15 + [True]), **STATE)
def test_any_order_on_any_account_when_checked_then_denied_exactly_when_the_reference_finds_a_breach(
    probe: Probe, limits: RiskLimits, positions, resting, cash, killed
) -> None:
    _assert_as_reference(probe, limits, positions, resting, cash, killed)


#: one limit at a time (the others off), so that each check is often the only one an order breaches
ONE_LIMIT = {
    "max_order_qty": st.integers(0, 60).map(float),
    "max_order_notional": st.integers(0, 60).map(lambda k: k * 100.0),
    "price_collar_pct": st.sampled_from([0.5, 2.0, 5.0, 10.0]),
    "max_position_qty": st.integers(0, 80).map(float),
    "max_gross_exposure": st.integers(0, 100).map(lambda k: k * 100.0),
    "max_open_orders": st.integers(0, 4),
    "max_orders_per_window": st.integers(0, 7),
    "margin_rate": st.sampled_from([0.1, 0.5, 1.0]),
}
ALL_OFF = {k: None for k in ONE_LIMIT if k != "margin_rate"} | {"margin_rate": 0.0, "duplicate_window_s": None}


@pytest.mark.parametrize("name", list(ONE_LIMIT))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), probe=probes(), **STATE)
def test_one_limit_when_any_order_on_any_account_then_denied_exactly_when_the_reference_says(
    name: str, data: st.DataObject, probe: Probe, positions, resting, cash
) -> None:
    limits = RiskLimits(**(ALL_OFF | {name: data.draw(ONE_LIMIT[name], label=name)}))
    _assert_as_reference(probe, limits, positions, resting, cash, killed=False)


@pytest.mark.parametrize("side", [Side.SELL, Side.SHORT])
@pytest.mark.parametrize("typ", [OrderType.LIMIT, OrderType.STOP, OrderType.STOP_LIMIT, OrderType.MARKET])
def test_sell_side_order_when_position_limit_binds_then_short_side_projection_counts(side, typ) -> None:
    """Long 20, a resting short of 10: a sell of 25 ends at -15 (|15| <= 20 held: allowed); of 45 at -35."""
    eng, seen = _setup([20], [(False, 10, 20)], 1e7)
    eng.accounts["acc"].risk.limits = RiskLimits(max_position_qty=20, duplicate_window_s=None)
    kw = {}
    if typ in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        kw["limit_price"] = 99.90
    if typ in (OrderType.STOP, OrderType.STOP_LIMIT):
        kw["stop_price"] = 99.80
    small = eng.submit(
        account_id="acc", symbol="AAA", side=side, type=typ, qty=10.0 if side is Side.SELL else 25.0, **kw
    )[0]
    assert small.status is not OrderStatus.DENIED, small.denial
    eng2, _ = _setup([20], [(False, 10, 20)], 1e7)
    eng2.accounts["acc"].risk.limits = RiskLimits(max_position_qty=20, duplicate_window_s=None)
    big = eng2.submit(account_id="acc", symbol="AAA", side=Side.SHORT, type=typ, qty=45.0, **kw)[0]
    assert big.status is OrderStatus.DENIED and big.denial.code == "POSITION_LIMIT_EXCEEDED"
    assert big.denial.values["projected"] == pytest.approx(20 - 10 - 45)


def test_reducing_order_when_exposure_and_margin_are_exhausted_then_still_accepted() -> None:
    """Long 30 with no margin left: selling 30 or shorting 20 reduces exposure and must pass."""
    eng, _ = _setup([30], [], 1_000.0)
    eng.accounts["acc"].risk.limits = RiskLimits(max_gross_exposure=100.0, margin_rate=1.0, duplicate_window_s=None)
    for side, qty in ((Side.SELL, 30.0), (Side.SHORT, 20.0)):
        o = eng.submit(account_id="acc", symbol="AAA", side=side, type=OrderType.LIMIT, qty=qty, limit_price=101.0)[0]
        assert o.status is OrderStatus.ACCEPTED, o.denial
        eng.cancel(o.id)
    o = eng.submit(account_id="acc", symbol="AAA", side=Side.BUY, type=OrderType.LIMIT, qty=1.0, limit_price=99.0)[0]
    assert o.denial.code == "GROSS_EXPOSURE_EXCEEDED"


# ---- sliding windows at window - 1 ns, window, window + 1 ns -----------------------------------------
def _at(eng: TradingEngine, ns: int) -> None:
    """Make the engine's next clock reading ``ns`` (the conftest clock adds 1 us per reading)."""
    eng.clock.now = ns - 1_000


@pytest.mark.parametrize(("offset_ns", "counted"), [(-1, True), (0, False), (1, False)])
def test_order_rate_when_the_oldest_order_is_window_minus_at_or_past_then_counted_or_not(offset_ns, counted) -> None:
    """The window is the last ``rate_window_s``: an order exactly that old has left it."""
    eng, _ = _setup([], [], 1e7)
    eng.accounts["acc"].risk.limits = RiskLimits(max_orders_per_window=1, rate_window_s=0.5, duplicate_window_s=None)
    first = eng.submit(account_id="acc", symbol="AAA", side=Side.BUY, type=OrderType.LIMIT, qty=1.0, limit_price=99)[0]
    t0 = eng.accounts["acc"].risk.recent[-1]
    assert first.created_ns == t0
    _at(eng, t0 + 500_000_000 + offset_ns)
    o = eng.submit(account_id="acc", symbol="AAA", side=Side.BUY, type=OrderType.LIMIT, qty=1.0, limit_price=98.0)[0]
    assert (o.status is OrderStatus.DENIED) is counted
    if counted:
        assert o.denial.code == "RATE_LIMIT_EXCEEDED" and o.denial.values["orders_in_window"] == 1


@pytest.mark.parametrize(("offset_ns", "duplicate"), [(-1, True), (0, False), (1, False)])
def test_duplicate_when_same_shape_window_minus_at_or_past_then_denied_or_not(offset_ns, duplicate) -> None:
    eng, _ = _setup([], [], 1e7)
    eng.accounts["acc"].risk.limits = RiskLimits(duplicate_window_s=2.0)
    kw = {"account_id": "acc", "symbol": "AAA", "side": Side.SHORT, "type": OrderType.LIMIT, "qty": 3.0}
    first = eng.submit(client_order_id="a", limit_price=101.0, **kw)[0]
    _at(eng, first.created_ns + 2_000_000_000 + offset_ns)
    o = eng.submit(client_order_id="b", limit_price=101.0, **kw)[0]
    assert (o.status is OrderStatus.DENIED) is duplicate
    if duplicate:
        assert o.denial.code == "DUPLICATE_ORDER" and o.denial.values["previous_client_order_id"] == "a"


@pytest.mark.parametrize(("qty", "denied"), [(49.0, False), (50.0, False), (51.0, True)])
def test_each_size_limit_when_order_at_limit_minus_one_at_and_plus_one_then_only_beyond_is_denied(qty, denied) -> None:
    """At the limit is allowed for every size limit: quantity, notional, position and exposure."""
    for limits, code in (
        (RiskLimits(max_order_qty=50, duplicate_window_s=None), "QUANTITY_EXCEEDS_MAXIMUM"),
        (RiskLimits(max_order_notional=50 * 100.0, duplicate_window_s=None), "NOTIONAL_EXCEEDS_MAX_PER_ORDER"),
        (RiskLimits(max_position_qty=50, duplicate_window_s=None), "POSITION_LIMIT_EXCEEDED"),
        (RiskLimits(max_gross_exposure=50 * 100.0, duplicate_window_s=None), "GROSS_EXPOSURE_EXCEEDED"),
    ):
        for side, px in ((Side.BUY, 100.0), (Side.SHORT, 100.0)):
            eng, _ = _setup([], [], 1e7)
            eng.accounts["acc"].risk.limits = limits
            o = eng.submit(account_id="acc", symbol="AAA", side=side, type=OrderType.STOP, qty=qty, stop_price=px)[0]
            assert (o.status is OrderStatus.DENIED) is denied, (code, side, o.denial)
            if denied:
                assert o.denial.code == code


@pytest.mark.parametrize("side", [Side.BUY, Side.SHORT])
@pytest.mark.parametrize("typ", [OrderType.STOP, OrderType.STOP_LIMIT])
def test_stop_price_when_off_tick_or_outside_collar_then_denied_naming_stop_price(side, typ) -> None:
    """Stop prices are held to the tick and the collar exactly as limit prices are."""
    limit = {"limit_price": 100.00} if typ is OrderType.STOP_LIMIT else {}
    for stop, code in (
        (100.005, "PRICE_INVALID_TICK"),
        (110.02, "PRICE_OUTSIDE_COLLAR"),
        (89.99, "PRICE_OUTSIDE_COLLAR"),
    ):
        eng, _ = _setup([], [], 1e7)
        eng.accounts["acc"].risk.limits = RiskLimits(price_collar_pct=10.0, duplicate_window_s=None)
        o = eng.submit(account_id="acc", symbol="AAA", side=side, type=typ, qty=1.0, stop_price=stop, **limit)[0]
        assert o.status is OrderStatus.DENIED and o.denial.code == code, (stop, o.denial)
        assert o.denial.values["field"] == "stop_price"
    eng, _ = _setup([], [], 1e7)
    eng.accounts["acc"].risk.limits = RiskLimits(price_collar_pct=10.0, duplicate_window_s=None)
    o = eng.submit(account_id="acc", symbol="AAA", side=side, type=typ, qty=1.0, stop_price=109.95, **limit)[0]
    assert o.denial is None


# ---- resting orders count, by hand ------------------------------------------------------------------
def _limit(eng: TradingEngine, side: Side, qty: float, px: float):  # noqa: ANN202
    return eng.submit(account_id="acc", symbol="AAA", side=side, type=OrderType.LIMIT, qty=qty, limit_price=px)[0]


@pytest.mark.parametrize("resting_side", [Side.SELL, Side.SHORT])
def test_sell_when_part_of_the_long_is_promised_to_resting_sells_then_only_the_rest_can_be_sold(resting_side) -> None:
    eng, _ = _setup([20], [], 1e7)
    assert _limit(eng, resting_side, 15.0, 100.50).status is OrderStatus.ACCEPTED
    d = _limit(eng, Side.SELL, 6.0, 100.60).denial
    assert d.code == "SELL_EXCEEDS_LONG_POSITION" and d.values["available"] == pytest.approx(5.0)
    assert _limit(eng, Side.SELL, 5.0, 100.60).status is OrderStatus.ACCEPTED


def test_position_limit_when_resting_buys_then_they_count_toward_the_projection() -> None:
    eng, _ = _setup([5], [(True, 20, 10)], 1e7)  # long 5, a buy of 20 resting
    eng.accounts["acc"].risk.limits = RiskLimits(max_position_qty=30, duplicate_window_s=None)
    d = _limit(eng, Side.BUY, 6.0, 99.80).denial
    assert d.code == "POSITION_LIMIT_EXCEEDED" and d.values["projected"] == pytest.approx(31.0)
    assert _limit(eng, Side.BUY, 5.0, 99.80).status is OrderStatus.ACCEPTED
    # a short sale is projected from the position less resting sells: 5 - 35 = -30, at the limit
    assert _limit(eng, Side.SHORT, 35.0, 100.60).status is OrderStatus.ACCEPTED
    d = _limit(eng, Side.SHORT, 1.0, 100.70).denial
    assert d.code == "POSITION_LIMIT_EXCEEDED" and d.values["projected"] == pytest.approx(-31.0)


def test_buying_power_when_resting_orders_reserve_margin_then_by_hand() -> None:
    """Cash 10,000, margin 50%: a resting buy of 100 @ 99 reserves 4,950; 5,050 remain."""
    eng, _ = _setup([], [], 10_000.0)
    eng.accounts["acc"].risk.limits = RiskLimits(margin_rate=0.5, duplicate_window_s=None)
    assert _limit(eng, Side.BUY, 100.0, 99.00).status is OrderStatus.ACCEPTED
    d = _limit(eng, Side.SHORT, 102.0, 100.50).denial  # needs 102 * 100.5 * 0.5 = 5,125.5
    assert d.code == "INSUFFICIENT_BUYING_POWER"
    assert d.values["required"] == pytest.approx(5_125.5) and d.values["available"] == pytest.approx(5_050.0)
    assert _limit(eng, Side.SHORT, 100.0, 100.50).status is OrderStatus.ACCEPTED  # 5,025 fits
