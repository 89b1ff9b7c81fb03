"""Operations of the risk engine (:8200). Monte Carlo ones are gpu=True: torch on ``ctx.device``.

Operations that accept market data by reference (symbols + look-back resolved from the ``bars`` table)
declare ``engines.risk.service`` functions as their ``prepare`` step; every ``fn`` is pure compute.
Monte Carlo results agree across devices statistically, not bit for bit (the
generators differ), hence their rtol.
"""

from backend.contract.operation import EngineSpec, Operation
from backend.core.scopes import Scope
from engines.risk.models import backtest as bt
from engines.risk.models import limits as lm
from engines.risk.models import margin as mg
from engines.risk.models import options as op
from engines.risk.models import stress as st
from engines.risk.models import var as vr

# A declaration table: every entry has the same shape (engine, name, scope, models, function, summary);
# the repetition is deliberate boilerplate, read by the three transports, not shared logic.
_E = "risk"
#: The I/O step of operations that accept market data by reference.
_PREP = "engines.risk.service:inline_market"
#: Monte Carlo agreement between devices (different generator streams): a few standard errors.
MC_RTOL = 0.05

#: Valid requests for the GPU-capable operations: documentation, native warm-up, equivalence tests.
MC_EXAMPLE = {
    "positions": [{"symbol": "AAA", "value": 1_000_000.0}, {"symbol": "BBB", "value": -400_000.0},
                  {"symbol": "CCC", "value": 2_500_000.0}],
    "market": {"symbols": ["AAA", "BBB", "CCC"],
               "covariance": [[4.0e-4, 1.0e-4, 5.0e-5], [1.0e-4, 2.5e-4, 2.0e-5], [5.0e-5, 2.0e-5, 1.0e-4]]},
    "confidence_levels": [0.95, 0.99], "distribution": "student_t", "dof": 5.0, "n_scenarios": 100_000, "seed": 7,
}
OPTIONS_EXAMPLE = {
    "underlyings": [{"symbol": "AAA", "spot": 100.0, "volatility": 0.25, "vol_of_vol": 0.5,
                     "spot_vol_correlation": -0.5}],
    "options": [{"underlying": "AAA", "kind": "call", "strike": 105.0, "expiry_years": 0.5, "implied_vol": 0.24,
                 "quantity": -10.0},
                {"underlying": "AAA", "kind": "put", "strike": 95.0, "expiry_years": 0.5, "implied_vol": 0.27,
                 "quantity": 20.0}],
    "stocks": [{"underlying": "AAA", "quantity": 500.0}],
    "horizon_days": 5, "n_scenarios": 50_000, "seed": 11,
}

