"""Operations of the factor engine."""

from backend.contract.operation import EngineSpec, Operation
from backend.core.scopes import Scope
from engines.factor import models as m

# A declaration table: every entry has the same shape (engine, name, scope, models, function, summary);
# the repetition is deliberate boilerplate, read by the three transports, not shared logic.
_E = "factor"
_C = "engines.factor.compute"
_S = "engines.factor.store"

ENGINE = EngineSpec(
    name=_E,
    description="Factor library and user-defined factors over a universe of stored instruments, cross-sectional "
    "processing, IC / quantile / regression evaluation, factor correlations.",
    operations=(
        Operation(
            engine=_E,
            name="compute_factors", scope=Scope.COMPUTE,
            request=m.ComputeFactorsRequest,
            response=m.ComputeFactorsResponse,
            fn_path=f"{_S}:compute_factors",
            timeout_s=120.0,
            summary="Factor panels (dates x symbols) over stored bars, with optional cross-sectional processing",
        ),
        Operation(
            engine=_E,
            name="evaluate_stored_factors", scope=Scope.COMPUTE,
            request=m.EvaluateStoredFactorsRequest,
            response=m.EvaluationResponse,
            fn_path=f"{_S}:evaluate_stored_factors",
            timeout_s=120.0,
            summary="IC and rank IC with t-stats and decay, quantile returns, factor returns, correlations",
        ),
        Operation(
            engine=_E,
            name="evaluate_factors", scope=Scope.COMPUTE,
            request=m.EvaluateFactorsRequest,
            response=m.EvaluationResponse,
            fn_path=f"{_C}:evaluate_factors",
            timeout_s=120.0,
            summary="The same evaluation over inline factor and price panels",
        ),
        Operation(
            engine=_E,
            name="process_cross_section", scope=Scope.COMPUTE,
            request=m.ProcessCrossSectionRequest,
            response=m.MatrixResponse,
            fn_path=f"{_C}:process_cross_section",
            summary="Winsorize / z-score / rank / sector-neutralize each date of a panel",
        ),
        Operation(
            engine=_E,
            name="validate_factor_expression", scope=Scope.COMPUTE,
            request=m.ValidateExpressionRequest,
            response=m.ValidateExpressionResponse,
            fn_path=f"{_C}:validate_factor_expression",
            summary="Parse and validate a factor expression (never evaluated as code)",
        ),
        Operation(
            engine=_E,
            name="create_factor", scope=Scope.DATA_ADMIN,
            request=m.FactorDefinition,
            response=m.FactorRecord,
            fn_path=f"{_S}:create_factor",
            idempotent=False,
            summary="Store a user-defined factor",
        ),
        Operation(
            engine=_E,
            name="update_factor", scope=Scope.DATA_ADMIN,
            request=m.FactorDefinition,
            response=m.FactorRecord,
            fn_path=f"{_S}:update_factor",
            idempotent=False,
            summary="Replace a user factor (version + 1)",
        ),
        Operation(
            engine=_E,
            name="get_factor", scope=Scope.READ,
            request=m.FactorNameRequest,
            response=m.FactorRecord,
            fn_path=f"{_S}:get_factor",
            summary="A user factor by name",
        ),
        Operation(
            engine=_E,
            name="list_factors", scope=Scope.READ,
            request=m.ListFactorsRequest,
            response=m.FactorList,
            fn_path=f"{_S}:list_factors",
            summary="Library factors, expression functions and user factors",
        ),
        Operation(
            engine=_E,
            name="delete_factor", scope=Scope.DATA_ADMIN,
            request=m.FactorNameRequest,
            response=m.Deleted,
            fn_path=f"{_S}:delete_factor",
            idempotent=False,
            summary="Delete a user factor",
        ),
    ),
)
