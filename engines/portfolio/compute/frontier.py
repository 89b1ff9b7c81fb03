"""The efficient frontier of a mean-risk problem (skfolio ``efficient_frontier_size``). Pure compute.

Points run from the minimum-risk portfolio to the maximum-return one, equally spaced in expected
return; each reports the same figures as an optimisation (prior moments) plus the risk measure's
own value on the return scenarios, and the index of the point with the highest Sharpe ratio.
"""

from __future__ import annotations

import numpy as np
from skfolio import Portfolio

from backend.contract.operation import OpContext
from backend.core.errors import InvalidInput
from engines.portfolio.compute import estimators as est
from engines.portfolio.compute.optimize import _estimator, _fit, _raise_if_failed, factor_frame
from engines.portfolio.compute.problem import load_problem, universe_check
from engines.portfolio.models.optimize import FrontierPoint, FrontierRequest, FrontierResponse


def efficient_frontier(req: FrontierRequest, ctx: OpContext | None = None) -> FrontierResponse:
    if req.method != "mean_risk" or req.objective != "min_risk":
        raise InvalidInput("the frontier is traced by mean_risk with objective min_risk", field="method")
    if req.constraints.cardinality is not None:
        raise InvalidInput("no frontier with a cardinality constraint", field="constraints.cardinality")
    problem = load_problem(req.market)
    universe_check(req, problem)
    X = problem.need_returns("the efficient frontier")
    model = _estimator(req, problem.symbols, None, "CLARABEL")
    model.set_params(efficient_frontier_size=req.points)
    _fit(model, X, factor_frame(req, problem))
    _raise_if_failed(model, req, problem)
    W = np.atleast_2d(np.asarray(model.weights_, dtype=float))
    dist = model.prior_estimator_.return_distribution_
    mu, cov, P = np.asarray(dist.mu), np.asarray(dist.covariance), req.periods_per_year
    measure = est.RISK_MEASURES[req.risk_measure]
    points = []
    for w in W:
        ret = float(P * mu @ w)
        vol = float(np.sqrt(max(P * w @ cov @ w, 0.0)))
        ptf = Portfolio(X, w, risk_free_rate=0.0, cvar_beta=req.confidence, cdar_beta=req.confidence,
                        evar_beta=req.confidence)
        points.append(FrontierPoint(weights=w.tolist(), expected_return_annual=ret, volatility_annual=vol,
                                    risk=float(getattr(ptf, measure.value)),
                                    sharpe=(ret - req.risk_free_rate) / vol if vol > 0 else None))
    sharpes = [p.sharpe if p.sharpe is not None else -np.inf for p in points]
    return FrontierResponse(symbols=problem.symbols, risk_measure=req.risk_measure, points=points,
                            max_sharpe_index=int(np.argmax(sharpes)))
