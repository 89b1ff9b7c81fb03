"""Cross-sectional processing against scipy and hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from engines.factor import cross_section as cs

pytestmark = pytest.mark.timeout(60)

X = np.array([[1.0, 5.0, np.nan, 3.0, 100.0], [2.0, 2.0, 4.0, np.nan, 0.0]])


def test_zscore_when_row_has_nan_then_matches_scipy_omit():
    z = cs.zscore(X)
    np.testing.assert_allclose(z[0][[0, 1, 3, 4]], stats.zscore(X[0][[0, 1, 3, 4]]))
    assert np.isnan(z[0, 2])


def test_rank_when_ties_then_average_ranks_scaled_to_unit_interval():
    r = cs.rank(X)
    np.testing.assert_allclose(r[1][[0, 1, 2, 4]], (stats.rankdata([2, 2, 4, 0]) - 1) / 3)
    assert np.isnan(r[1, 3])


def test_winsorize_when_outlier_then_clipped_to_row_quantiles():
    x = np.array([[1.0, 2.0, 3.0, 4.0, 100.0]])
    w = cs.winsorize(x, 0.0, 0.75)
    np.testing.assert_allclose(w, [[1.0, 2.0, 3.0, 4.0, 4.0]])  # 75th percentile of 5 values is the 4th


def test_neutralize_when_sectors_then_equals_residuals_of_sector_dummy_regression():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 8))
    sectors = ["a", "a", "b", "b", "b", "c", "c", "a"]
    got = cs.neutralize(x, sectors)
    D = np.array([[s == k for k in "abc"] for s in sectors], dtype=float)
    for t in range(3):
        coef, *_ = np.linalg.lstsq(D, x[t], rcond=None)
        np.testing.assert_allclose(got[t], x[t] - D @ coef, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=3, max_size=40))
def test_zscore_and_rank_invariants_when_any_row_then_mean_zero_and_rank_in_unit_interval(vals):
    x = np.array([vals])
    if np.ptp(x) > 1e-6 * max(1.0, np.abs(x).max()):
        z = cs.zscore(x)
        assert abs(np.nanmean(z)) < 1e-9 and abs(np.nanstd(z) - 1) < 1e-9
    r = cs.rank(x)
    assert (r >= 0).all() and (r <= 1).all()
