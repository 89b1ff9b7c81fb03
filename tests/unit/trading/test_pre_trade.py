"""Every pre-trade check: one accepted and one denied case, each with its stable code and values."""

from __future__ import annotations

import pytest

from backend.trading.domain import OrderType, Side
from backend.trading.pre_trade import CHECKS, RiskLimits
from backend.trading.state import OrderStatus

from .conftest import make_engine


def fresh(limits: RiskLimits | None = None, quote: bool = True):  # noqa: ANN201
    eng = make_engine(limits or RiskLimits(duplicate_window_s=0))
    if quote:
        eng.on_quote("AAA", 100.00, 100.02, 100_000, 100_000)
        eng.on_quote("LOT", 50.00, 50.05, 100_000, 100_000)
    return eng


def go(eng, **kw):  # noqa: ANN001, ANN201
    base = {"account_id": "acc", "symbol": "AAA", "side": Side.BUY, "type": OrderType.LIMIT, "qty": 10.0,
            "limit_price": 99.0}
    base.update(kw)
    return eng.submit(**base)[0]


# (name, limits, accepted kwargs, denied kwargs, expected code, expected values subset)
CASES = [
    ("instrument_unknown", None, {}, {"symbol": "NOPE"}, "INSTRUMENT_UNKNOWN", {"symbol": "NOPE"}),
    ("instrument_tradable", None, {}, {"symbol": "HALT"}, "INSTRUMENT_NOT_TRADABLE", {"symbol": "HALT"}),
    ("lot_size", None, {"symbol": "LOT", "qty": 200.0, "limit_price": 50.0},
     {"symbol": "LOT", "qty": 150.0, "limit_price": 50.0}, "QUANTITY_INVALID_LOT", {"qty": 150.0, "lot_size": 100.0}),
    ("tick_size", None, {"symbol": "LOT", "qty": 100.0, "limit_price": 50.05},
     {"symbol": "LOT", "qty": 100.0, "limit_price": 50.03}, "PRICE_INVALID_TICK", {"tick_size": 0.05}),
    ("max_quantity", RiskLimits(max_order_qty=100, duplicate_window_s=0), {"qty": 100.0}, {"qty": 101.0},
     "QUANTITY_EXCEEDS_MAXIMUM", {"qty": 101.0, "max_order_qty": 100}),
    ("max_notional", RiskLimits(max_order_notional=9_900, duplicate_window_s=0), {"qty": 100.0},
     {"qty": 101.0}, "NOTIONAL_EXCEEDS_MAX_PER_ORDER", {"notional": 101 * 99.0}),
    ("price_collar", RiskLimits(price_collar_pct=5, duplicate_window_s=0), {"limit_price": 95.01},
     {"limit_price": 94.99}, "PRICE_OUTSIDE_COLLAR", {"last_price": 100.01, "collar_pct": 5}),
    ("position_limit", RiskLimits(max_position_qty=50, duplicate_window_s=0), {"qty": 50.0}, {"qty": 51.0},
     "POSITION_LIMIT_EXCEEDED", {"projected": 51.0}),
    ("gross_exposure", RiskLimits(max_gross_exposure=990, duplicate_window_s=0), {"qty": 10.0},
     {"qty": 11.0}, "GROSS_EXPOSURE_EXCEEDED", {"projected": 11 * 99.0}),
    ("sell_covered", None, {"side": Side.SHORT}, {"side": Side.SELL, "limit_price": 101.0},
     "SELL_EXCEEDS_LONG_POSITION", {"available": 0.0}),
]


@pytest.mark.parametrize("name,limits,ok,bad,code,values", CASES, ids=[c[0] for c in CASES])
def test_check_when_within_limit_then_accepted_and_when_beyond_then_denied(name, limits, ok, bad, code,
                                                                          values) -> None:
    eng = fresh(limits)
    accepted = go(eng, client_order_id="ok", **ok)
    assert accepted.status is not OrderStatus.DENIED, accepted.denial
    eng2 = fresh(limits)
    denied = go(eng2, client_order_id="bad", **bad)
    assert denied.status is OrderStatus.DENIED
    assert denied.denial.code == code
    for k, v in values.items():
        assert denied.denial.values[k] == pytest.approx(v)


