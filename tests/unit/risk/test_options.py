"""Black-Scholes prices and greeks vs textbook values, put-call parity and finite differences;
option-book revaluation vs the closed-form lognormal quantile."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from backend.core.errors import InvalidInput
from engines.risk.compute.options import bs_price, price_options, revalue_options
from engines.risk.models.options import PriceOptionsRequest, RevalueOptionsRequest

pytestmark = pytest.mark.timeout(120)


def price(kind, S, K, T, vol, r=0.0, q=0.0):  # noqa: ANN001, ANN201
    return price_options(PriceOptionsRequest(options=[
        {"kind": kind, "spot": S, "strike": K, "expiry_years": T, "volatility": vol, "rate": r,
         "dividend_yield": q}])).options[0]


def test_price_when_textbook_cases_then_match_published_values():
    # Hull, Options Futures and Other Derivatives, example 15.6: S=42, K=40, r=10%, vol=20%, T=0.5
    assert price("call", 42, 40, 0.5, 0.2, 0.1).price == pytest.approx(4.7594, abs=5e-5)
    assert price("put", 42, 40, 0.5, 0.2, 0.1).price == pytest.approx(0.8086, abs=5e-5)
    # S=K=100, r=5%, vol=20%, T=1: call 10.4506, put 5.5735
    assert price("call", 100, 100, 1, 0.2, 0.05).price == pytest.approx(10.450584, abs=1e-6)
    assert price("put", 100, 100, 1, 0.2, 0.05).price == pytest.approx(5.573526, abs=1e-6)


@pytest.mark.parametrize("S,K,T,vol,r,q", [(100, 90, 0.3, 0.25, 0.03, 0.01), (50, 70, 2.0, 0.6, 0.0, 0.02),
                                           (10, 10, 0.05, 0.1, -0.01, 0.0)])
def test_price_when_call_and_put_then_put_call_parity(S, K, T, vol, r, q):
    c, p = price("call", S, K, T, vol, r, q), price("put", S, K, T, vol, r, q)
    assert c.price - p.price == pytest.approx(S * math.exp(-q * T) - K * math.exp(-r * T), abs=1e-9)
    assert c.delta - p.delta == pytest.approx(math.exp(-q * T), abs=1e-12)
    assert c.gamma == pytest.approx(p.gamma) and c.vega == pytest.approx(p.vega)


@pytest.mark.parametrize("kind", ["call", "put"])
def test_greeks_when_compared_to_central_differences_then_equal(kind):
    S, K, T, vol, r, q = 100.0, 105.0, 0.75, 0.3, 0.04, 0.015
    g = price(kind, S, K, T, vol, r, q)
    f = lambda **kw: price(kind, **{**dict(S=S, K=K, T=T, vol=vol, r=r, q=q), **kw}).price  # noqa: E731
    h = 1e-4
    assert g.delta == pytest.approx((f(S=S + h) - f(S=S - h)) / (2 * h), rel=1e-6)
    assert g.gamma == pytest.approx((f(S=S + 1e-2) - 2 * g.price + f(S=S - 1e-2)) / 1e-4, rel=1e-4)
    assert g.vega == pytest.approx((f(vol=vol + h) - f(vol=vol - h)) / (2 * h), rel=1e-6)
    assert g.rho == pytest.approx((f(r=r + h) - f(r=r - h)) / (2 * h), rel=1e-6)
    assert g.theta == pytest.approx(-(f(T=T + h) - f(T=T - h)) / (2 * h), rel=1e-6)


def test_bs_price_when_expired_then_intrinsic():
    t = lambda v: torch.tensor([v], dtype=torch.float64)  # noqa: E731
    assert float(bs_price(t(110.0), t(100.0), t(0.0), t(0.2), 0.0, 0.0, torch.tensor([True]))) == 10.0
    assert float(bs_price(t(110.0), t(100.0), t(-0.01), t(0.2), 0.0, 0.0, torch.tensor([False]))) == 0.0


def book(**kw):  # noqa: ANN201
    base = dict(underlyings=[{"symbol": "A", "spot": 100.0, "volatility": 0.3}],
                options=[{"underlying": "A", "kind": "call", "strike": 100.0, "expiry_years": 0.5,
                          "implied_vol": 0.3, "quantity": 10, "multiplier": 100}],
                horizon_days=10, n_scenarios=200_000, confidence_levels=[0.95, 0.99])
    base.update(kw)
    return RevalueOptionsRequest(**base)


def test_revalue_when_long_call_then_full_var_matches_lognormal_quantile():
    out = revalue_options(book())
    dt, S, vol = 10 / 252, 100.0, 0.3
    v0 = price("call", S, 100, 0.5, 0.3).price
    for lvl in out.full:
        # the call is increasing in S: its loss quantile is the value at the (1-a) spot quantile
        s_q = S * math.exp(-0.5 * vol**2 * dt + vol * math.sqrt(dt) * stats.norm.ppf(1 - lvl.confidence))
        expect = 1000 * (v0 - price("call", s_q, 100, 0.5 - dt, 0.3).price)
        assert abs(lvl.var - expect) < 4 * lvl.var_se
    assert out.portfolio_value == pytest.approx(1000 * v0)
    assert out.greeks[0].delta == pytest.approx(1000 * price("call", S, 100, 0.5, 0.3).delta)


def test_revalue_when_only_stock_then_delta_gamma_exact():
    out = revalue_options(book(options=[], stocks=[{"underlying": "A", "quantity": 500}], n_scenarios=20_000))
    assert out.pnl_rmse == pytest.approx(0.0, abs=1e-9)
    assert all(e.var_error == pytest.approx(0.0, abs=1e-9) for e in out.errors)


def test_revalue_when_short_horizon_then_delta_gamma_error_small_and_grows_with_horizon():
    short = revalue_options(book(horizon_days=1, n_scenarios=50_000))
    long_ = revalue_options(book(horizon_days=60, n_scenarios=50_000))
    assert abs(short.errors[1].var_relative_error) < 0.02
    assert long_.pnl_rmse > 5 * short.pnl_rmse


def test_revalue_when_vol_shocks_then_short_straddle_loses_more():
    legs = [{"underlying": "A", "kind": k, "strike": 100.0, "expiry_years": 0.25, "implied_vol": 0.3,
             "quantity": -10} for k in ("call", "put")]
    calm = revalue_options(book(options=legs, n_scenarios=50_000))
    shocked = revalue_options(book(options=legs, n_scenarios=50_000, underlyings=[
        {"symbol": "A", "spot": 100.0, "volatility": 0.3, "vol_of_vol": 1.5, "spot_vol_correlation": -0.7}]))
    assert shocked.full[1].var > calm.full[1].var


def test_revalue_when_unknown_underlying_or_bad_correlation_then_invalid():
    with pytest.raises(InvalidInput) as e:
        revalue_options(book(stocks=[{"underlying": "ZZ", "quantity": 1}]))
    assert e.value.field == "stocks.0.underlying"
    two = [{"symbol": "A", "spot": 100.0, "volatility": 0.3}, {"symbol": "B", "spot": 50.0, "volatility": 0.2}]
    with pytest.raises(InvalidInput) as e:
        revalue_options(book(underlyings=two, correlation=[[1.0, 0.5]]))
    assert e.value.field == "correlation" and "expected 2x2" in e.value.detail
    with pytest.raises(InvalidInput, match="unit diagonal"):
        revalue_options(book(underlyings=two, correlation=[[1.0, 0.5], [0.5, 2.0]]))


def test_revalue_when_correlated_underlyings_then_stock_var_matches_lognormal_sum_closed_form_small_dt():
    two = [{"symbol": "A", "spot": 100.0, "volatility": 0.3}, {"symbol": "B", "spot": 50.0, "volatility": 0.2}]
    out = revalue_options(book(underlyings=two, options=[], correlation=[[1.0, 0.6], [0.6, 1.0]], horizon_days=1,
                               stocks=[{"underlying": "A", "quantity": 100}, {"underlying": "B", "quantity": 300}]))
    dt = 1 / 252
    a, b = 100 * 100 * 0.3 * math.sqrt(dt), 300 * 50 * 0.2 * math.sqrt(dt)
    s = math.sqrt(a * a + b * b + 2 * 0.6 * a * b)  # first-order (normal) approximation
    assert out.full[1].var == pytest.approx(stats.norm.ppf(0.99) * s, rel=0.03)
    assert np.isfinite(out.pnl_max_abs_error)
