"""Rolling, drawdown and calendar tables against pandas computations on real S&P 500 data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from skfolio.datasets import load_sp500_dataset, load_sp500_index
from skfolio.preprocessing import prices_to_returns

from backend.core.errors import InvalidInput
from engines.analytics.compute import performance
from engines.analytics.models import PerformanceRequest
from engines.analytics.models_series import CalendarRequest, DrawdownTableRequest, RollingRequest
from engines.analytics.series import calendar, drawdown_table, rolling


@pytest.fixture(scope="module")
def data() -> tuple[pd.Series, pd.Series]:
    X = prices_to_returns(load_sp500_dataset()).iloc[-1500:]
    b = prices_to_returns(load_sp500_index()).iloc[:, 0].reindex(X.index)
    return X["AAPL"], b


def test_rolling_when_window_then_equals_pandas_rolling(data):
    r, b = data
    rf_p = 1.03 ** (1 / 252) - 1
    out = rolling(RollingRequest(returns=r.tolist(), benchmark_returns=b.tolist(), window=63, risk_free_rate=0.03))
    ex, bx = r - rf_p, b - rf_p
    pd_total = (1 + r).rolling(63).apply(np.prod, raw=True).dropna() - 1
    pd_vol = r.rolling(63).std().dropna() * np.sqrt(252)
    pd_sharpe = (ex.rolling(63).mean() / ex.rolling(63).std()).dropna() * np.sqrt(252)
    pd_beta = (ex.rolling(63).cov(bx) / bx.rolling(63).var()).dropna()
    assert np.allclose(out.total_return, pd_total, rtol=1e-10, atol=1e-13)
    assert np.allclose(out.volatility_annual, pd_vol, rtol=1e-10)
    assert np.allclose(out.sharpe, pd_sharpe, rtol=1e-9)
    assert np.allclose(out.beta, pd_beta, rtol=1e-9)


def test_rolling_when_window_is_whole_series_then_equals_performance(data):
    r, b = data
    out = rolling(RollingRequest(returns=r.tolist(), benchmark_returns=b.tolist(), window=len(r)))
    perf = performance(PerformanceRequest(returns=r.tolist(), benchmark_returns=b.tolist()))
    assert out.sharpe[0] == pytest.approx(perf.sharpe, rel=1e-12)
    assert out.beta[0] == pytest.approx(perf.benchmark.beta, rel=1e-12)


def _pandas_episodes(r: pd.Series) -> list[tuple[float, int, int]]:
    """Independent: wealth vs running max; an episode is a run of wealth below its running max."""
    wealth = pd.concat([pd.Series([1.0]), (1 + r.reset_index(drop=True)).cumprod()], ignore_index=True)
    under = wealth < wealth.cummax()
    episode = (~under).cumsum()
    out = []
    for _, seg in wealth[under].groupby(episode[under]):
        peak = seg.index[0] - 1
        out.append((seg.min() / wealth[peak] - 1, peak, int(seg.idxmin())))
    return sorted(out)


def test_drawdown_table_when_top5_then_equals_pandas_episodes_and_performance(data):
    r, _ = data
    t = drawdown_table(DrawdownTableRequest(returns=r.tolist(), dates=[d.date() for d in r.index], top=5))
    ref = _pandas_episodes(r)[:5]
    assert [(d.depth, d.peak_index, d.trough_index) for d in t.drawdowns] == [pytest.approx(x) for x in ref]
    perf = performance(PerformanceRequest(returns=r.tolist()))
    assert t.drawdowns[0].depth == pytest.approx(perf.drawdown.max_drawdown, abs=1e-15)
    first = t.drawdowns[0]
    assert first.total_periods == first.decline_periods + (first.recovery_periods or 0) or first.recovery_index is None


def test_calendar_when_daily_then_equals_pandas_resample(data):
    r, _ = data
    c = calendar(CalendarRequest(returns=r.tolist(), dates=[d.date() for d in r.index]))
    monthly = (1 + r).resample("ME").prod() - 1
    yearly = (1 + r).resample("YE").prod() - 1
    got = {(y.year, m + 1): v for y in c.years for m, v in enumerate(y.months) if v is not None}
    assert len(got) == len(monthly)
    for ts, v in monthly.items():
        assert got[(ts.year, ts.month)] == pytest.approx(v, rel=1e-12, abs=1e-15)
    assert [y.total for y in c.years] == pytest.approx(yearly.tolist(), rel=1e-12)
    assert c.positive_months == pytest.approx((monthly > 0).mean())


def test_calendar_when_dates_not_increasing_then_invalid_naming_dates():
    with pytest.raises(InvalidInput) as e:
        calendar(CalendarRequest(returns=[0.01, 0.02], dates=["2024-01-02", "2024-01-01"]))
    assert e.value.field == "dates"