def test_no_reference_price_when_market_order_without_data_then_denied_and_limit_accepted() -> None:
    eng = fresh(quote=False)
    assert go(eng, type=OrderType.MARKET, limit_price=None, tif=None).denial.code == "NO_REFERENCE_PRICE"
    assert go(eng, client_order_id="l").status is OrderStatus.ACCEPTED


def test_open_orders_when_at_limit_then_denied() -> None:
    eng = fresh(RiskLimits(max_open_orders=2, duplicate_window_s=0))
    assert go(eng, limit_price=99.0).status is OrderStatus.ACCEPTED
    assert go(eng, limit_price=98.99).status is OrderStatus.ACCEPTED
    d = go(eng, limit_price=98.98).denial
    assert d.code == "OPEN_ORDERS_EXCEEDED" and d.values == {"open_orders": 2, "max_open_orders": 2}


def test_order_rate_when_window_full_then_denied_and_after_window_accepted() -> None:
    eng = fresh(RiskLimits(max_orders_per_window=3, rate_window_s=1.0, duplicate_window_s=0))
    for i in range(3):
        assert go(eng, limit_price=99.0 - i * 0.01).status is OrderStatus.ACCEPTED
    d = go(eng, limit_price=98.5).denial
    assert d.code == "RATE_LIMIT_EXCEEDED" and d.values["orders_in_window"] == 3
    eng.clock.now += 1_000_000_000  # the sliding window moves on
    assert go(eng, limit_price=98.4).status is OrderStatus.ACCEPTED


def test_buying_power_when_margin_short_then_denied() -> None:
    eng = make_engine(RiskLimits(margin_rate=0.5, duplicate_window_s=None, max_order_notional=None,
                                 max_gross_exposure=None), cash=10_000.0)
    eng.on_quote("AAA", 100.00, 100.02, 100_000, 100_000)
    assert go(eng, qty=200.0).status is OrderStatus.ACCEPTED  # 200 * 99 * 0.5 = 9,900 <= 10,000
    d = go(eng, qty=3.0, limit_price=98.0).denial  # 9,900 reserved; 3 * 98 * 0.5 = 147 > 100 left
    assert d.code == "INSUFFICIENT_BUYING_POWER"
    assert d.values["required"] == pytest.approx(147.0) and d.values["available"] == pytest.approx(100.0)


def test_duplicate_when_same_shape_under_new_client_id_within_window_then_denied() -> None:
    eng = fresh(RiskLimits(duplicate_window_s=1.0))
    assert go(eng, client_order_id="a").status is OrderStatus.ACCEPTED
    d = go(eng, client_order_id="b").denial
    assert d.code == "DUPLICATE_ORDER" and d.values["previous_client_order_id"] == "a"
    assert go(eng, client_order_id="c", qty=11.0).status is OrderStatus.ACCEPTED  # different shape
    eng.clock.now += 2_000_000_000
    assert go(eng, client_order_id="d").status is OrderStatus.ACCEPTED  # window passed


def test_kill_switch_check_denies_and_release_accepts() -> None:
    eng = fresh()
    eng.set_kill(True, "acc", "x")
    assert go(eng).denial.code == "TRADING_HALTED"
    eng.set_kill(False, "acc")
    assert go(eng, client_order_id="z").status is OrderStatus.ACCEPTED


def test_every_check_is_covered_by_a_test() -> None:
    named = {c[0] for c in CASES} | {"reference_price", "open_orders", "order_rate", "buying_power", "duplicate",
                                     "kill_switch", "instrument_tradable"}
    assert {f.__name__.removeprefix("check_") for f in CHECKS} <= named


