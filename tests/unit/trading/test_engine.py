"""The order management core: execution, order types, time in force, kill switch, amend, expiry."""

from __future__ import annotations

import random

import pytest

from backend.trading.domain import Instrument, OrderType, Side, TimeInForce
from backend.trading.engine import AmendDenied, TradingEngine
from backend.trading.positions import replay
from backend.trading.state import IllegalTransition, OrderStatus

from .conftest import make_engine

S = OrderStatus


def submit(eng: TradingEngine, **kw):  # noqa: ANN201
    base = {"account_id": "acc", "symbol": "AAA", "side": Side.BUY, "type": OrderType.LIMIT, "qty": 10.0}
    base.update(kw)
    return eng.submit(**base)


def test_market_buy_when_larger_than_top_level_then_walks_the_book_across_venues(engine: TradingEngine) -> None:
    o, eff = submit(engine, type=OrderType.MARKET, qty=2000)
    assert o.status is S.FILLED and o.filled_qty == 2000
    prices = [f.price for f in eff.fills]
    assert max(prices) > 100.02  # slipped past the touch
    assert abs(sum(f.qty for f in eff.fills) - 2000) < 1e-9
    assert len({f.venue for f in eff.fills}) >= 2  # split across venues
    vwap = sum(f.price * f.qty for f in eff.fills) / 2000
    assert o.avg_fill_price == pytest.approx(vwap)
    # fee = price * qty * taker bps, per the venue's schedule (hand formula)
    fees = {"ATLAS": 3.0, "BOREAL": 1.0, "CIRRUS": 2.0}
    for f in eff.fills:
        assert f.fee == pytest.approx(f.price * f.qty * fees[f.venue] * 1e-4)
        assert f.liquidity.value == "taker"
        assert f.venue_ts_ns > f.ts_ns


def test_limit_buy_below_market_when_submitted_then_rests_and_fills_when_market_trades_through(engine) -> None:
    o, _ = submit(engine, limit_price=99.50)
    assert o.status is S.ACCEPTED and o.resting_venue == "ATLAS"  # best maker rebate
    assert engine.on_trade("AAA", 99.50, 5).fills == []  # at the limit: queue unknown, no fill
    eff = engine.on_trade("AAA", 99.49, 5)
    assert o.status is S.FILLED and eff.fills[0].price == 99.50 and eff.fills[0].liquidity.value == "maker"
    assert eff.fills[0].fee == pytest.approx(99.50 * 10 * -0.2e-4)  # ATLAS pays a rebate


def test_quote_through_resting_order_then_fills_at_limit_and_book_stays_uncrossed(engine) -> None:
    o, _ = submit(engine, side=Side.SHORT, limit_price=100.10)
    engine.on_quote("AAA", 100.12, 100.14, 500, 500)
    assert o.status is S.FILLED and o.avg_fill_price == 100.10
    for v in engine.venues.values():
        b = v.book("AAA")
        assert b.best_bid() < b.best_ask()


def test_ioc_when_partially_fillable_then_remainder_cancelled(engine) -> None:
    o, eff = submit(engine, qty=20_000, limit_price=100.02, tif=TimeInForce.IOC)
    assert o.status is S.CANCELLED and 0 < o.filled_qty < 20_000
    assert all(f.price <= 100.02 for f in eff.fills)


def test_fok_when_not_fully_fillable_then_nothing_trades(engine) -> None:
    o, eff = submit(engine, qty=20_000, limit_price=100.02, tif=TimeInForce.FOK)
    assert o.status is S.CANCELLED and o.filled_qty == 0 and eff.fills == []


def test_fok_when_fillable_then_filled_completely(engine) -> None:
    o, _ = submit(engine, qty=100, limit_price=100.05, tif=TimeInForce.FOK)
    assert o.status is S.FILLED


def test_market_order_when_no_liquidity_then_rejected_by_venue() -> None:
    eng = make_engine()
    eng.on_trade("AAA", 100.0, 1)  # a mark but no book
    o, _ = submit(eng, type=OrderType.MARKET)
    assert o.status is S.REJECTED and "NO_LIQUIDITY" in o.reason


def test_stop_buy_when_mark_rises_to_stop_then_triggers_and_fills(engine) -> None:
    o, _ = submit(engine, type=OrderType.STOP, stop_price=100.50)
    assert o.status is S.ACCEPTED
    engine.on_quote("AAA", 100.40, 100.42, 1000, 1000)
    assert o.status is S.ACCEPTED
    eff = engine.on_quote("AAA", 100.50, 100.52, 1000, 1000)
    statuses = [s for oo, s in eff.transitions if oo.id == o.id]
    assert statuses[0] is S.TRIGGERED and o.status is S.FILLED


