"""Operations of the ML engine (:8400): volatility models (forecast, walk-forward evaluation against the
EWMA baseline), training as jobs into the model registry, promotion, champion/challenger comparison and
prediction with a registered version. Requests that name stored bars declare a ``prepare`` step
(``engines.ml.data``) that turns the reference into inline returns; compute functions are pure, the
registry operations (``engines.ml.service``) are async (PostgreSQL, artifact files)."""

from backend.contract.operation import EngineSpec, Operation
from backend.core.scopes import Scope
from backend.jobs.kinds import JobKind
from backend.jobs.models import JobView
from backend.jobs.ops import job_operations
from engines.ml.models import direction as dm
from engines.ml.models import regime as gm
from engines.ml.models import registry as rm
from engines.ml.models import shadow as sm
from engines.ml.models import volatility as vm

_E = "ml"
_PREP = "engines.ml.data:inline_data"
_S = "engines.ml.service"


def _example_mlp() -> dict:
    """A tiny MLP by value (3 features, 4 hidden units) and 5 rows: docs, native warm-up, equivalence tests."""
    import math

    sizes = {"body.0.weight": 12, "body.0.bias": 4, "body.2.weight": 4, "body.2.bias": 1}
    state = {k: [round(math.sin(2.3 * i + 0.1 * len(k)), 6) for i in range(n)] for k, n in sizes.items()}
    state |= {"mu": [0.0, 0.5, -0.5], "sd": [1.0, 2.0, 0.5]}
    rows = [[math.cos(0.3 * i + j) for j in range(3)] for i in range(5)]
    return {"inline": {"spec": {"model_type": "mlp", "hidden": [4]}, "n_features": 3, "state": state}, "rows": rows}


PREDICT_EXAMPLE = _example_mlp()