ENGINE = EngineSpec(
    name=_E,
    description="VaR/CVaR (historical, parametric, Monte Carlo incl. fat tails and option revaluation), "
    "stress tests, VaR backtests, limit sets with breach detection, margin.",
    operations=(
        Operation(engine=_E, name="compute_historical_var", scope=Scope.COMPUTE,
                  request=vr.HistoricalVarRequest, response=vr.VarResponse,
                  fn_path="engines.risk.compute.var:historical_var", prepare_path=_PREP, timeout_s=60.0,
                  summary="Historical-simulation VaR/CVaR, optionally exponentially weighted"),
        Operation(engine=_E, name="compute_parametric_var", scope=Scope.COMPUTE, request=vr.ParametricVarRequest,
                  response=vr.ParametricVarResponse, fn_path="engines.risk.compute.var:parametric_var",
                  prepare_path=_PREP, timeout_s=60.0,
                  summary="Parametric VaR/CVaR: Gaussian or Cornish-Fisher"),
        Operation(engine=_E, name="decompose_var", scope=Scope.COMPUTE,
                  request=vr.DecomposeVarRequest, response=vr.DecomposeVarResponse,
                  fn_path="engines.risk.compute.var:decompose_var", prepare_path=_PREP, timeout_s=60.0,
                  summary="Marginal and component VaR/CVaR per position (Euler)"),
        Operation(engine=_E, name="simulate_monte_carlo_var", scope=Scope.COMPUTE, request=vr.MonteCarloVarRequest,
                  response=vr.MonteCarloVarResponse, fn_path="engines.risk.compute.montecarlo:monte_carlo_var",
                  prepare_path=_PREP, gpu=True, example=MC_EXAMPLE,
                  timeout_s=300.0, rtol=MC_RTOL,
                  summary="Monte Carlo VaR/CVaR: Gaussian, Student-t, filtered historical; Sobol; standard errors"),
        Operation(engine=_E, name="price_options", scope=Scope.COMPUTE,
                  request=op.PriceOptionsRequest, response=op.PriceOptionsResponse,
                  fn_path="engines.risk.compute.options:price_options", timeout_s=30.0,
                  summary="Black-Scholes prices and greeks of European options"),
        Operation(engine=_E, name="revalue_options", scope=Scope.COMPUTE, request=op.RevalueOptionsRequest,
                  response=op.RevalueOptionsResponse, fn_path="engines.risk.compute.options:revalue_options",
                  gpu=True, timeout_s=300.0, rtol=MC_RTOL, example=OPTIONS_EXAMPLE,
                  summary="Option book VaR by full revaluation under Monte Carlo vs delta-gamma, with the error"),
        Operation(engine=_E, name="run_historical_stress", scope=Scope.COMPUTE, request=st.HistoricalStressRequest,
                  response=st.HistoricalStressResponse, fn_path="engines.risk.compute.stress:historical_stress",
                  prepare_path=_PREP,
                  timeout_s=60.0, summary="Worst N-day windows and named date windows from history"),
        Operation(engine=_E, name="run_hypothetical_stress", scope=Scope.COMPUTE, request=st.HypotheticalStressRequest,
                  response=st.HypotheticalStressResponse, fn_path="engines.risk.compute.stress:hypothetical_stress",
                  prepare_path="engines.risk.service:inline_hypothetical",
                  timeout_s=60.0, summary="Shocks per asset, sector, market; volatility and correlation-to-one"),
        Operation(engine=_E, name="backtest_var", scope=Scope.COMPUTE,
                  request=bt.BacktestVarRequest, response=bt.BacktestVarResponse,
                  fn_path="engines.risk.compute.backtest:backtest_var", timeout_s=30.0,
                  summary="Kupiec POF and Christoffersen independence tests of a VaR series"),
        Operation(engine=_E, name="create_limit_set", scope=Scope.RISK_ADMIN,
                  request=lm.CreateLimitSetRequest, response=lm.LimitSet,
                  fn_path="engines.risk.limit_store:create_limit_set", idempotent=False, timeout_s=10.0,
                  summary="Create a named limit set"),
        Operation(engine=_E, name="get_limit_set", scope=Scope.READ, request=lm.LimitSetRef, response=lm.LimitSet,
                  fn_path="engines.risk.limit_store:get_limit_set", timeout_s=10.0, summary="One limit set"),
        Operation(engine=_E, name="list_limit_sets", scope=Scope.READ, request=lm.ListLimitSetsRequest,
                  response=lm.ListLimitSetsResponse, fn_path="engines.risk.limit_store:list_limit_sets",
                  timeout_s=10.0, summary="Limit sets"),
        Operation(engine=_E, name="update_limit_set", scope=Scope.RISK_ADMIN,
                  request=lm.UpdateLimitSetRequest, response=lm.LimitSet,
                  fn_path="engines.risk.limit_store:update_limit_set", idempotent=False, timeout_s=10.0,
                  summary="Rename, re-describe or replace the limits of a set"),
        Operation(engine=_E, name="delete_limit_set", scope=Scope.RISK_ADMIN,
                  request=lm.LimitSetRef, response=lm.DeleteLimitSetResponse,
                  fn_path="engines.risk.limit_store:delete_limit_set", idempotent=False, timeout_s=10.0,
                  summary="Delete a limit set (its breach history is kept)"),
        Operation(engine=_E, name="check_limits", scope=Scope.COMPUTE,
                  request=lm.CheckLimitsRequest, response=lm.CheckLimitsResponse,
                  fn_path="engines.risk.limit_store:check_limits", idempotent=False, timeout_s=60.0,
                  summary="Utilisation of every limit of a set; breaches stored and published"),
        Operation(engine=_E, name="list_limit_breaches", scope=Scope.READ, request=lm.ListBreachesRequest,
                  response=lm.ListBreachesResponse, fn_path="engines.risk.limit_store:list_limit_breaches",
                  timeout_s=10.0, summary="Recorded limit breaches, newest first"),
        Operation(engine=_E, name="compute_margin", scope=Scope.COMPUTE,
                  request=mg.MarginRequest, response=mg.MarginResponse,
                  fn_path="engines.risk.compute.margin:compute_margin", timeout_s=30.0,
                  summary="Reg-T and portfolio-margin requirements, collateral haircuts, margin call"),
    ),
)