# ---- limits from the risk engine's limit sets ------------------------------------------------
def test_limit_set_rows_then_pretrade_types_mapped_strictest_kept_scoped_apart_others_listed() -> None:
    from backend.trading.pre_trade import LimitSet

    ls = LimitSet.from_rows(7, "desk", "v1", [
        ("position_size", 500.0, None), ("position_size", 300.0, None), ("position_size", 20.0, "AAA"),
        ("order_notional", 1e5, "ZZZ"), ("gross_exposure", 2e6, None), ("var", 1e4, None), ("leverage", 2.0, None)])
    assert ls.limits == {"max_position_qty": 300.0, "max_order_notional": 1e5, "max_gross_exposure": 2e6}
    assert ls.by_symbol == {"AAA": {"max_position_qty": 20.0}}
    assert ls.not_enforced == ["var", "leverage"] and ls.source == "risk_limit_set:7"


def test_account_with_limit_set_when_checked_then_set_overrides_and_denial_names_source() -> None:
    from backend.trading.pre_trade import LimitSet

    eng = fresh(RiskLimits(max_position_qty=1000, max_order_notional=1e9, duplicate_window_s=0))
    risk = eng.accounts["acc"].risk
    risk.limit_set = LimitSet.from_rows(3, "s", "v", [("position_size", 50.0, None), ("position_size", 10.0, "AAA"),
                                                      ("order_notional", 2_000.0, None)])
    assert risk.limit("max_position_qty", "AAA") == (10.0, "risk_limit_set:3")
    assert risk.limit("max_position_qty", "BBB") == (50.0, "risk_limit_set:3")
    assert risk.limit("max_order_qty", "AAA") == (risk.limits.max_order_qty, "account")
    o, _ = eng.submit(account_id="acc", symbol="AAA", side=Side.BUY, type=OrderType.LIMIT, qty=11, limit_price=99.0)
    assert o.denial.code == "POSITION_LIMIT_EXCEEDED" and o.denial.values["max_position_qty"] == 10.0
    assert o.denial.values["limit_source"] == "risk_limit_set:3"
    o, _ = eng.submit(account_id="acc", symbol="AAA", side=Side.BUY, type=OrderType.LIMIT, qty=10, limit_price=99.0)
    assert o.denial is None
    o, _ = eng.submit(account_id="acc", symbol="AAA", side=Side.BUY, type=OrderType.LIMIT, qty=25, limit_price=99.0)
    assert o.denial.code == "NOTIONAL_EXCEEDS_MAX_PER_ORDER" and o.denial.values["max_order_notional"] == 2_000.0
    risk.limit_set = None  # back to the account's own limits
    o, _ = eng.submit(account_id="acc", symbol="AAA", side=Side.BUY, type=OrderType.LIMIT, qty=11, limit_price=99.0)
    assert o.denial is None


@pytest.mark.parametrize(("field", "order"), [
    ("max_order_qty", {"qty": 1.0}), ("max_order_notional", {"qty": 1.0}), ("max_position_qty", {"qty": 1.0}),
    ("max_gross_exposure", {"qty": 1.0}), ("max_open_orders", {"qty": 1.0}), ("max_orders_per_window", {"qty": 1.0}),
])
def test_limit_when_zero_then_it_blocks_and_when_none_then_it_is_off(field, order) -> None:
    blocked = make_engine(RiskLimits(**{field: 0}, duplicate_window_s=None))
    blocked.on_quote("AAA", 100.00, 100.02, 100_000, 100_000)
    assert go(blocked, **order).status is OrderStatus.DENIED
    off = make_engine(RiskLimits(**{field: None}, duplicate_window_s=None))
    off.on_quote("AAA", 100.00, 100.02, 100_000, 100_000)
    assert go(off, **order).status is not OrderStatus.DENIED