def test_stop_limit_sell_when_triggered_then_rests_at_limit(engine) -> None:
    submit(engine, type=OrderType.MARKET, qty=100)
    o, _ = submit(engine, side=Side.SELL, type=OrderType.STOP_LIMIT, stop_price=99.60, limit_price=99.70, qty=50)
    engine.on_quote("AAA", 99.50, 99.55, 1000, 1000)  # mid 99.525 <= stop; limit above the market: rests
    assert o.status is S.TRIGGERED and o.resting_venue is not None


def test_day_order_when_session_closes_then_expires(engine) -> None:
    o, _ = submit(engine, limit_price=99.0, tif=TimeInForce.DAY)
    assert engine.expire_due(o.expire_ns - 1).transitions == []
    eff = engine.expire_due(o.expire_ns)
    assert o.status is S.EXPIRED and eff.transitions[0][1] is S.EXPIRED
    assert engine.venues[o.resting_venue or "ATLAS"].book("AAA").entry(o.id) is None


def test_kill_switch_when_activated_then_cancels_open_orders_and_denies_new_ones(engine) -> None:
    a, _ = submit(engine, limit_price=99.0)
    b, _ = submit(engine, type=OrderType.STOP, stop_price=101.0)
    eff = engine.set_kill(True, "acc", "test")
    assert {o.id for o, _ in eff.transitions} == {a.id, b.id}
    assert a.status is S.CANCELLED and b.status is S.CANCELLED
    c, _ = submit(engine, limit_price=99.0, client_order_id="after")
    assert c.status is S.DENIED and c.denial.code == "TRADING_HALTED"
    engine.set_kill(False, "acc")
    d, _ = submit(engine, limit_price=99.0, client_order_id="released")
    assert d.status is S.ACCEPTED


def test_global_kill_switch_then_every_account_is_halted(engine) -> None:
    engine.add_account("other", "O", 1e6)
    engine.set_kill(True, None, "market event")
    o, _ = engine.submit(account_id="other", symbol="AAA", side=Side.BUY, type=OrderType.LIMIT, qty=1,
                         limit_price=99.0)
    assert o.denial.code == "TRADING_HALTED" and o.denial.values["scope"] == "global"


def test_amend_down_keeps_queue_priority_and_reprice_loses_it(engine) -> None:
    a, _ = submit(engine, limit_price=99.0, venue="BOREAL", client_order_id="a")
    b, _ = submit(engine, limit_price=99.0, venue="BOREAL", client_order_id="b")
    engine.amend(a.id, qty=5)
    book = engine.venues["BOREAL"].book("AAA")
    level = [e.order_id for e in book.bids[99.0] if e.order_id]
    assert level == [a.id, b.id] and book.entry(a.id).qty == 5
    engine.amend(a.id, limit_price=98.99)
    engine.amend(a.id, limit_price=99.0)
    assert [e.order_id for e in book.bids[99.0] if e.order_id] == [b.id, a.id]


def test_amend_to_marketable_price_then_trades(engine) -> None:
    a, _ = submit(engine, limit_price=99.0)
    _, eff = engine.amend(a.id, limit_price=100.05)
    assert a.status is S.FILLED and eff.fills


def test_amend_outside_collar_then_denied_and_order_unchanged(engine) -> None:
    a, _ = submit(engine, limit_price=99.0)
    with pytest.raises(AmendDenied):
        engine.amend(a.id, limit_price=150.0)
    assert a.limit_price == 99.0 and a.status is S.ACCEPTED


def test_cancel_when_already_filled_then_conflict(engine) -> None:
    o, _ = submit(engine, type=OrderType.MARKET)
    with pytest.raises(Exception) as e:
        engine.cancel(o.id)
    assert getattr(e.value, "status", None) == 409


def test_illegal_transition_on_engine_order_raises() -> None:
    eng = make_engine()
    eng.on_quote("AAA", 100.0, 100.02, 1000, 1000)
    o, _ = submit(eng, type=OrderType.MARKET)
    from backend.trading.engine import Effects

    with pytest.raises(IllegalTransition):
        eng._move(o, __import__("backend.trading.state", fromlist=["Trigger"]).Trigger.CANCEL, Effects())


