"""Operations of the strategy engine (:8700): the strategies directory (list, describe, validate),
backtests (event-driven through the trading core, or vectorised), their stored results, and the
jobs that run long backtests. Code is never accepted over HTTP: strategies are files of the
strategies directory (engines/strategy/registry.py)."""

from backend.contract.operation import EngineSpec, Operation
from backend.core.scopes import Scope
from backend.jobs.kinds import JobKind
from backend.jobs.models import JobView
from backend.jobs.ops import job_operations
from engines.strategy import models as m

_E = "strategy"
_H = "engines.strategy.handlers:"
_L = "engines.strategy.live:"
BACKTEST_EXAMPLE = {"strategy": "sma_cross", "params": {"fast": 20, "slow": 50}, "symbols": ["^GSPC"],
                    "timeframe": "1d", "options": {"taker_fee_bps": 1.0, "slippage_ticks": 1}}
SWEEP_EXAMPLE = {"strategy": "sma_cross", "symbols": ["^GSPC"], "engine": "vector",
                 "space": {"fast": {"low": 5, "high": 50, "step": 5}, "slow": {"low": 20, "high": 200, "step": 20}},
                 "walk_forward": {"train_bars": 1500, "test_bars": 500}}
#: a double top then a bull flag, one series each
PATTERNS_EXAMPLE = {"closes": [
    [90.0, 95.0, 100.0, 96.0, 92.0, 96.25, 100.5, 94.0, 88.0, 87.0, 86.0, 85.0],
    [100.0, 104.0, 108.0, 112.0, 111.5, 111.0, 110.5, 110.0, 113.0, 113.5, 114.0, 114.5]],
    "order": 1, "pole_bars": 3, "pole_pct": 5.0, "flag_bars": 4}

