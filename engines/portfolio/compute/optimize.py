"""Portfolio optimisation: skfolio for breadth, the fast path for the common problems. Pure compute.

``optimize`` answers one request; ``solve`` is the request-independent core that walk-forward
evaluation calls once per rebalance. Reported figures come from the prior's moments (mu, Σ):
expected return P·mu'w, volatility sqrt(P·w'Σw), Sharpe (return - rf) / volatility, risk
contributions w_i(Σw)_i / w'Σw. An infeasible problem is a 422 whose body carries the solver status
and, where a cheap check finds it, the field of the constraint that cannot hold.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import sklearn
from skfolio.optimization import (
    EqualWeighted,
    HierarchicalEqualRiskContribution,
    HierarchicalRiskParity,
    InverseVolatility,
    MeanRisk,
    NestedClustersOptimization,
    RiskBudgeting,
)

from backend.contract.operation import OpContext
from backend.core.errors import InvalidInput
from engines.portfolio.compute import estimators as est
from engines.portfolio.compute import fast
from engines.portfolio.compute.feasibility import diagnose
from engines.portfolio.compute.problem import Problem, load_problem, universe_check
from engines.portfolio.models.optimize import OptimizeRequest, OptimizeResponse, OptimizeSpec, SolverInfo


@dataclass
class Solution:
    weights: np.ndarray
    mu: np.ndarray
    cov: np.ndarray
    solver: SolverInfo
    warnings: list[str] = field(default_factory=list)


def fast_reason(spec: OptimizeSpec, problem: Problem) -> str | None:
    """Why the fast path cannot take this problem (None: it can)."""
    c = spec.constraints
    if spec.method != "mean_risk" or spec.risk_measure not in ("variance", "standard_deviation"):
        return "the fast path solves mean-variance only"
    if spec.objective not in ("min_risk", "max_sharpe"):
        return "the fast path solves min_risk and max_sharpe only"
    if spec.prior.kind != "empirical" or (spec.objective == "max_sharpe" and spec.prior.mu not in (None, "empirical")):
        return "the fast path uses the empirical prior"
    if c.group_limits or c.max_turnover is not None or c.cardinality is not None or c.budget != 1.0:
        return "the fast path takes bounds only (no groups, turnover, cardinality; budget 1)"
    if c.transaction_costs_bps != 0.0 and c.transaction_costs_bps != {}:
        return "the fast path has no transaction costs"
    if spec.min_return_annual is not None or spec.max_volatility_annual is not None:
        return "the fast path has no return or volatility targets"
    lb, _ = est.bounds(c, problem.symbols)
    if (lb < 0).any():
        return "the fast path is long-only"
    return None


def solve(spec: OptimizeSpec, problem: Problem, factors: pd.DataFrame | None = None) -> Solution:
    """Weights and the prior's moments for one problem."""
    reason = fast_reason(spec, problem)
    if spec.engine == "fast" and reason is not None:
        raise InvalidInput(reason, field="engine")
    if spec.engine != "skfolio" and reason is None:
        out = _solve_fast(spec, problem)
        if out is not None or spec.engine == "fast":
            if out is None:
                raise InvalidInput("the covariance is singular: minimum variance has no unique answer",
                                   field="market", solver_status="singular")
            return out
        fell_back = "covariance singular or degenerate for the fast path; solved with skfolio"
    else:
        fell_back = None
    sol = _solve_skfolio(spec, problem, factors)
    if fell_back:
        sol.warnings.append(fell_back)
    return sol


def _moments(spec: OptimizeSpec, problem: Problem) -> tuple[np.ndarray, np.ndarray]:
    if problem.covariance is not None:
        mean = problem.mean if problem.mean is not None else np.zeros(len(problem.symbols))
        return mean, problem.covariance
    R = problem.returns.to_numpy()  # type: ignore[union-attr]
    if spec.prior.covariance == "sample":
        cov = np.cov(R, rowvar=False, ddof=1).reshape(R.shape[1], R.shape[1])
    else:
        cov = est.covariance_estimator(spec.prior).fit(problem.returns).covariance_
    return R.mean(axis=0), cov


def _solve_fast(spec: OptimizeSpec, problem: Problem) -> Solution | None:
    mu, cov = _moments(spec, problem)
    if spec.objective == "max_sharpe" and problem.covariance is not None and problem.mean is None:
        raise InvalidInput("max_sharpe needs expected returns: give market.mean with the covariance",
                           field="market.mean")
    try:
        np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        return None
    lb, ub = est.bounds(spec.constraints, problem.symbols)
    try:
        if spec.objective == "min_risk":
            r = fast.min_variance(cov, lb, ub)
        else:
            r = fast.max_sharpe(cov, mu, lb, ub, rf=per_period_rf(spec))
    except fast.NotConverged:
        return None
    return Solution(r.weights, mu, cov, SolverInfo(engine="fast", solver="active_set", status=r.status,
                                                   iterations=r.iterations))


def per_period_rf(spec: OptimizeSpec) -> float:
    return (1.0 + spec.risk_free_rate) ** (1.0 / spec.periods_per_year) - 1.0


