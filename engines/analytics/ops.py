"""Operations of the analytics engine."""

from backend.contract.operation import EngineSpec, Operation
from backend.core.scopes import Scope
from engines.analytics.models import PerformanceRequest, PerformanceResponse

ENGINE = EngineSpec(
    name="analytics",
    description="Performance metrics (returns, Sharpe, Sortino, alpha/beta, drawdowns), P&L and attribution.",
    operations=(
        Operation(
            engine="analytics",
            name="performance", scope=Scope.COMPUTE,
            request=PerformanceRequest,
            response=PerformanceResponse,
            fn_path="engines.analytics.compute:performance",
            summary="Performance report of a return or equity series, optionally against a benchmark",
            timeout_s=30.0,
        ),
    ),
)
