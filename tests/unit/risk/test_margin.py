"""Margin against hand-computed Reg-T/FINRA figures and a Black-Scholes grid."""

import pytest

from engines.risk.compute.margin import compute_margin
from engines.risk.compute.options import price_options
from engines.risk.models.margin import MarginRequest
from engines.risk.models.options import PriceOptionsRequest

pytestmark = pytest.mark.timeout(60)


def bs(kind, S, K, T, vol):  # noqa: ANN001, ANN201
    return price_options(PriceOptionsRequest(options=[{"kind": kind, "spot": S, "strike": K, "expiry_years": T,
                                                       "volatility": vol}])).options[0].price


def test_reg_t_when_long_and_short_stock_then_finra_rates():
    out = compute_margin(MarginRequest(cash=50_000, stocks=[
        {"symbol": "L", "quantity": 1000, "price": 40.0},  # long: 20,000 init / 10,000 maint
        {"symbol": "S", "quantity": -200, "price": 10.0},  # short >= $5: max(30% 2,000, $5*200) = 1,000
        {"symbol": "P", "quantity": -1000, "price": 3.0},  # short < $5: max(100% 3,000, $2.50*1000) = 3,000
    ]))
    assert out.reg_t_initial == pytest.approx(20_000 + 1_000 + 1_500)
    assert out.reg_t_maintenance == pytest.approx(10_000 + 1_000 + 3_000)
    assert out.market_value == pytest.approx(40_000 - 2_000 - 3_000)
    assert out.equity == pytest.approx(50_000 + 35_000) and not out.margin_call


def test_reg_t_when_short_options_then_premium_plus_cboe_formula():
    S, K, T, vol = 100.0, 90.0, 0.25, 0.3
    out = compute_margin(MarginRequest(cash=100_000, options=[
        {"underlying": "X", "kind": "put", "strike": K, "expiry_years": T, "implied_vol": vol, "quantity": -2,
         "underlying_price": S},
        {"underlying": "X", "kind": "call", "strike": K, "expiry_years": T, "implied_vol": vol, "quantity": 1,
         "underlying_price": S}]))
    put, call = bs("put", S, K, T, vol), bs("call", S, K, T, vol)
    # short put 10 OTM: premium + max(20%*100 - 10, 10% * 90) = premium + 10
    short_put = (put + max(20 - 10, 9.0)) * 200
    assert out.positions[0].initial == pytest.approx(short_put)
    assert out.positions[1].initial == pytest.approx(call * 100)
    assert out.reg_t_maintenance == pytest.approx(short_put + call * 100)


def test_portfolio_margin_when_stock_and_long_put_then_grid_worst_loss():
    S, K, T, vol = 100.0, 95.0, 0.5, 0.25
    out = compute_margin(MarginRequest(cash=0, method="portfolio", stocks=[{"symbol": "X", "quantity": 100,
                                                                            "price": S}],
                                       options=[{"underlying": "X", "kind": "put", "strike": K, "expiry_years": T,
                                                 "implied_vol": vol, "quantity": 1, "underlying_price": S}]))
    losses = []
    for i in range(11):
        m = -0.15 + 0.03 * i
        losses.append(-(100 * S * m + 100 * (bs("put", S * (1 + m), K, T, vol) - bs("put", S, K, T, vol))))
    assert out.portfolio_margin == pytest.approx(max(losses), rel=1e-9)
    assert out.portfolio_by_underlying[0].worst_move == pytest.approx(-0.15)
    assert out.portfolio_margin < 100 * S * 0.15  # the put hedges
    assert out.requirement == out.portfolio_margin


def test_margin_when_equity_below_requirement_then_call_with_amount_and_haircuts_applied():
    out = compute_margin(MarginRequest(cash=-30_000, stocks=[{"symbol": "L", "quantity": 1000, "price": 40.0}],
                                       collateral=[{"name": "bond", "kind": "government_bond", "value": 1000},
                                                   {"name": "x", "kind": "other", "value": 1000, "haircut": 0.4}]))
    # equity = -30,000 + 40,000 + 980 + 600 = 11,580 ; maintenance 25% * 40,000 = 10,000 -> no call
    assert out.equity == pytest.approx(11_580) and not out.margin_call
    out = compute_margin(MarginRequest(cash=-32_000, stocks=[{"symbol": "L", "quantity": 1000, "price": 40.0}]))
    assert out.margin_call and out.call_amount == pytest.approx(10_000 - 8_000)