def _estimator(spec: OptimizeSpec, symbols: list[str], cardinality: int | None, solver: str,
               kw_override: dict | None = None):  # noqa: ANN202 - a skfolio optimiser
    P = spec.periods_per_year
    prior = est.prior_estimator(spec.prior)
    kw = est.common_kwargs(spec, symbols) | (kw_override or {})
    rm = est.RISK_MEASURES[spec.risk_measure]
    groups, linear = est.group_constraints(spec.constraints, symbols)
    convex = {"solver": solver, "solver_params": est.CLARABEL_PARAMS if solver == "CLARABEL" else None,
              "raise_on_failure": False}
    betas = {"cvar_beta": spec.confidence, "evar_beta": spec.confidence, "cdar_beta": spec.confidence}
    if groups is not None:
        kw |= {"groups": groups, "linear_constraints": linear}
    if spec.constraints.max_turnover is not None and spec.method in ("mean_risk", "risk_budgeting"):
        kw["add_constraints"] = _turnover_constraint(spec, symbols)
    if spec.method == "mean_risk":
        return MeanRisk(
            objective_function=est.OBJECTIVES[spec.objective], risk_measure=rm, risk_aversion=spec.risk_aversion,
            prior_estimator=prior, budget=spec.constraints.budget, cardinality=cardinality,
            risk_free_rate=per_period_rf(spec),
            min_return=None if spec.min_return_annual is None else spec.min_return_annual / P,
            max_standard_deviation=None if spec.max_volatility_annual is None
            else spec.max_volatility_annual / np.sqrt(P),
            save_problem=True, **betas, **convex, **kw)
    if spec.method == "risk_budgeting":
        budget = None if spec.risk_budget is None else est.per_asset(spec.risk_budget, symbols, 0.0, "risk_budget")
        if budget is not None and not (np.asarray(budget) > 0).any():
            raise InvalidInput("risk budgets must include a positive value", field="risk_budget")
        return RiskBudgeting(risk_measure=rm, risk_budget=budget, prior_estimator=prior, save_problem=True,
                             **betas, **convex, **kw)
    plain = {k: v for k, v in kw.items() if k in ("min_weights", "max_weights", "previous_weights",
                                                  "transaction_costs")}
    if spec.method == "hrp":
        return HierarchicalRiskParity(risk_measure=rm, prior_estimator=prior, raise_on_failure=True, **plain)
    if spec.method == "herc":
        return HierarchicalEqualRiskContribution(risk_measure=rm, prior_estimator=prior, solver="CLARABEL",
                                                 raise_on_failure=True, **plain)
    if spec.method == "nco":
        inner = MeanRisk(objective_function=est.OBJECTIVES[spec.objective], risk_measure=rm, prior_estimator=prior,
                         risk_free_rate=per_period_rf(spec), solver_params=est.CLARABEL_PARAMS)
        return NestedClustersOptimization(inner_estimator=inner, outer_estimator=inner, n_jobs=None)
    if spec.method == "inverse_volatility":
        return InverseVolatility(prior_estimator=prior)
    return EqualWeighted()


def _turnover_constraint(spec: OptimizeSpec, symbols: list[str]):  # noqa: ANN202 - skfolio's constraint function
    """Total turnover sum |w - w_prev| <= max_turnover (skfolio's own max_turnover bounds each asset)."""
    import cvxpy as cp

    prev = est.previous(spec.constraints, symbols)
    if prev is None:
        raise InvalidInput("max_turnover needs previous weights (or an account)", field="constraints.max_turnover")
    cap = spec.constraints.max_turnover

    def constraint(w):  # noqa: ANN001, ANN202
        return [cp.sum(cp.abs(w - prev)) <= cap]

    return constraint


def _fit(model, X: pd.DataFrame, factors: pd.DataFrame | None) -> None:  # noqa: ANN001
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if factors is None:
                model.fit(X)
            else:
                with sklearn.config_context(enable_metadata_routing=True):
                    model.fit(X, factors=factors)
        except ValueError as e:  # skfolio's input checks (e.g. a view naming an unknown asset)
            raise InvalidInput(str(e)[:300], field="prior" if "view" in str(e).lower() else "constraints") from e


