"""Operations of the features engine."""

from backend.contract.operation import EngineSpec, Operation
from backend.core.scopes import Scope
from engines.features import models as m

# A declaration table: every entry has the same shape (engine, name, scope, models, function, summary);
# the repetition is deliberate boilerplate, read by the three transports, not shared logic.
_E = "features"


def _example_series(n: int = 300) -> list[dict]:
    """Two symbols of a deterministic random walk: the torch path's example (docs, warm-up, equivalence)."""
    import math

    out = []
    for k, sym in enumerate(("AAA", "BBB")):
        close = [100.0 * math.exp(0.01 * math.sin(0.37 * i + k) + 0.0005 * i * (1 - 2 * k)) for i in range(n)]
        out.append({"symbol": sym, "open": [c * 0.999 for c in close], "high": [c * 1.004 for c in close],
                    "low": [c * 0.995 for c in close], "close": close, "volume": [1e5 + 10 * i for i in range(n)]})
    return out


GPU_EXAMPLE = {"series": _example_series(), "indicators": [
    {"name": "sma", "params": {"timeperiod": 20}}, {"name": "ema", "params": {"timeperiod": 12}},
    {"name": "rsi", "params": {"timeperiod": 14}}, {"name": "bbands", "params": {"timeperiod": 20}},
    {"name": "atr", "params": {"timeperiod": 14}}]}
_C = "engines.features.compute"
_S = "engines.features.store"

ENGINE = EngineSpec(
    name=_E,
    description="Technical indicators (TA-Lib and ours), batch over many symbols, incremental for live bars, "
    "a torch batch path, and named feature sets.",
    operations=(
        Operation(
            engine=_E,
            name="list_indicators", scope=Scope.READ,
            request=m.ListIndicatorsRequest,
            response=m.ListIndicatorsResponse,
            fn_path=f"{_C}:list_indicators",
            summary="The indicator catalog: inputs, parameters with bounds, outputs, source (TA-Lib or ours)",
        ),
        Operation(
            engine=_E,
            name="compute_indicators", scope=Scope.COMPUTE,
            request=m.ComputeIndicatorsRequest,
            response=m.IndicatorsResponse,
            fn_path=f"{_C}:compute_indicators",
            timeout_s=120.0,
            summary="Indicators over inline bar arrays for many symbols (CPU batch path)",
        ),
        Operation(
            engine=_E,
            name="compute_indicators_gpu", scope=Scope.COMPUTE,
            request=m.GpuIndicatorsRequest,
            response=m.IndicatorsResponse,
            fn_path=f"{_C}:compute_indicators_gpu",
            gpu=True,
            native="ml",  # served on the device by the native ML process (the features engine has none)
            example=GPU_EXAMPLE,
            timeout_s=120.0,
            rtol=1e-9,
            summary="Core indicators for many equal-length symbols at once on the torch device",
        ),
        Operation(
            engine=_E,
            name="compute_stored_indicators", scope=Scope.COMPUTE,
            request=m.ComputeStoredIndicatorsRequest,
            response=m.IndicatorsResponse,
            fn_path=f"{_S}:compute_stored_indicators",
            timeout_s=120.0,
            summary="Indicators (a list or a named feature set) over stored bars of many symbols",
        ),
        Operation(
            engine=_E,
            name="update_indicators", scope=Scope.COMPUTE,
            request=m.UpdateIndicatorsRequest,
            response=m.UpdateIndicatorsResponse,
            fn_path=f"{_S}:update_indicators",
            idempotent=False,
            summary="Append live bars to a symbol's incremental state; values equal the batch result",
        ),
        Operation(
            engine=_E,
            name="reset_indicator_stream", scope=Scope.COMPUTE,
            request=m.ResetStreamRequest,
            response=m.ResetStreamResponse,
            fn_path=f"{_S}:reset_indicator_stream",
            summary="Drop a symbol's incremental state for an indicator set",
        ),
        Operation(
            engine=_E,
            name="create_feature_set", scope=Scope.DATA_ADMIN,
            request=m.FeatureSet,
            response=m.FeatureSetRecord,
            fn_path=f"{_S}:create_feature_set",
            idempotent=False,
            summary="Store a named feature set",
        ),
        Operation(
            engine=_E,
            name="update_feature_set", scope=Scope.DATA_ADMIN,
            request=m.FeatureSet,
            response=m.FeatureSetRecord,
            fn_path=f"{_S}:update_feature_set",
            idempotent=False,
            summary="Replace a feature set's indicators (version + 1)",
        ),
        Operation(
            engine=_E,
            name="get_feature_set", scope=Scope.READ,
            request=m.FeatureSetName,
            response=m.FeatureSetRecord,
            fn_path=f"{_S}:get_feature_set",
            summary="A feature set by name",
        ),
        Operation(
            engine=_E,
            name="list_feature_sets", scope=Scope.READ,
            request=m.ListFeatureSetsRequest,
            response=m.FeatureSetList,
            fn_path=f"{_S}:list_feature_sets",
            summary="Feature sets, by name",
        ),
        Operation(
            engine=_E,
            name="delete_feature_set", scope=Scope.DATA_ADMIN,
            request=m.FeatureSetName,
            response=m.Deleted,
            fn_path=f"{_S}:delete_feature_set",
            idempotent=False,
            summary="Delete a feature set",
        ),
    ),
)
