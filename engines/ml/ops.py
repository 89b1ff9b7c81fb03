"""Operations of the ML engine (:8400): volatility models (forecast, walk-forward evaluation against the
EWMA baseline). Requests that name stored bars declare a ``prepare`` step (``engines.ml.data``) that
turns the reference into inline returns; every ``fn`` here is pure compute."""

from backend.contract.operation import EngineSpec, Operation
from backend.core.scopes import Scope
from engines.ml.models import volatility as vm

_E = "ml"
_PREP = "engines.ml.data:inline_data"

ENGINE = EngineSpec(
    name=_E,
    description="Volatility models (GARCH, GJR-GARCH, EGARCH with Student-t errors via arch, HAR-RV, EWMA) "
    "with forecasts 1..h periods ahead and walk-forward evaluation: every figure out-of-sample, next to the "
    "EWMA (RiskMetrics) baseline, with a Diebold-Mariano test.",
    operations=(
        Operation(engine=_E, name="forecast_volatility", scope=Scope.COMPUTE,
                  request=vm.ForecastVolatilityRequest, response=vm.ForecastVolatilityResponse,
                  fn_path="engines.ml.compute.evaluation:forecast_volatility", prepare_path=_PREP, timeout_s=60.0,
                  summary="Fit a volatility model on a return series (inline or stored bars) and forecast its "
                  "variance 1..h periods ahead"),
        Operation(engine=_E, name="evaluate_volatility", scope=Scope.COMPUTE,
                  request=vm.EvaluateVolatilityRequest, response=vm.EvaluateVolatilityResponse,
                  fn_path="engines.ml.compute.evaluation:evaluate_volatility", prepare_path=_PREP, timeout_s=300.0,
                  summary="Walk-forward (expanding or rolling, periodic re-estimation) out-of-sample QLIKE and MSE "
                  "of a volatility model and the EWMA baseline on the same origins, with a Diebold-Mariano test"),
    ),
)