def test_random_session_of_thousands_of_orders_then_positions_equal_replay_of_fills() -> None:
    """Randomised: 3,000 orders of every type on three instruments and two accounts, with quotes,
    trades, cancels and amends in between; the ledger must equal a replay of the fills."""
    rng = random.Random(7)
    eng = make_engine()
    eng.add_instrument(Instrument("BBB", 0.05, 10.0))
    eng.add_account("acc2", "Two", 5e6)
    mids = {"AAA": 100.0, "BBB": 50.0}
    fills, open_ids = [], []
    for sym, m in mids.items():
        fills += eng.on_quote(sym, m - 0.05, m + 0.05, 800, 800).fills
    for _ in range(3000):
        r = rng.random()
        sym = rng.choice(list(mids))
        inst = eng.instruments[sym]
        if r < 0.15:
            mids[sym] = max(1.0, round((mids[sym] + rng.gauss(0, 0.2)) / inst.tick_size) * inst.tick_size)
            m = mids[sym]
            fills += eng.on_quote(sym, round(m - inst.tick_size, 2), round(m + inst.tick_size, 2),
                                  rng.randint(1, 20) * 100, rng.randint(1, 20) * 100).fills
            continue
        if r < 0.2:
            fills += eng.on_trade(sym, mids[sym] + rng.choice((-1, 1)) * inst.tick_size * rng.randint(0, 5), 10).fills
            continue
        if r < 0.27 and open_ids:
            oid = open_ids.pop(rng.randrange(len(open_ids)))
            if oid in eng.orders:
                if rng.random() < 0.5:
                    fills += eng.cancel(oid)[1].fills
                else:
                    o = eng.orders[oid]
                    if o.limit_price is not None:
                        try:
                            fills += eng.amend(oid, limit_price=round(mids[sym] + rng.randint(-5, 5) * 0.01, 2)
                                               if sym == "AAA" else o.limit_price)[1].fills
                        except AmendDenied:
                            pass
            continue
        typ = rng.choice(list(OrderType))
        side = rng.choice((Side.BUY, Side.SHORT, Side.SELL))
        kw = {}
        off = rng.randint(-8, 8) * inst.tick_size
        if typ in (OrderType.LIMIT, OrderType.STOP_LIMIT):
            kw["limit_price"] = round(mids[sym] + off, 2)
        if typ in (OrderType.STOP, OrderType.STOP_LIMIT):
            kw["stop_price"] = round(mids[sym] - off, 2)
        tif = TimeInForce.IOC if typ is OrderType.MARKET else rng.choice(list(TimeInForce))
        o, eff = eng.submit(account_id=rng.choice(("acc", "acc2")), symbol=sym, side=side, type=typ,
                            qty=rng.randint(1, 30) * inst.lot_size, tif=tif, strategy=rng.choice(("s1", "s2")),
                            venue=rng.choice(("SMART", "SMART", "ATLAS", "BOREAL", "CIRRUS")), **kw)
        fills += eff.fills
        if o.id in eng.orders:
            open_ids.append(o.id)
        for v in eng.venues.values():
            b = v.books.get(sym)
            if b and b.best_bid() is not None and b.best_ask() is not None:
                assert b.best_bid() < b.best_ask()
    assert len(fills) > 1000
    assert len({f.id for f in fills}) == len(fills)  # no duplicated fill
    rows = [(f.account_id, f.strategy, f.symbol, f.side.sign * f.qty, f.price, f.fee) for f in fills]
    replayed, cash = replay(rows)
    for key, p in eng.ledger.positions.items():
        q = replayed[key]
        assert p.qty == pytest.approx(q.qty, abs=1e-6)
        assert p.avg_cost == pytest.approx(q.avg_cost, rel=1e-9, abs=1e-9)
        assert p.realised_pnl == pytest.approx(q.realised_pnl, rel=1e-9, abs=1e-6)
        assert p.fees == pytest.approx(q.fees, rel=1e-9, abs=1e-9)
    for acct in eng.accounts.values():
        assert acct.cash == pytest.approx(acct.starting_cash + cash.get(acct.id, 0.0), rel=1e-12)
    # open-order aggregates equal a recount from the open orders themselves
    for acct in eng.accounts.values():
        mine = [o for o in eng.orders.values() if o.account_id == acct.id]
        assert acct.risk.open_count == len(mine)
        for sym in mids:
            buy = sum(o.leaves_qty for o in mine if o.symbol == sym and o.side is Side.BUY)
            assert acct.risk.open_leaves.get(sym, [0, 0])[0] == pytest.approx(buy, abs=1e-6)
