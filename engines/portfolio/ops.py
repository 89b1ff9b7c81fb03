"""Operations of the portfolio engine (:8900): optimisation, the efficient frontier, rebalancing and
walk-forward evaluation. Requests that name stored data (bars, a trading account) declare a
``prepare`` step in ``engines.portfolio.service``; every ``fn`` but ``execute_rebalance`` is pure.
``execute_rebalance`` is async: it submits orders to the trading core (scope ``trade``)."""

from backend.contract.operation import EngineSpec, Operation
from backend.core.scopes import Scope
from engines.portfolio.models import optimize as om
from engines.portfolio.models import rebalance as rb
from engines.portfolio.models import walkforward as wf

# A declaration table: every entry has the same shape (engine, name, scope, models, function, summary);
# the repetition is deliberate boilerplate, read by the three transports, not shared logic.
_E = "portfolio"
#: A valid request, shown in the docs.
OPTIMIZE_EXAMPLE = {
    "market": {"symbols": ["AAA", "BBB", "CCC"], "covariance": [[4.0e-4, 1.0e-4, 5.0e-5], [1.0e-4, 2.5e-4, 2.0e-5],
                                                                [5.0e-5, 2.0e-5, 1.0e-4]]},
    "objective": "min_risk", "constraints": {"max_weight": 0.6},
}

ENGINE = EngineSpec(
    name=_E,
    description="Portfolio optimisation (mean-risk, risk budgeting, HRP, HERC, NCO, Black-Litterman and factor "
    "priors on skfolio; a fast path for long-only min variance and max Sharpe), efficient frontiers, "
    "rebalancing into orders with costs, and walk-forward evaluation of allocation policies.",
    operations=(
        Operation(engine=_E, name="optimize_portfolio", scope=Scope.COMPUTE,
                  request=om.OptimizeRequest, response=om.OptimizeResponse,
                  fn_path="engines.portfolio.compute.optimize:optimize",
                  prepare_path="engines.portfolio.service:inline_optimize", timeout_s=120.0, example=OPTIMIZE_EXAMPLE,
                  summary="Optimal weights, risk contributions, expected return/volatility/Sharpe, solver status"),
        Operation(engine=_E, name="compute_efficient_frontier", scope=Scope.COMPUTE,
                  request=om.FrontierRequest, response=om.FrontierResponse,
                  fn_path="engines.portfolio.compute.frontier:efficient_frontier",
                  prepare_path="engines.portfolio.service:inline_optimize", timeout_s=120.0,
                  summary="Mean-risk efficient frontier: weights, return, volatility, risk and Sharpe per point"),
        Operation(engine=_E, name="plan_rebalance", scope=Scope.READ,
                  request=rb.RebalanceRequest, response=rb.RebalancePlan,
                  fn_path="engines.portfolio.compute.rebalance:plan",
                  prepare_path="engines.portfolio.service:inline_rebalance", timeout_s=30.0,
                  summary="Orders (in lots, with estimated costs) that move an account to target weights"),
        Operation(engine=_E, name="execute_rebalance", scope=Scope.TRADE,
                  request=rb.ExecuteRebalanceRequest, response=rb.ExecuteRebalanceResponse,
                  fn_path="engines.portfolio.execute:execute_rebalance",
                  prepare_path="engines.portfolio.service:inline_rebalance", idempotent=False, timeout_s=60.0,
                  summary="Plan a rebalance and, unless dry_run, submit it to the trading core (orders or TWAP/VWAP)"),
        Operation(engine=_E, name="evaluate_allocation_policy", scope=Scope.COMPUTE,
                  request=wf.WalkForwardRequest, response=wf.WalkForwardResponse,
                  fn_path="engines.portfolio.compute.walkforward:evaluate",
                  prepare_path="engines.portfolio.service:inline_walkforward", timeout_s=300.0,
                  summary="Walk-forward evaluation of a policy with costs against equal weight and 60/40"),
    ),
)
