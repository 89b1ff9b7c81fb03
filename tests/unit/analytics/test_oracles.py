"""Analytics against empyrical at non-zero risk-free rates and several period counts, every rolling window
against metrics computed on its own slice, and windows tried at length - 1, length and length + 1.

empyrical subtracts a per-period risk-free rate; the operations take an annual rate, converted as
rf_p = (1 + rf)^(1/P) - 1 (their documented convention), so empyrical is given that rf_p.
"""

from __future__ import annotations

import datetime as dt

import empyrical as ep
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.core.errors import InvalidInput
from engines.analytics.compute import performance
from engines.analytics.models import PerformanceRequest
from engines.analytics.models_pnl import PnlRequest
from engines.analytics.models_series import DrawdownTableRequest, RollingRequest
from engines.analytics.pnl import pnl
from engines.analytics.series import drawdown_table, rolling


def _series(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    b = rng.normal(0.0004, 0.011, n)
    r = 0.0002 + 1.3 * b + rng.standard_t(4, n) * 0.006
    return r, b


RATES = [-0.01, 0.0, 0.02, 0.05, 0.12]
PERIODS = [252, 52, 12, 4]


@pytest.mark.parametrize("rf", RATES)
@pytest.mark.parametrize("P", PERIODS)
def test_performance_when_risk_free_and_periods_vary_then_every_figure_equals_empyrical(rf: float, P: int) -> None:
    r, b = _series(300, seed=P)
    res = performance(
        PerformanceRequest(returns=r.tolist(), benchmark_returns=b.tolist(), risk_free_rate=rf, periods_per_year=P)
    )
    rf_p = (1 + rf) ** (1 / P) - 1
    assert res.sharpe == pytest.approx(ep.sharpe_ratio(r, risk_free=rf_p, annualization=P), rel=1e-10)
    assert res.sortino == pytest.approx(ep.sortino_ratio(r, required_return=rf_p, annualization=P), rel=1e-10)
    assert res.annualized_volatility == pytest.approx(ep.annual_volatility(r, annualization=P), rel=1e-10)
    assert res.cagr == pytest.approx(ep.cagr(r, annualization=P), rel=1e-10)
    assert res.calmar == pytest.approx(ep.calmar_ratio(r, annualization=P), rel=1e-9)
    assert res.total_return == pytest.approx(ep.cum_returns_final(r), rel=1e-10)
    assert res.drawdown.max_drawdown == pytest.approx(ep.max_drawdown(r), rel=1e-10)
    alpha, beta = ep.alpha_beta(r, b, risk_free=rf_p, annualization=P)
    assert res.benchmark.beta == pytest.approx(beta, rel=1e-10)
    assert res.benchmark.alpha == pytest.approx(alpha, rel=1e-8)
    assert res.benchmark.benchmark_total_return == pytest.approx(ep.cum_returns_final(b), rel=1e-10)
    active = r - b
    te = active.std(ddof=1) * np.sqrt(P)
    assert res.benchmark.tracking_error == pytest.approx(te, rel=1e-10)
    assert res.benchmark.information_ratio == pytest.approx(ep.excess_sharpe(r, b) * np.sqrt(P), rel=1e-9)
    assert res.benchmark.correlation == pytest.approx(np.corrcoef(r, b)[0, 1], rel=1e-12)
    assert res.annualized_return_arithmetic == pytest.approx(r.mean() * P, rel=1e-12)
    assert res.hit_rate == pytest.approx((r > 0).sum() / r.size)
    assert (res.best_period.index, res.worst_period.index) == (int(np.argmax(r)), int(np.argmin(r)))


def test_performance_when_risk_free_rises_then_sharpe_falls_by_the_hand_formula() -> None:
    r = np.array([0.01, -0.02, 0.015, 0.03, -0.005, 0.002])
    for rf in (0.0, 0.04, 0.10):
        rf_p = (1 + rf) ** (1 / 12) - 1
        ex = r - rf_p
        res = performance(PerformanceRequest(returns=r.tolist(), risk_free_rate=rf, periods_per_year=12))
        assert res.sharpe == pytest.approx(ex.mean() / ex.std(ddof=1) * np.sqrt(12), rel=1e-12)
        downside = np.sqrt(np.mean(np.minimum(ex, 0) ** 2))
        assert res.sortino == pytest.approx(ex.mean() / downside * np.sqrt(12), rel=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-0.2, 0.2, allow_nan=False), min_size=4, max_size=80),
    st.sampled_from(RATES),
    st.sampled_from(PERIODS),
)
def test_performance_when_any_series_then_sharpe_and_sortino_equal_empyrical(rets, rf, P) -> None:
    r = np.array(rets)
    rf_p = (1 + rf) ** (1 / P) - 1
    res = performance(PerformanceRequest(returns=rets, risk_free_rate=rf, periods_per_year=P))
    ex = r - rf_p
    if ex.std(ddof=1) > 1e-9:
        assert res.sharpe == pytest.approx(ep.sharpe_ratio(r, risk_free=rf_p, annualization=P), rel=1e-7)
    if np.minimum(ex, 0).min() < -1e-9:
        assert res.sortino == pytest.approx(ep.sortino_ratio(r, required_return=rf_p, annualization=P), rel=1e-7)