ENGINE = EngineSpec(
    name=_E,
    description="Strategies as files versioned by content hash, one strategy API from backtest to paper trading, "
    "event-driven backtests through the trading core and vectorised backtests for signal strategies.",
    operations=(
        Operation(engine=_E, name="list_strategies", scope=Scope.READ, request=m.ListStrategiesRequest,
                  response=m.StrategyList, fn_path=_H + "list_strategies",
                  summary="Strategies of the strategies directory: name, version (content hash), parameters"),
        Operation(engine=_E, name="describe_strategy", scope=Scope.READ, request=m.StrategyRef,
                  response=m.StrategyInfo, fn_path=_H + "describe_strategy",
                  summary="One strategy: documentation, typed parameters with ranges, whether it vectorises"),
        Operation(engine=_E, name="validate_strategy", scope=Scope.COMPUTE, request=m.ValidateStrategyRequest,
                  response=m.ValidateStrategyResponse, fn_path=_H + "validate_strategy", timeout_s=60.0,
                  example={"strategy": "sma_cross", "params": {"fast": 10, "slow": 30}},
                  summary="Load a strategy, check its parameters and smoke-run it on canned bars"),
        Operation(engine=_E, name="run_backtest", scope=Scope.COMPUTE, request=m.BacktestRequest,
                  response=m.BacktestResponse, fn_path=_H + "run_backtest", idempotent=False, timeout_s=300.0,
                  example=BACKTEST_EXAMPLE,
                  summary=f"Backtest on stored bars (up to {m.MAX_SYNC_BARS} bars), stored: trades, orders, "
                  "equity, metrics"),
        Operation(engine=_E, name="submit_backtest", scope=Scope.COMPUTE, request=m.BacktestRequest,
                  response=JobView, fn_path=_H + "submit_backtest", idempotent=False, example=BACKTEST_EXAMPLE,
                  summary=f"Queue a backtest as a job (up to {m.MAX_JOB_BARS} bars); progress with bars and ETA"),
        Operation(engine=_E, name="get_backtest", scope=Scope.READ, request=m.BacktestRef,
                  response=m.BacktestResponse, fn_path=_H + "get_backtest",
                  summary="A stored backtest: metrics, trades, orders, logs, equity and exposure curves"),
        Operation(engine=_E, name="list_backtests", scope=Scope.READ, request=m.ListBacktestsRequest,
                  response=m.BacktestList, fn_path=_H + "list_backtests",
                  summary="Stored backtests, newest first (metrics only)"),
        Operation(engine=_E, name="run_sweep", scope=Scope.COMPUTE, request=m.SweepRequest,
                  response=m.SweepResponse, fn_path=_H + "run_sweep", timeout_s=600.0, example=SWEEP_EXAMPLE,
                  summary="Grid or random parameter sweep (optionally walk-forward) with the deflated Sharpe "
                  "ratio and the probability of backtest overfitting"),
        Operation(engine=_E, name="submit_sweep", scope=Scope.COMPUTE, request=m.SweepRequest,
                  response=JobView, fn_path=_H + "submit_sweep", idempotent=False, example=SWEEP_EXAMPLE,
                  summary="Queue a sweep as a job on the local process pool; the job's result is the report"),
        Operation(engine=_E, name="start_paper", scope=Scope.TRADE, request=m.PaperStartRequest,
                  response=m.InstanceView, fn_path=_L + "start_paper", idempotent=False, timeout_s=30.0,
                  summary="Run a strategy on the live feed through the trading core under an account, with a "
                  "rollback rule (paper trading; 'production' is paper too: there is no broker here)"),
        Operation(engine=_E, name="stop_paper", scope=Scope.TRADE, request=m.StopPaperRequest,
                  response=m.InstanceView, fn_path=_L + "stop_paper", idempotent=False, timeout_s=30.0,
                  summary="Stop an instance: cancel its open orders, optionally flatten its positions"),
        Operation(engine=_E, name="pause_paper", scope=Scope.TRADE, request=m.InstanceRef,
                  response=m.InstanceView, fn_path=_L + "pause_paper", idempotent=False,
                  summary="Pause an instance: it stops reading the feed; its orders and positions stay"),
        Operation(engine=_E, name="resume_paper", scope=Scope.TRADE, request=m.InstanceRef,
                  response=m.InstanceView, fn_path=_L + "resume_paper", idempotent=False,
                  summary="Resume a paused instance from the live market (what was published meanwhile is skipped)"),
        Operation(engine=_E, name="paper_status", scope=Scope.READ, request=m.InstanceRef,
                  response=m.InstanceView, fn_path=_L + "paper_status",
                  summary="An instance: status, error, its P&L, positions, open orders, logs, state"),
        Operation(engine=_E, name="list_paper", scope=Scope.READ, request=m.ListInstancesRequest,
                  response=m.InstanceList, fn_path=_L + "list_paper", summary="Paper instances of this engine"),
        Operation(engine=_E, name="promote_strategy", scope=Scope.TRADE, request=m.PromoteRequest,
                  response=m.PromoteResponse, fn_path=_L + "promote_strategy", idempotent=False, timeout_s=300.0,
                  summary="Staged promotion: validate -> backtest gate -> paper, each stage recorded with evidence"),
        Operation(engine=_E, name="list_promotions", scope=Scope.READ, request=m.ListPromotionsRequest,
                  response=m.PromotionList, fn_path=_L + "list_promotions",
                  summary="The promotion record: stages passed, failed and rolled back, with evidence and version"),
        Operation(engine=_E, name="detect_chart_patterns", scope=Scope.COMPUTE, request=m.PatternsRequest,
                  response=m.PatternsResponse, fn_path="engines.strategy.pattern_ops:detect_chart_patterns",
                  gpu=True, timeout_s=120.0, rtol=0.0, example=PATTERNS_EXAMPLE,
                  summary="Chart patterns (head and shoulders, double/triple tops and bottoms, triangles, wedges, "
                  "flags, cup and handle) from pivot points, over many series and every bar, on the torch device"),
        *job_operations(_E),
    ),
    jobs=(JobKind("backtest", "engines.strategy.jobs:backtest", timeout_s=3600.0),
          JobKind("sweep", "engines.strategy.jobs:sweep", timeout_s=4 * 3600.0)),
)
