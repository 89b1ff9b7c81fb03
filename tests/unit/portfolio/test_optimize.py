"""optimize_portfolio against skfolio called directly (the same estimators), plus bad input."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
import sklearn
from skfolio import RiskMeasure
from skfolio.moments import LedoitWolf
from skfolio.optimization import (
    HierarchicalEqualRiskContribution,
    HierarchicalRiskParity,
    MeanRisk,
    NestedClustersOptimization,
    ObjectiveFunction,
    RiskBudgeting,
)
from skfolio.prior import BlackLitterman, EmpiricalPrior, TimeSeriesFactorModel

from backend.core.errors import InvalidInput
from engines.portfolio.compute.estimators import CLARABEL_PARAMS
from engines.portfolio.compute.frontier import efficient_frontier
from engines.portfolio.compute.optimize import optimize
from engines.portfolio.models.optimize import FrontierRequest, OptimizeRequest
from tests.unit.portfolio.conftest import inline

TOL = 1e-4


@pytest.fixture(scope="module")
def X(sp500):  # noqa: ANN001, ANN201
    return sp500.iloc[-750:]


def run(X, **kw):  # noqa: ANN001, ANN003, ANN201
    return optimize(OptimizeRequest(**inline(X, **kw)))


CASES = [
    ({"method": "hrp"}, lambda: HierarchicalRiskParity()),
    ({"method": "herc"}, lambda: HierarchicalEqualRiskContribution()),
    ({"method": "risk_budgeting"}, lambda: RiskBudgeting(solver_params=CLARABEL_PARAMS)),
    ({"method": "risk_budgeting", "risk_measure": "cvar"},
     lambda: RiskBudgeting(risk_measure=RiskMeasure.CVAR, solver_params=CLARABEL_PARAMS)),
    ({"method": "nco"}, lambda: NestedClustersOptimization(inner_estimator=MeanRisk(solver_params=CLARABEL_PARAMS),
                                                           outer_estimator=MeanRisk(solver_params=CLARABEL_PARAMS))),
    ({"risk_measure": "cvar"}, lambda: MeanRisk(risk_measure=RiskMeasure.CVAR, solver_params=CLARABEL_PARAMS)),
    ({"risk_measure": "cdar"}, lambda: MeanRisk(risk_measure=RiskMeasure.CDAR, solver_params=CLARABEL_PARAMS)),
    ({"engine": "skfolio", "prior": {"covariance": "ledoit_wolf"}},
     lambda: MeanRisk(prior_estimator=EmpiricalPrior(covariance_estimator=LedoitWolf()),
                      solver_params=CLARABEL_PARAMS)),
    ({"objective": "max_sharpe",
      "prior": {"kind": "black_litterman", "views": ["AAPL == 0.002", "JPM - XOM == 0.0005"]}},
     lambda: MeanRisk(objective_function=ObjectiveFunction.MAXIMIZE_RATIO, solver_params=CLARABEL_PARAMS,
                      prior_estimator=BlackLitterman(views=["AAPL == 0.002", "JPM - XOM == 0.0005"]))),
]


@pytest.mark.parametrize("kw,reference", CASES, ids=[str(c[0])[:60] for c in CASES])
def test_optimize_when_method_then_weights_equal_skfolio(X, kw, reference):
    got = run(X, **kw)
    ref = reference().fit(X).weights_
    assert np.abs(np.array(got.weights) - ref).max() < TOL
    assert sum(got.risk_contributions) == pytest.approx(1.0, abs=1e-9)
    assert got.solver.engine == "skfolio"


def test_optimize_when_factor_prior_then_equals_skfolio_factor_model(sp500, factor_etfs):
    X = sp500.loc[factor_etfs.index.intersection(sp500.index)].iloc[-500:]
    F = factor_etfs.loc[X.index]
    factors = {"names": list(F.columns), "returns": F.to_numpy().tolist()}
    got = run(X, objective="max_sharpe", prior={"kind": "factor_model", "factors": factors})
    with sklearn.config_context(enable_metadata_routing=True):
        ref = MeanRisk(objective_function=ObjectiveFunction.MAXIMIZE_RATIO, solver_params=CLARABEL_PARAMS,
                       prior_estimator=TimeSeriesFactorModel().set_fit_request(factors=True)).fit(X, factors=F).weights_
    assert np.abs(np.array(got.weights) - ref).max() < TOL


def test_optimize_when_sector_limits_then_equal_skfolio_and_hold(X):
    groups = {s: ("tech" if s in ("AAPL", "AMD", "MSFT") else "other") for s in X.columns}
    limits = [{"group": "tech", "max": 0.1}]
    got = run(X, objective="max_sharpe", constraints={"groups": groups, "group_limits": limits})
    labels = [groups[s] for s in X.columns]
    ref = MeanRisk(objective_function=ObjectiveFunction.MAXIMIZE_RATIO, solver_params=CLARABEL_PARAMS,
                   groups=[labels], linear_constraints=["tech <= 0.1"]).fit(X).weights_
    w = np.array(got.weights)
    assert np.abs(w - ref).max() < TOL
    assert w[[i for i, g in enumerate(labels) if g == "tech"]].sum() <= 0.1 + 1e-7


def test_optimize_when_turnover_and_costs_then_equal_skfolio(X):
    prev = {s: 1 / 20 for s in X.columns}
    got = run(X, constraints={"previous_weights": prev, "max_turnover": 0.3, "transaction_costs_bps": 5})
    prev_w = np.full(20, 1 / 20)
    ref = MeanRisk(previous_weights=prev_w, transaction_costs=5e-4, solver_params=CLARABEL_PARAMS,
                   add_constraints=lambda w: [cp.sum(cp.abs(w - prev_w)) <= 0.3]).fit(X).weights_
    assert np.abs(np.array(got.weights) - ref).max() < TOL
    assert got.turnover == pytest.approx(np.abs(np.array(got.weights) - 1 / 20).sum()) and got.turnover <= 0.3 + 1e-7


def test_optimize_when_cardinality_then_at_most_k_names_by_mip_or_stated_heuristic(X):
    mip = run(X, constraints={"cardinality": 5, "cardinality_method": "mip"})
    heur = run(X, constraints={"cardinality": 5, "cardinality_method": "heuristic"})
    ref = MeanRisk(cardinality=5, solver="SCIP").fit(X).weights_
    assert np.abs(np.array(mip.weights) - ref).max() < 1e-3  # SCIP's own tolerance
    for r in (mip, heur):
        assert np.count_nonzero(np.array(r.weights) > 1e-6) <= 5
    assert (mip.solver.cardinality_method, heur.solver.cardinality_method) == ("mip", "heuristic")
    assert mip.volatility_annual <= heur.volatility_annual * (1 + 1e-4)  # exact up to the MIP gap


def test_optimize_when_auto_and_qualifies_then_fast_path_equals_skfolio(X):
    fast = run(X, objective="max_sharpe", constraints={"max_weight": 0.25})
    slow = run(X, objective="max_sharpe", constraints={"max_weight": 0.25}, engine="skfolio")
    assert fast.solver.engine == "fast" and slow.solver.engine == "skfolio"
    assert np.abs(np.array(fast.weights) - np.array(slow.weights)).max() < TOL
    assert fast.sharpe >= slow.sharpe - 1e-9


def test_optimize_when_covariance_inline_then_fast_path_figures_are_the_definitions():
    cov = np.array([[4e-4, 1e-4], [1e-4, 2.5e-4]])
    r = optimize(OptimizeRequest(market={"symbols": ["A", "B"], "covariance": cov.tolist()}))
    w = np.array(r.weights)
    assert r.volatility_annual == pytest.approx(np.sqrt(252 * w @ cov @ w), rel=1e-12)
    assert r.risk_contributions == pytest.approx((w * (cov @ w) / (w @ cov @ w)).tolist(), rel=1e-12)


@pytest.mark.parametrize("kw,field", [
    ({"constraints": {"max_weight": 0.01}}, "constraints.max_weight"),
    ({"min_return_annual": 5.0}, "min_return_annual"),
    ({"constraints": {"groups": {}, "group_limits": [{"group": "x", "min": 0.2}]}}, "constraints.groups"),
    ({"engine": "fast", "method": "hrp"}, "engine"),
    ({"constraints": {"previous_weights": {"AAPL": 0.8, "AMD": 0.8}}}, "constraints.previous_weights"),
])
def test_optimize_when_infeasible_or_bad_then_invalid_input_naming_field(X, kw, field):
    with pytest.raises(InvalidInput) as e:
        run(X, **kw)
    assert e.value.field == field


def test_optimize_when_infeasible_then_solver_status_reported(X):
    groups = {s: ("a" if i < 10 else "b") for i, s in enumerate(X.columns)}
    with pytest.raises(InvalidInput) as e:
        run(X, risk_measure="cvar", constraints={"groups": groups, "group_limits": [
            {"group": "a", "min": 0.7}, {"group": "b", "min": 0.7}]})
    assert e.value.extra["solver_status"] == "infeasible" and e.value.field == "constraints.group_limits"


def test_optimize_when_too_few_rows_then_invalid_naming_returns(X):
    with pytest.raises(InvalidInput) as e:
        run(X.iloc[:5])
    assert e.value.field == "market.returns"


def test_optimize_when_covariance_not_psd_then_invalid():
    with pytest.raises(InvalidInput) as e:
        optimize(OptimizeRequest(market={"symbols": ["A", "B"], "covariance": [[1.0, 2.0], [2.0, 1.0]]}))
    assert e.value.field == "market.covariance"


def test_optimize_when_covariance_singular_then_fast_refuses_and_skfolio_needs_returns():
    with pytest.raises(InvalidInput) as e:
        optimize(OptimizeRequest(market={"symbols": ["A", "B"], "covariance": [[1.0, 1.0], [1.0, 1.0]]}))
    assert e.value.field == "market.covariance"  # auto falls back to skfolio, which needs scenarios


def test_frontier_when_traced_then_returns_rise_with_volatility_and_ends_at_min_variance(X):
    f = efficient_frontier(FrontierRequest(**inline(X), points=8))
    vols = [p.volatility_annual for p in f.points]
    rets = [p.expected_return_annual for p in f.points]
    assert all(b > a for a, b in zip(rets, rets[1:], strict=False))
    assert all(b >= a - 1e-9 for a, b in zip(vols, vols[1:], strict=False))
    minvar = run(X)
    assert minvar.volatility_annual - 1e-9 <= vols[0] <= minvar.volatility_annual * 1.001