# ---- rolling: every window, and the window at the series' length -1 / = / +1 --------------------------
@pytest.mark.parametrize(("rf", "P", "w"), [(0.03, 252, 20), (0.0, 52, 7), (0.08, 12, 2)])
def test_rolling_when_any_window_then_each_value_equals_metrics_of_its_own_slice(rf: float, P: int, w: int) -> None:
    r, b = _series(60, seed=w)
    out = rolling(
        RollingRequest(
            returns=r.tolist(), benchmark_returns=b.tolist(), window=w, risk_free_rate=rf, periods_per_year=P
        )
    )
    rf_p = (1 + rf) ** (1 / P) - 1
    assert len(out.sharpe) == 60 - w + 1
    for i in range(60 - w + 1):
        sl, bl = r[i : i + w], b[i : i + w]
        assert out.total_return[i] == pytest.approx(np.prod(1 + sl) - 1, rel=1e-10, abs=1e-14)
        assert out.volatility_annual[i] == pytest.approx(ep.annual_volatility(sl, annualization=P), rel=1e-9)
        assert out.sharpe[i] == pytest.approx(ep.sharpe_ratio(sl, risk_free=rf_p, annualization=P), rel=1e-8)
        assert out.beta[i] == pytest.approx(ep.beta(sl, bl, risk_free=rf_p), rel=1e-8)


def test_rolling_when_window_is_length_minus_one_length_and_plus_one_then_two_one_and_refused() -> None:
    r, b = _series(30, seed=3)
    dates = [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(30)]
    kw = {"returns": r.tolist(), "benchmark_returns": b.tolist(), "dates": dates, "risk_free_rate": 0.05}
    two = rolling(RollingRequest(window=29, **kw))
    one = rolling(RollingRequest(window=30, **kw))
    assert len(two.sharpe) == 2 and two.end_dates == dates[28:]
    assert len(one.sharpe) == 1 and one.end_dates == [dates[29]]
    perf = performance(PerformanceRequest(returns=r.tolist(), benchmark_returns=b.tolist(), risk_free_rate=0.05))
    assert one.sharpe[0] == pytest.approx(perf.sharpe, rel=1e-10)
    assert one.beta[0] == pytest.approx(perf.benchmark.beta, rel=1e-10)
    assert two.sharpe[1] == pytest.approx(
        performance(PerformanceRequest(returns=r[1:].tolist(), risk_free_rate=0.05)).sharpe, rel=1e-10
    )
    with pytest.raises(InvalidInput) as e:
        rolling(RollingRequest(window=31, **kw))
    assert e.value.field == "window"


def test_rolling_when_window_has_no_variance_then_sharpe_null_not_infinite() -> None:
    out = rolling(RollingRequest(returns=[0.01, 0.01, 0.01, 0.02], window=3))
    assert out.sharpe[0] is None and out.sharpe[1] is not None