def _solve_skfolio(spec: OptimizeSpec, problem: Problem, factors: pd.DataFrame | None) -> Solution:
    X = problem.need_returns(f"method {spec.method}")
    c = spec.constraints
    if c.cardinality is not None and spec.method != "mean_risk":
        raise InvalidInput("cardinality applies to mean_risk only", field="constraints.cardinality")
    if spec.prior.kind == "factor_model" and factors is None:
        raise InvalidInput("factor_model needs factor returns", field="prior.factors")
    card_method = None
    if c.cardinality is not None:
        card_method = cardinality_method(c.cardinality_method)
    solver = "SCIP" if card_method == "mip" else "CLARABEL"
    model = _estimator(spec, problem.symbols, c.cardinality if card_method == "mip" else None, solver)
    _fit(model, X, factors)
    tolerance_note = None
    if _failed(model) and solver == "CLARABEL" and "solver_params" in model.get_params():
        model.set_params(solver_params=None)  # the tight tolerance can stall where the default converges
        _fit(model, X, factors)
        tolerance_note = "solved at the solver's default tolerance (the tighter one did not converge)"
    _raise_if_failed(model, spec, problem)
    weights = np.asarray(model.weights_, dtype=float)
    if card_method == "heuristic":
        weights = _cardinality_heuristic(spec, problem, factors, weights, c.cardinality)
    dist = model.prior_estimator_.return_distribution_ if hasattr(model, "prior_estimator_") else None
    mu = dist.mu if dist is not None else X.to_numpy().mean(axis=0)
    cov = dist.covariance if dist is not None else np.cov(X.to_numpy(), rowvar=False)
    problem_ = getattr(model, "problem_", None)
    status = problem_.status if problem_ is not None else "optimal"
    name = problem_.solver_stats.solver_name if problem_ is not None else spec.method
    iters = problem_.solver_stats.num_iters if problem_ is not None else None
    return Solution(weights, np.asarray(mu, float), np.asarray(cov, float),
                    SolverInfo(engine="skfolio", solver=str(name), status=str(status), iterations=iters,
                               cardinality_method=card_method), [tolerance_note] if tolerance_note else [])


def cardinality_method(asked: str) -> str:
    import cvxpy as cp

    has_mip = "SCIP" in cp.installed_solvers()
    if asked == "mip" and not has_mip:
        raise InvalidInput("no mixed-integer solver (SCIP) is installed; use cardinality_method 'heuristic'",
                           field="constraints.cardinality_method")
    return "mip" if asked == "mip" or (asked == "auto" and has_mip) else "heuristic"


def _cardinality_heuristic(spec: OptimizeSpec, problem: Problem, factors: pd.DataFrame | None, w: np.ndarray,
                           k: int) -> np.ndarray:
    """Keep the k largest |weights|, force the rest to 0, solve again (not optimal in general: stated)."""
    if np.count_nonzero(np.abs(w) > 1e-8) <= k:
        return w
    keep = np.argsort(-np.abs(w))[:k]
    lb, ub = est.bounds(spec.constraints, problem.symbols)
    mask = np.zeros(w.size, dtype=bool)
    mask[keep] = True
    lb, ub = np.where(mask, lb, 0.0), np.where(mask, ub, 0.0)
    model = _estimator(spec, problem.symbols, None, "CLARABEL", {"min_weights": lb, "max_weights": ub})
    _fit(model, problem.returns, factors)  # type: ignore[arg-type]
    _raise_if_failed(model, spec, problem)
    return np.asarray(model.weights_, dtype=float)


def _failed(model) -> bool:  # noqa: ANN001
    w = getattr(model, "weights_", None)
    return w is None or bool(np.isnan(np.asarray(w, dtype=float)).any())


def _raise_if_failed(model, spec: OptimizeSpec, problem: Problem) -> None:  # noqa: ANN001
    if not _failed(model):
        return
    problem_ = getattr(model, "problem_", None)
    status = str(problem_.status) if problem_ is not None else "failed"
    field_, why = diagnose(spec, problem.symbols, problem.returns)
    raise InvalidInput(f"the problem has no solution ({status}): {why}", field=field_, solver_status=status)


def describe(spec: OptimizeSpec, problem: Problem, sol: Solution) -> dict:
    """Reported figures of a solution (see the module docstring)."""
    w, mu, cov = sol.weights, sol.mu, sol.cov
    P = spec.periods_per_year
    var = float(w @ cov @ w)
    rc = (w * (cov @ w) / var) if var > 0 else np.zeros_like(w)
    ret = float(P * (mu @ w))
    vol = float(np.sqrt(max(P * var, 0.0)))
    prev = est.previous(spec.constraints, problem.symbols)
    return {
        "symbols": problem.symbols, "weights": w.tolist(), "risk_contributions": rc.tolist(),
        "expected_return_annual": ret, "volatility_annual": vol,
        "sharpe": (ret - spec.risk_free_rate) / vol if vol > 0 else None,
        "turnover": float(np.abs(w - prev).sum()) if prev is not None else None,
        "n_observations": problem.n_observations,
    }


def factor_frame(req: OptimizeRequest, problem: Problem) -> pd.DataFrame | None:
    f = req.prior.factors
    if f is None or req.prior.kind != "factor_model":
        return None
    rows = np.asarray(f.returns, dtype=float)
    if rows.ndim != 2 or rows.shape[1] != len(f.names):
        raise InvalidInput(f"factor rows need {len(f.names)} values (one per name)", field="prior.factors.returns")
    if rows.shape[0] != problem.n_observations:
        raise InvalidInput(f"{rows.shape[0]} factor rows for {problem.n_observations} return rows",
                           field="prior.factors.returns")
    return pd.DataFrame(rows, columns=list(f.names), index=problem.returns.index)  # type: ignore[union-attr]


def optimize(req: OptimizeRequest, ctx: OpContext | None = None) -> OptimizeResponse:
    problem = load_problem(req.market)
    universe_check(req, problem)
    sol = solve(req, problem, factor_frame(req, problem))
    return OptimizeResponse(**describe(req, problem, sol), solver=sol.solver, warnings=sol.warnings)
