"""IC, quantile returns and cross-sectional regressions against scipy.stats and hand cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from engines.factor import evaluation as ev
from engines.factor.compute import evaluate_panels
from engines.factor.library import LIBRARY, resolve_params
from engines.factor.models import EvaluationOptions
from tests.unit.factor.data import panel

pytestmark = pytest.mark.timeout(60)

P = panel(600)
F = LIBRARY["reversal"].fn(P, resolve_params(LIBRARY["reversal"], {"window": 5}), None)
FWD = ev.forward_returns(P["close"], 1)


def test_row_ic_when_compared_with_scipy_per_date_then_equal():
    ic, ric = ev.row_pearson(F, FWD, 5), ev.row_spearman(F, FWD, 5)
    for t in (10, 200, 598):
        assert ic[t] == pytest.approx(stats.pearsonr(F[t], FWD[t]).statistic, rel=1e-9)
        assert ric[t] == pytest.approx(stats.spearmanr(F[t], FWD[t]).statistic, rel=1e-9)
    assert np.isnan(ic[599]) and np.isnan(ic[0])  # no forward return on the last date; no factor on the first


def test_row_ic_when_values_missing_then_uses_pairs_present_on_both_sides():
    f = np.array([[1.0, 2.0, np.nan, 4.0, 5.0, 3.0]])
    y = np.array([[0.1, np.nan, 0.3, 0.2, 0.5, 0.4]])
    keep = [0, 3, 4, 5]
    assert ev.row_spearman(f, y, 3)[0] == pytest.approx(stats.spearmanr(f[0, keep], y[0, keep]).statistic)
    assert np.isnan(ev.row_pearson(f, y, 5)[0])


def test_summarize_when_hand_series_then_t_stat_is_mean_over_standard_error():
    s = ev.summarize(np.array([0.1, 0.2, np.nan, 0.3]))
    assert s.mean == pytest.approx(0.2) and s.std == pytest.approx(0.1) and s.n == 3
    assert s.t_stat == pytest.approx(0.2 / 0.1 * math.sqrt(3))


def test_quantile_returns_when_hand_case_then_bucket_means():
    f = np.array([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]])
    y = np.array([[0.01, 0.03, 0.02, 0.04, 0.06, 0.08]])
    q, spread = ev.quantile_returns(f, y, 3)
    np.testing.assert_allclose(q[0], [0.02, 0.03, 0.07])
    assert spread[0] == pytest.approx(0.05)


def test_cross_sectional_regression_when_one_factor_then_equals_linregress_slope():
    slopes = ev.cross_sectional_regression([F], FWD, 5)[:, 0]
    for t in (50, 300):
        assert slopes[t] == pytest.approx(stats.linregress(F[t], FWD[t]).slope, rel=1e-9)


def test_evaluate_panels_when_two_factors_then_decay_correlation_and_joint_returns_consistent():
    mom = LIBRARY["momentum"].fn(P, {"lookback": 120, "skip": 5}, None)
    res = evaluate_panels({"rev": F, "mom": mom}, P["close"], EvaluationOptions(horizons=[1, 5, 20], quantiles=4))
    rev = res.factors[0]
    assert [d.horizon for d in rev.decay] == [1, 5, 20]
    ric5 = ev.row_spearman(F, ev.forward_returns(P["close"], 5), 5)
    assert rev.decay[1].rank_ic.mean == pytest.approx(np.nanmean(ric5))
    assert rev.decay[0].ic.t_stat == pytest.approx(ev.summarize(ev.row_pearson(F, FWD, 5)).t_stat)
    per_date = [
        stats.spearmanr(F[t], mom[t]).statistic
        for t in range(600)
        if np.isfinite(mom[t]).all() and np.isfinite(F[t]).all()
    ]
    assert res.correlation[0][1] == pytest.approx(np.mean(per_date), rel=1e-9)
    assert res.correlation[0][0] == 1.0
    t = 400
    X = np.column_stack([np.ones(20), F[t], mom[t]])
    coef = np.linalg.lstsq(X, FWD[t], rcond=None)[0]
    joint = ev.cross_sectional_regression([F, mom], FWD, 5)
    np.testing.assert_allclose(joint[t], coef[1:])
    assert res.joint_factor_returns[1].mean == pytest.approx(np.nanmean(joint[:, 1]))
    assert len(rev.quantile_mean_returns) == 4
