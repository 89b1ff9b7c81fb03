"""Volatility models against their sources: arch's own fit, a hand-written EWMA and HAR, no look-ahead in
walk-forward forecasts, and the Diebold-Mariano test on known cases."""

from __future__ import annotations

import numpy as np
import pytest
from arch import arch_model

from backend.contract.operation import OpContext
from backend.core.errors import InvalidInput
from engines.ml.compute import losses
from engines.ml.compute import volatility as vol
from engines.ml.compute.evaluation import evaluate_volatility, forecast_volatility
from engines.ml.models.volatility import EvaluateVolatilityRequest, ForecastVolatilityRequest, GarchSpec, HarSpec
from tests.unit.ml.data import nasdaq_returns

CTX = OpContext(engine="ml")


@pytest.mark.parametrize("kind,vol_name,o", [("garch", "GARCH", 0), ("gjr_garch", "GARCH", 1),
                                               ("egarch", "EGARCH", 1)])
def test_garch_family_when_fitted_then_params_and_forecast_equal_arch_own_fit(kind, vol_name, o):
    r = nasdaq_returns()[-2000:]
    res = forecast_volatility(ForecastVolatilityRequest(data={"returns": r}, model={"model_type": kind},
                                                        horizon_days=1), CTX)
    ref = arch_model(100 * r, mean="Constant", vol=vol_name, p=1, o=o, q=1, dist="t").fit(disp="off")
    assert list(res.params) == list(ref.params.index)
    assert np.allclose(list(res.params.values()), ref.params.to_numpy(), rtol=1e-6, atol=1e-9)
    assert res.log_likelihood == pytest.approx(ref.loglikelihood, rel=1e-9)
    expect = ref.forecast(horizon=1, reindex=False).variance.to_numpy()[-1, 0] / 1e4
    assert res.variance[0] == pytest.approx(expect, rel=1e-9)
    assert res.volatility_annual[0] == pytest.approx(np.sqrt(expect * 252), rel=1e-9)


def test_ewma_when_computed_then_equals_the_recursion_written_out():
    r = nasdaq_returns()[:300]
    got = vol.ewma_variance(r, 0.94, 1e-4)
    s, want = 1e-4, []
    for x in r:
        s = 0.94 * s + 0.06 * x * x
        want.append(s)
    assert np.allclose(got, want, rtol=1e-12)


def test_har_when_fitted_then_equals_ols_of_rv_on_daily_weekly_monthly_means():
    r = nasdaq_returns()[:1500]
    rv = r * r
    f = vol.fit(HarSpec(model_type="har_rv"), r, horizon=1)
    rows = [[1.0, rv[t], rv[t - 4:t + 1].mean(), rv[t - 21:t + 1].mean()] for t in range(21, r.size - 1)]
    beta = np.linalg.lstsq(np.array(rows), rv[22:], rcond=None)[0]
    assert np.allclose([f.params[f"h1_{n}"] for n in ("const", "daily", "weekly", "monthly")], beta, rtol=1e-8)


@pytest.mark.parametrize("spec", [GarchSpec(model_type="gjr_garch"), HarSpec(model_type="har_rv")])
def test_walk_forward_when_future_returns_change_then_earlier_forecasts_do_not(spec):
    r = nasdaq_returns()[:900].copy()
    kw = {"min_train": 500, "refit_every": 100, "horizon": 1, "rolling": None}
    f1, first, _ = vol.walk_forward(spec, r, **kw)
    cut = 750  # returns from index 750 on are replaced: forecasts made at origins < 750 must not move
    r2 = r.copy()
    r2[cut:] = np.random.default_rng(1).normal(0, 0.05, r.size - cut)
    f2, _, _ = vol.walk_forward(spec, r2, **kw)
    before = cut - first  # origins first .. cut-1
    assert np.array_equal(f1[:before], f2[:before])
    assert not np.allclose(f1[before + 1:], f2[before + 1:])


def test_realised_when_horizon_then_sum_of_next_h_squared_returns():
    r = np.arange(1.0, 11.0) / 100
    y = vol.realised(r, 2, 3, 2)
    assert np.allclose(y, [r[3] ** 2 + r[4] ** 2, r[4] ** 2 + r[5] ** 2, r[5] ** 2 + r[6] ** 2])


def test_diebold_mariano_when_equal_losses_then_not_significant_and_when_clearly_better_then_significant():
    rng = np.random.default_rng(3)
    a = rng.normal(1.0, 0.1, 2000)
    stat, p = losses.diebold_mariano(a, a + rng.normal(0, 0.1, 2000), 1)
    assert p > 0.01
    stat, p = losses.diebold_mariano(a - 0.05 + rng.normal(0, 0.1, 2000), a, 1)
    assert stat < 0 and p < 1e-6


def test_evaluate_when_gjr_on_nasdaq_then_out_of_sample_next_to_baseline():
    r = nasdaq_returns()
    res = evaluate_volatility(EvaluateVolatilityRequest(data={"returns": r}, model={"model_type": "gjr_garch"},
                                                        refit_every=500), CTX)
    assert res.window.n_forecasts == r.size - 500 and res.window.first_origin == 499
    assert res.baseline.qlike != res.model.qlike and res.beats_baseline == (
        res.model.qlike < res.baseline.qlike and res.diebold_mariano[0].p_value < 0.05)
    assert "EWMA(0.94)" in res.verdict


def test_evaluate_when_model_is_the_baseline_then_identical_losses_and_no_win():
    r = nasdaq_returns()[:1200]
    res = evaluate_volatility(EvaluateVolatilityRequest(data={"returns": r}, model={"model_type": "ewma"}), CTX)
    assert res.model == res.baseline and not res.beats_baseline


@pytest.mark.parametrize("body,field", [
    ({"model": {"model_type": "har_rv"}, "min_train": 5000}, "min_train"),
    ({"model": {"model_type": "garch"}, "refit_every": 1, "min_train": 100}, "refit_every"),
    ({"model": {"model_type": "egarch"}, "horizon_days": 5}, "horizon_days"),
])
def test_evaluate_when_unusable_settings_then_invalid_input_naming_field(body, field):
    r = nasdaq_returns()[:3000]
    with pytest.raises(InvalidInput) as e:
        evaluate_volatility(EvaluateVolatilityRequest(data={"returns": r}, **body), CTX)
    assert e.value.field == field
