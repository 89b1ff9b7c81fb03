"""The analytics `performance` operation against empyrical (an independent implementation),
scipy, pandas and hand-computed cases."""

import datetime as dt

import empyrical as ep
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from backend.core.errors import InvalidInput
from engines.analytics.compute import performance
from engines.analytics.models import PerformanceRequest


@pytest.fixture(scope="module")
def sp500_returns() -> tuple[np.ndarray, np.ndarray, list[dt.date]]:
    """Real daily returns: AAPL against the S&P 500 index (skfolio's bundled data)."""
    from skfolio.datasets import load_sp500_dataset, load_sp500_index

    prices = load_sp500_dataset()["AAPL"].loc["2015":"2020"]
    index = load_sp500_index().loc[prices.index]
    r = prices.pct_change().dropna()
    b = index.pct_change().dropna().iloc[:, 0] if isinstance(index, pd.DataFrame) else index.pct_change().dropna()
    return r.to_numpy(), b.to_numpy(), [d.date() for d in r.index]


def test_performance_when_real_series_then_matches_empyrical(sp500_returns):
    r, b, _ = sp500_returns
    res = performance(PerformanceRequest(returns=r.tolist(), benchmark_returns=b.tolist(), risk_free_rate=0.0))
    assert res.sharpe == pytest.approx(ep.sharpe_ratio(r), rel=1e-10)
    assert res.sortino == pytest.approx(ep.sortino_ratio(r), rel=1e-10)
    assert res.drawdown.max_drawdown == pytest.approx(ep.max_drawdown(r), rel=1e-10)
    assert res.cagr == pytest.approx(ep.cagr(r), rel=1e-10)
    assert res.annualized_volatility == pytest.approx(ep.annual_volatility(r), rel=1e-10)
    assert res.calmar == pytest.approx(ep.calmar_ratio(r), rel=1e-9)
    assert res.total_return == pytest.approx(ep.cum_returns_final(r), rel=1e-10)
    alpha, beta = ep.alpha_beta(r, b)
    assert res.benchmark.beta == pytest.approx(beta, rel=1e-10)
    assert res.benchmark.alpha == pytest.approx(alpha, rel=1e-8)


def test_performance_when_benchmark_then_beta_and_alpha_match_scipy_regression(sp500_returns):
    r, b, _ = sp500_returns
    rf = 0.02
    res = performance(PerformanceRequest(returns=r.tolist(), benchmark_returns=b.tolist(), risk_free_rate=rf))
    rf_p = (1 + rf) ** (1 / 252) - 1
    fit = stats.linregress(b - rf_p, r - rf_p)
    assert res.benchmark.beta == pytest.approx(fit.slope, rel=1e-9)
    assert res.benchmark.alpha == pytest.approx((1 + fit.intercept) ** 252 - 1, rel=1e-7)
    assert res.benchmark.correlation == pytest.approx(fit.rvalue, rel=1e-9)
    active = r - b
    assert res.benchmark.tracking_error == pytest.approx(active.std(ddof=1) * np.sqrt(252), rel=1e-10)


def test_performance_when_dated_then_drawdown_dates_match_pandas(sp500_returns):
    r, _, dates = sp500_returns
    res = performance(PerformanceRequest(returns=r.tolist(), dates=dates))
    wealth = pd.Series(np.cumprod(1 + r), index=dates)
    dd = wealth / wealth.cummax() - 1
    trough = dd.idxmin()
    peak = wealth.loc[:trough].idxmax()
    assert res.drawdown.trough_date == trough
    assert res.drawdown.peak_date == peak
    rec = wealth.loc[trough:][wealth.loc[trough:] >= wealth.loc[peak]]
    assert res.drawdown.recovery_date == (rec.index[0] if len(rec) else None)
    assert res.best_period.date == dates[int(np.argmax(r))]
    assert res.worst_period.value == pytest.approx(r.min())


def test_performance_when_hand_computed_case_then_exact():
    # equity 100 -> 110 -> 99 -> 121: returns +10%, -10%, +22.22..%
    res = performance(PerformanceRequest(equity=[100, 110, 99, 121], periods_per_year=3))
    assert res.n_periods == 3
    assert res.total_return == pytest.approx(0.21)
    assert res.cagr == pytest.approx(0.21)  # exactly one year of periods
    assert res.drawdown.max_drawdown == pytest.approx(99 / 110 - 1)
    assert (res.drawdown.peak_index, res.drawdown.trough_index, res.drawdown.recovery_index) == (1, 2, 3)
    assert res.hit_rate == pytest.approx(2 / 3)
    assert res.calmar == pytest.approx(0.21 / 0.1)


def test_performance_when_equity_or_returns_then_same_report():
    eq = [100.0, 101.0, 99.5, 102.0, 104.5, 103.0]
    r = (np.array(eq[1:]) / np.array(eq[:-1]) - 1).tolist()
    a = performance(PerformanceRequest(equity=eq))
    b = performance(PerformanceRequest(returns=r))
    assert a.sharpe == pytest.approx(b.sharpe) and a.cagr == pytest.approx(b.cagr)
    assert a.drawdown == b.drawdown


def test_performance_when_no_losses_then_no_drawdown_and_no_sortino():
    res = performance(PerformanceRequest(returns=[0.01, 0.02, 0.01]))
    assert res.drawdown.max_drawdown == 0.0 and res.calmar is None and res.sortino is None


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"returns": [0.1, -1.2]}, "returns.1"),
        ({"equity": [100.0, 0.0, 3.0]}, "equity.1"),
        ({"returns": [0.1, 0.2], "dates": [dt.date(2020, 1, 1)]}, "dates"),
        ({"returns": [0.1, 0.2], "dates": [dt.date(2020, 1, 2), dt.date(2020, 1, 1)]}, "dates"),
        ({"returns": [0.1, 0.2, 0.3], "benchmark_returns": [0.1, 0.2]}, "benchmark_returns"),
        ({"returns": [0.1, 0.2, 0.3], "benchmark_returns": [0.1, 0.1, 0.1]}, "benchmark_returns"),
    ],
)
def test_performance_when_bad_input_then_invalid_input_names_field(kwargs, field):
    with pytest.raises(InvalidInput) as e:
        performance(PerformanceRequest(**kwargs))
    assert e.value.field == field


def test_request_when_both_or_neither_series_then_validation_error():
    with pytest.raises(ValueError, match="exactly one"):
        PerformanceRequest(returns=[0.1, 0.2], equity=[1.0, 2.0])
    with pytest.raises(ValueError, match="exactly one"):
        PerformanceRequest()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=-0.5, max_value=0.5, allow_nan=False), min_size=3, max_size=200))
def test_max_drawdown_when_any_series_then_within_minus_one_and_zero_and_matches_empyrical(rets):
    r = np.array(rets)
    res = performance(PerformanceRequest(returns=rets))
    assert -1.0 < res.drawdown.max_drawdown <= 0.0
    assert res.drawdown.max_drawdown == pytest.approx(min(ep.max_drawdown(r), 0.0), abs=1e-12)
    assert res.drawdown.peak_index <= res.drawdown.trough_index
