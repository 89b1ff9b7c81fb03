"""Regimes on arch's NASDAQ sample: the forward filter against hmmlearn, no hindsight out-of-sample,
regimes ordered calm first, the mixture's transitions counted, too little data refused."""

from __future__ import annotations

import numpy as np
import pytest

from backend.contract.operation import OpContext
from backend.core.errors import InvalidInput
from engines.ml.compute.regime import detect_regimes, features, forward_filter
from engines.ml.models.regime import DetectRegimesRequest
from tests.unit.ml.data import nasdaq_returns

CTX = OpContext(engine="ml")


def test_forward_filter_when_last_day_then_equals_hmmlearn_posterior_and_rows_sum_to_one():
    from hmmlearn.hmm import GaussianHMM

    X = features(nasdaq_returns()[:1500], 21)
    Z = (X - X.mean(0)) / X.std(0)
    m = GaussianHMM(n_components=2, covariance_type="full", n_iter=50, random_state=0).fit(Z)
    f = forward_filter(m, Z)
    assert np.allclose(f.sum(axis=1), 1.0)
    assert np.allclose(f[-1], m.predict_proba(Z)[-1], atol=1e-8)  # at the last day filtered = smoothed


@pytest.mark.parametrize("kind", ["hmm", "gmm"])
def test_detect_when_nasdaq_then_calm_regime_first_and_out_of_sample_labels_ignore_later_days(kind):
    r = nasdaq_returns()[:3000].copy()
    req = {"model": {"model_type": kind, "n_regimes": 2}, "train_fraction": 0.6}
    a = detect_regimes(DetectRegimesRequest(data={"returns": r}, **req), CTX)
    vols = [s.volatility_annual for s in a.in_sample.regimes]
    assert vols[0] < vols[1] and a.n_train + a.n_test == r.size - 20
    assert len(a.path_out_of_sample) == a.n_test and 0 <= a.out_of_sample.persistence <= 1
    assert np.allclose(np.sum(a.transition_matrix, axis=1), 1.0)
    r2 = r.copy()
    r2[2800:] *= 3.0  # later days change: labels of days before 2800 must not
    b = detect_regimes(DetectRegimesRequest(data={"returns": r2}, **req), CTX)
    keep = 2800 - 20 - a.n_train
    assert a.path_out_of_sample[:keep] == b.path_out_of_sample[:keep]
    assert a.baseline_out_of_sample.regimes[0].days + a.baseline_out_of_sample.regimes[1].days == a.n_test


def test_detect_when_too_few_days_for_the_regimes_then_invalid_input():
    with pytest.raises(InvalidInput) as e:
        detect_regimes(DetectRegimesRequest(data={"returns": nasdaq_returns()[:300]},
                                            model={"model_type": "hmm", "n_regimes": 5}), CTX)
    assert e.value.field == "data.returns"
