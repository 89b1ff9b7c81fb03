"""Brinson-Fachler effects sum to the active return; factor attribution equals statsmodels OLS."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from arch.data import frenchdata
from hypothesis import given, settings
from hypothesis import strategies as st
from skfolio.datasets import load_sp500_index
from skfolio.preprocessing import prices_to_returns

from backend.core.errors import InvalidInput
from engines.analytics.attribution import brinson
from engines.analytics.factors import factor_attribution
from engines.analytics.models_attribution import BrinsonRequest, FactorAttributionRequest


def seg(sector: str, w: float, r: float) -> dict:
    return {"sector": sector, "weight": w, "return": r}


def test_brinson_when_textbook_case_then_hand_computed_effects():
    # Bacon, Practical Portfolio Performance Measurement, ch. 5 style: two sectors
    p = [seg("eq", 0.7, 0.10), seg("bd", 0.3, 0.02)]
    b = [seg("eq", 0.6, 0.08), seg("bd", 0.4, 0.03)]
    out = brinson(BrinsonRequest(periods=[{"portfolio": p, "benchmark": b}]))
    Rb = 0.6 * 0.08 + 0.4 * 0.03
    eq = next(s for s in out.sectors if s.sector == "eq")
    assert eq.allocation == pytest.approx(0.1 * (0.08 - Rb))
    assert eq.selection == pytest.approx(0.6 * 0.02)
    assert eq.interaction == pytest.approx(0.1 * 0.02)
    assert out.active_return == pytest.approx(0.7 * 0.10 + 0.3 * 0.02 - Rb)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("ABCDE"), st.floats(0, 1), st.floats(-0.5, 0.5), st.booleans()),
                min_size=2, max_size=20), st.integers(1, 4))
def test_brinson_property_effects_sum_to_active_return(rows, n_periods):
    port = [seg(s, w, r) for s, w, r, in_p in rows if in_p]
    bench = [seg(s, w, r) for s, w, r, in_p in rows if not in_p]
    if not port or not bench or sum(x["weight"] for x in port) == 0 or sum(x["weight"] for x in bench) == 0:
        return
    tp, tb = sum(x["weight"] for x in port), sum(x["weight"] for x in bench)
    port = [{**x, "weight": x["weight"] / tp} for x in port]
    bench = [{**x, "weight": x["weight"] / tb} for x in bench]
    periods = [{"portfolio": port, "benchmark": [{**x, "return": x["return"] * (k + 1) / 3} for x in bench]}
               for k in range(n_periods)]
    out = brinson(BrinsonRequest(periods=periods))
    assert abs(out.residual) <= 1e-15 * max(1.0, abs(out.active_return)) * 4
    for p in out.periods:
        assert sum(s.total for s in p.sectors) == pytest.approx(p.active_return, abs=1e-15)


def test_brinson_when_weights_differ_in_total_then_invalid_naming_period():
    with pytest.raises(InvalidInput) as e:
        brinson(BrinsonRequest(periods=[{"portfolio": [seg("a", 0.9, 0.1)], "benchmark": [seg("a", 1.0, 0.1)]}]))
    assert e.value.field == "periods.0.portfolio"


@pytest.fixture(scope="module")
def monthly_index() -> pd.Series:
    """Monthly S&P 500 returns (skfolio's index series), 1990-2018: within arch's Fama-French data."""
    r = prices_to_returns(load_sp500_index()).iloc[:, 0]
    m = (1 + r).resample("ME").prod() - 1
    return m.loc["1990-02":"2018-11"]


def test_factor_attribution_when_fama_french_then_equals_statsmodels_ols(monthly_index):
    r = monthly_index
    ff = frenchdata.load()
    ff.index = pd.PeriodIndex([f"{int(i) // 100}-{int(i) % 100:02d}" for i in ff.index.asi8], freq="M")
    F = ff.loc[r.index.to_period("M")] / 100.0
    y = r.to_numpy() - F["RF"].to_numpy()
    ref = sm.OLS(y, sm.add_constant(F[["Mkt-RF", "SMB", "HML"]].to_numpy())).fit()
    out = factor_attribution(FactorAttributionRequest(returns=r.tolist(), dates=[d.date() for d in r.index]))
    assert out.alpha == pytest.approx(ref.params[0], rel=1e-10, abs=1e-14)
    assert [e.beta for e in out.exposures] == pytest.approx(ref.params[1:].tolist(), rel=1e-10)
    assert [e.t_stat for e in out.exposures] == pytest.approx(ref.tvalues[1:].tolist(), rel=1e-10)
    assert out.r_squared == pytest.approx(ref.rsquared, rel=1e-12)
    assert out.exposures[0].beta == pytest.approx(1.0, abs=0.1)  # the index is the market
    total = out.alpha_annual + sum(e.contribution_annual for e in out.exposures)
    assert total == pytest.approx(out.mean_excess_return_annual, rel=1e-10)


def test_factor_attribution_when_inline_factors_and_hac_then_equals_statsmodels():
    rng = np.random.default_rng(3)
    F = rng.normal(0, 0.01, (120, 2))
    r = 0.001 + F @ np.array([0.8, -0.3]) + rng.normal(0, 0.002, 120)
    out = factor_attribution(FactorAttributionRequest(returns=r.tolist(), factors={"names": ["a", "b"],
                                                      "returns": F.tolist()}, hac_lags=3, periods_per_year=252))
    ref = sm.OLS(r, sm.add_constant(F)).fit(cov_type="HAC", cov_kwds={"maxlags": 3})
    assert [e.t_stat for e in out.exposures] == pytest.approx(ref.tvalues[1:].tolist(), rel=1e-10)


def test_factor_attribution_when_dates_outside_data_then_invalid_naming_dates():
    with pytest.raises(InvalidInput) as e:
        factor_attribution(FactorAttributionRequest(returns=[0.01] * 6, dates=[f"2020-0{m}-28" for m in range(1, 7)]))
    assert e.value.field == "dates"