# ---- drawdowns -----------------------------------------------------------------------------------
def test_drawdown_table_when_hand_path_then_episodes_by_hand() -> None:
    # wealth: 1, 1.1, 0.99, 1.1, 1.21, 1.089, 1.0 -> episodes: peak 1 (1.1) trough 2 recovered at 3 (back to 1.1);
    # peak 4 (1.21) trough 6 unrecovered.
    r = [0.1, -0.1, 1.1 / 0.99 - 1, 0.1, -0.1, 1.0 / 1.089 - 1]
    t = drawdown_table(DrawdownTableRequest(returns=r, top=5))
    got = [(d.peak_index, d.trough_index, d.recovery_index) for d in t.drawdowns]
    assert got == [(4, 6, None), (1, 2, 3)]
    assert t.drawdowns[0].depth == pytest.approx(1.0 / 1.21 - 1)
    assert t.drawdowns[1].depth == pytest.approx(-0.1)
    assert t.drawdowns[0].total_periods == 6 - 4 and t.drawdowns[1].recovery_periods == 1
    perf = performance(PerformanceRequest(returns=r))
    assert perf.drawdown.max_drawdown == pytest.approx(1.0 / 1.21 - 1)
    assert (perf.drawdown.peak_index, perf.drawdown.trough_index, perf.drawdown.recovery_index) == (4, 6, None)
    assert perf.drawdown.duration_periods == 6 - 4


# ---- P&L from fills (the analytics pnl operation) ---------------------------------------------------
def test_pnl_when_short_covered_at_profit_and_long_open_then_hand_computed_by_day() -> None:
    t0 = dt.datetime(2024, 3, 4, 15, tzinfo=dt.UTC)
    fills = [
        {"ts": t0, "symbol": "X", "side": "sell", "qty": 100, "price": 50.0, "fee": 1.0},
        {"ts": t0 + dt.timedelta(days=1), "symbol": "X", "side": "buy", "qty": 100, "price": 45.0, "fee": 1.0},
        {"ts": t0 + dt.timedelta(days=1), "symbol": "Y", "side": "buy", "qty": 10, "price": 20.0, "fee": 0.5},
    ]
    marks = [
        {"symbol": "X", "date": "2024-03-04", "close": 48.0},
        {"symbol": "Y", "date": "2024-03-05", "close": 21.0},
        {"symbol": "Y", "date": "2024-03-06", "close": 19.0},
    ]
    out = pnl(PnlRequest(fills=fills, marks=marks, starting_equity=10_000.0))
    d1, d2, d3 = out.days
    assert (d1.realised, d1.unrealised, d1.fees) == (
        0.0,
        pytest.approx(200.0),
        pytest.approx(1.0),
    )  # short from 50 at 48
    assert (
        d2.realised == pytest.approx(500.0) and d2.unrealised == pytest.approx(10.0) and d2.fees == pytest.approx(2.5)
    )
    assert d3.unrealised == pytest.approx(-10.0) and d3.total == pytest.approx(500.0 - 10.0 - 2.5)
    assert d3.equity == pytest.approx(10_000.0 + 487.5)
    assert d2.daily == pytest.approx(d2.total - d1.total)
    assert d2.ret == pytest.approx((d2.total - d1.total) / d1.equity)


def test_pandas_oracle_for_calmar_and_cagr_when_quarterly_then_equal() -> None:
    r = pd.Series([0.05, -0.08, 0.03, 0.07, -0.02, 0.04, 0.01, -0.03])
    res = performance(PerformanceRequest(returns=r.tolist(), periods_per_year=4, risk_free_rate=0.03))
    wealth = (1 + r).cumprod()
    years = len(r) / 4
    cagr = wealth.iloc[-1] ** (1 / years) - 1
    mdd = (wealth / wealth.cummax().clip(lower=1.0) - 1).min()
    assert res.cagr == pytest.approx(cagr, rel=1e-12)
    assert res.calmar == pytest.approx(cagr / abs(mdd), rel=1e-12)


def test_hit_rate_when_flat_periods_then_only_gains_count() -> None:
    res = performance(PerformanceRequest(returns=[0.01, 0.0, -0.02, 0.0, 0.03]))
    assert res.hit_rate == pytest.approx(2 / 5)
