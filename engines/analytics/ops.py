"""Operations of the analytics engine (:8100): performance, rolling and calendar tables, drawdowns,
P&L from the trading core's fills, Brinson-Fachler and factor attribution, tear sheets.

Operations that accept an account reference declare ``engines.analytics.service`` functions as
their ``prepare`` step (database reads); every ``fn`` is pure compute."""

from backend.contract.operation import EngineSpec, Operation
from backend.core.scopes import Scope
from engines.analytics import models_attribution as at
from engines.analytics import models_pnl as pn
from engines.analytics import models_series as se
from engines.analytics import models_tearsheet as ts
from engines.analytics.models import PerformanceRequest, PerformanceResponse

# A declaration table: every entry has the same shape (engine, name, scope, models, function, summary);
# the repetition is deliberate boilerplate, read by the three transports, not shared logic.
_E = "analytics"
_ACCOUNT_RETURNS = "engines.analytics.service:account_returns"

ENGINE = EngineSpec(
    name=_E,
    description="Performance metrics (returns, Sharpe, Sortino, alpha/beta, drawdowns), rolling and calendar "
    "tables, P&L from the trading core's fills, Brinson-Fachler and Fama-French attribution, tear sheets.",
    operations=(
        Operation(
            engine=_E,
            name="performance", scope=Scope.COMPUTE,
            request=PerformanceRequest,
            response=PerformanceResponse,
            fn_path="engines.analytics.compute:performance",
            summary="Performance report of a return or equity series, optionally against a benchmark",
            timeout_s=30.0,
        ),
        Operation(engine=_E, name="compute_rolling_metrics", scope=Scope.COMPUTE, request=se.RollingRequest,
                  response=se.RollingResponse, fn_path="engines.analytics.series:rolling", timeout_s=30.0,
                  summary="Rolling return, volatility, Sharpe and beta over a window"),
        Operation(engine=_E, name="compute_drawdown_table", scope=Scope.COMPUTE, request=se.DrawdownTableRequest,
                  response=se.DrawdownTableResponse, fn_path="engines.analytics.series:drawdown_table",
                  timeout_s=30.0, summary="The N deepest drawdowns with dates and durations"),
        Operation(engine=_E, name="compute_calendar_returns", scope=Scope.COMPUTE, request=se.CalendarRequest,
                  response=se.CalendarResponse, fn_path="engines.analytics.series:calendar", timeout_s=30.0,
                  summary="Monthly and yearly returns tables"),
        Operation(engine=_E, name="compute_pnl", scope=Scope.READ, request=pn.PnlRequest, response=pn.PnlResponse,
                  fn_path="engines.analytics.pnl:pnl", prepare_path="engines.analytics.service:account_pnl_inputs",
                  timeout_s=60.0, summary="Daily P&L of an account or strategy from stored fills and marks"),
        Operation(engine=_E, name="attribute_brinson", scope=Scope.COMPUTE, request=at.BrinsonRequest,
                  response=at.BrinsonResponse, fn_path="engines.analytics.attribution:brinson", timeout_s=30.0,
                  summary="Brinson-Fachler allocation, selection and interaction by sector (Carino-linked)"),
        Operation(engine=_E, name="attribute_factors", scope=Scope.COMPUTE, request=at.FactorAttributionRequest,
                  response=at.FactorAttributionResponse, fn_path="engines.analytics.factors:factor_attribution",
                  timeout_s=30.0, summary="Factor regression (Fama-French 3 or given factors) with t-statistics"),
        Operation(engine=_E, name="render_tear_sheet", scope=Scope.COMPUTE, request=ts.TearSheetRequest,
                  response=ts.TearSheetResponse, fn_path="engines.analytics.tearsheet.report:tear_sheet",
                  prepare_path=_ACCOUNT_RETURNS, timeout_s=120.0,
                  summary="HTML tear sheet with embedded charts for a return series, an account or a strategy"),
        Operation(engine=_E, name="render_chart", scope=Scope.COMPUTE, request=ts.ChartRequest,
                  response=ts.ChartResponse, fn_path="engines.analytics.tearsheet.report:chart",
                  prepare_path=_ACCOUNT_RETURNS, timeout_s=60.0,
                  summary="One tear-sheet chart as a PNG or SVG image (base64)"),
    ),
)
