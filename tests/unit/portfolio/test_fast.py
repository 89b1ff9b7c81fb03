"""The fast path equals skfolio's MeanRisk on the same problems (20 S&P 500 stocks, factor ETFs)."""

from __future__ import annotations

import numpy as np
import pytest
from skfolio.optimization import MeanRisk, ObjectiveFunction

from backend.core.errors import InvalidInput
from engines.portfolio.compute import fast
from engines.portfolio.compute.estimators import CLARABEL_PARAMS

BOUNDS = [(0.0, 1.0), (0.02, 0.5), (0.0, 0.3)]


def _reference(X, objective, lb, ub) -> np.ndarray:  # noqa: ANN001
    return MeanRisk(objective_function=objective, min_weights=lb, max_weights=ub,
                    solver_params=CLARABEL_PARAMS).fit(X).weights_


@pytest.mark.parametrize("data", ["sp500", "factor_etfs"])
@pytest.mark.parametrize("lb,ub", BOUNDS)
def test_min_variance_when_bounds_then_equals_skfolio_to_1e4(request, data, lb, ub):
    X = request.getfixturevalue(data)
    n = X.shape[1]
    r = fast.min_variance(np.cov(X.to_numpy(), rowvar=False), np.full(n, lb), np.full(n, ub))
    ref = _reference(X, ObjectiveFunction.MINIMIZE_RISK, lb, ub)
    assert np.abs(r.weights - ref).max() < 1e-4
    assert r.weights.sum() == pytest.approx(1.0, abs=1e-12)
    assert (r.weights >= lb).all() and (r.weights <= ub).all()


@pytest.mark.parametrize("data", ["sp500", "factor_etfs"])
@pytest.mark.parametrize("lb,ub", BOUNDS)
def test_max_sharpe_when_bounds_then_equals_skfolio_to_1e4(request, data, lb, ub):
    X = request.getfixturevalue(data)
    R = X.to_numpy()
    n = X.shape[1]
    r = fast.max_sharpe(np.cov(R, rowvar=False), R.mean(axis=0), np.full(n, lb), np.full(n, ub))
    ref = _reference(X, ObjectiveFunction.MAXIMIZE_RATIO, lb, ub)
    assert np.abs(r.weights - ref).max() < 1e-4


def test_min_variance_when_two_assets_then_closed_form():
    cov = np.array([[0.04, 0.006], [0.006, 0.01]])
    w1 = (cov[1, 1] - cov[0, 1]) / (cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    r = fast.min_variance(cov, np.zeros(2), np.ones(2))
    assert r.weights == pytest.approx([w1, 1 - w1], abs=1e-14)


def test_min_variance_when_bounds_cannot_sum_to_one_then_invalid_naming_max_weight():
    with pytest.raises(InvalidInput) as e:
        fast.min_variance(np.eye(3), np.zeros(3), np.full(3, 0.2))
    assert e.value.field == "constraints.max_weight" and e.value.extra["solver_status"] == "infeasible"


def test_max_sharpe_when_no_positive_excess_return_then_invalid():
    with pytest.raises(InvalidInput) as e:
        fast.max_sharpe(np.eye(2) * 1e-4, np.array([-1e-3, -2e-3]), np.zeros(2), np.ones(2))
    assert e.value.field == "objective"


@pytest.mark.parametrize("lb,ub", BOUNDS)
def test_box_qp_when_started_cold_then_same_answer_as_warm_start(sp500, lb, ub):
    cov = np.cov(sp500.to_numpy(), rowvar=False)
    n = cov.shape[0]
    L, U = np.full(n, lb), np.full(n, ub)
    x0 = fast.feasible_start(L, U)
    at = np.where(x0 <= L, -1, np.where(x0 >= U, 1, 0)).astype(np.int8)
    cold, iterations = fast.box_qp(cov, L, U, x0, at)
    assert iterations > 3  # the cold start walks the active set
    assert np.abs(cold - fast.min_variance(cov, L, U).weights).max() < 1e-10