ENGINE = EngineSpec(
    name=_E,
    description="Volatility models (GARCH, GJR-GARCH, EGARCH with Student-t errors via arch, HAR-RV, EWMA) "
    "with forecasts 1..h periods ahead and walk-forward evaluation: every figure out-of-sample, next to the "
    "EWMA (RiskMetrics) baseline, with a Diebold-Mariano test. Regimes (Gaussian HMM, Gaussian mixture). "
    "Direction (histogram GBM, torch MLP and LSTM) with purged walk-forward against naive baselines. "
    "Training as jobs into a model registry in PostgreSQL (versions, artifacts with hashes, stages), "
    "champion/challenger comparison, prediction.",
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
        Operation(engine=_E, name="detect_regimes", scope=Scope.COMPUTE,
                  request=gm.DetectRegimesRequest, response=gm.DetectRegimesResponse,
                  fn_path="engines.ml.compute.regime:detect_regimes", prepare_path=_PREP, timeout_s=120.0,
                  summary="Gaussian HMM or mixture regimes on return and trailing volatility: paths (causal "
                  "out-of-sample), transition matrix, per-regime statistics next to a volatility-quantile rule"),
        Operation(engine=_E, name="evaluate_direction", scope=Scope.COMPUTE,
                  request=dm.EvaluateDirectionRequest, response=dm.EvaluateDirectionResponse,
                  fn_path="engines.ml.compute.direction:evaluate_direction",
                  prepare_path="engines.ml.data:inline_direction", timeout_s=600.0,
                  summary="Walk-forward (purged, embargoed) direction forecasts of histogram GBM or a torch MLP on "
                  "indicators, or a torch LSTM on return windows: AUC, log-loss, Brier, hit rate next to "
                  "historical-frequency and persistence baselines, Diebold-Mariano on log-loss"),
        Operation(engine=_E, name="tune_direction", scope=Scope.COMPUTE,
                  request=dm.TuneDirectionRequest, response=dm.TuneDirectionResponse,
                  fn_path="engines.ml.compute.direction:tune_direction",
                  prepare_path="engines.ml.data:inline_direction", timeout_s=600.0,
                  summary="Choose among candidate direction models by purged k-fold cross-validation with an "
                  "embargo on the first part, then evaluate the chosen one walk-forward on the rest"),
        Operation(engine=_E, name="train_volatility_model", scope=Scope.COMPUTE,
                  request=rm.TrainVolatilityRequest, response=JobView, fn_path=f"{_S}:train_volatility_model",
                  prepare_path=_PREP, idempotent=False,
                  summary="Queue a training job: walk-forward evaluation, final fit, artifact, new registry "
                  "version in staging (follow it with get_job)"),
        Operation(engine=_E, name="train_direction_model", scope=Scope.COMPUTE,
                  request=dm.TrainDirectionRequest, response=JobView, fn_path=f"{_S}:train_direction_model",
                  prepare_path="engines.ml.data:inline_direction", idempotent=False, timeout_s=120.0,
                  summary="Queue a training job for a direction model: purged walk-forward evaluation, final fit, "
                  "artifact (safetensors for torch, skops for GBM), new registry version in staging"),
        Operation(engine=_E, name="predict_direction", scope=Scope.COMPUTE, request=dm.PredictDirectionRequest,
                  response=dm.PredictDirectionResponse, fn_path="engines.ml.compute.serving:predict_direction",
                  prepare_path=f"{_S}:resolve_prediction", gpu=True, rtol=1e-5, example=PREDICT_EXAMPLE,
                  summary="P(up) for feature rows (or return windows) from a registered direction model (default: "
                  "production) or a torch network by value, kept resident on the device by the native ML process"),
        Operation(engine=_E, name="list_models", scope=Scope.READ, request=rm.ListModelsRequest,
                  response=rm.ModelList, fn_path=f"{_S}:list_models", summary="Registered models and versions"),
        Operation(engine=_E, name="get_model", scope=Scope.READ, request=rm.ModelRef, response=rm.ModelView,
                  fn_path=f"{_S}:get_model",
                  summary="A model's versions: hyper-parameters, dataset and data hash, metrics, stage"),
        Operation(engine=_E, name="promote_model_version", scope=Scope.DATA_ADMIN, request=rm.PromoteRequest,
                  response=rm.StageChange, fn_path=f"{_S}:promote_model_version", idempotent=False,
                  prepare_path=f"{_S}:prepare_promotion", timeout_s=120.0,
                  summary="Move a version to production (archiving the champion), staging or archived; "
                  "promoting an archived version rolls back; optionally only if it beats the champion"),
        Operation(engine=_E, name="delete_model_version", scope=Scope.DATA_ADMIN, request=rm.VersionRef,
                  response=rm.Deleted, fn_path=f"{_S}:delete_model_version", idempotent=False,
                  summary="Delete a version that is not in production, with its artifact"),
        Operation(engine=_E, name="compare_model_versions", scope=Scope.COMPUTE, request=rm.CompareRequest,
                  response=rm.CompareResponse, fn_path=f"{_S}:compare_model_versions", prepare_path=_PREP,
                  timeout_s=120.0,
                  summary="Champion vs challenger with their stored parameters on the same out-of-sample window "
                  "(QLIKE, MSE, Diebold-Mariano), next to the EWMA baseline"),
        Operation(engine=_E, name="compare_direction_versions", scope=Scope.COMPUTE,
                  request=dm.CompareDirectionRequest, response=dm.CompareDirectionResponse,
                  fn_path=f"{_S}:compare_direction_versions", prepare_path="engines.ml.data:inline_direction",
                  timeout_s=120.0,
                  summary="Champion vs challenger direction versions on the same labelled rows of a window after "
                  "both trained (each with its own features): AUC, log-loss, Brier, hit rate, Diebold-Mariano"),
        Operation(engine=_E, name="start_shadow", scope=Scope.COMPUTE, request=sm.StartShadowRequest,
                  response=JobView, fn_path="engines.ml.shadow:start_shadow", idempotent=False,
                  summary="Run a challenger in shadow beside the champion on the live feed (md.bars): a job storing "
                  "both versions' forecasts and, as bars arrive, the outcomes; stop it with cancel_job"),
        Operation(engine=_E, name="compare_shadow", scope=Scope.READ, request=sm.ShadowRef,
                  response=sm.ShadowComparison, fn_path="engines.ml.shadow:compare_shadow",
                  summary="Champion vs challenger over a shadow run's forecasts whose outcome has arrived: QLIKE, "
                  "MSE, Diebold-Mariano"),
        Operation(engine=_E, name="predict_volatility", scope=Scope.COMPUTE, request=rm.PredictVolatilityRequest,
                  response=rm.PredictVolatilityResponse, fn_path=f"{_S}:predict_volatility", prepare_path=_PREP,
                  summary="Variance forecasts 1..h from a registered version (default: production) after the "
                  "given returns"),
        *job_operations(_E),
    ),
    jobs=(JobKind("train_volatility", "engines.ml.training:train_volatility", timeout_s=1800.0,
                  on_done_path="engines.ml.training:register_version"),
          JobKind("train_direction", "engines.ml.training:train_direction", timeout_s=3600.0,
                  on_done_path="engines.ml.training:register_version"),
          # runs until cancelled: it holds one of the engine's job workers meanwhile
          JobKind("shadow_volatility", "engines.ml.shadow:shadow_volatility", timeout_s=30 * 86400.0)),
)
