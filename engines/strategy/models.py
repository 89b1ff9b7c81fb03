"""Request and response models of the strategy engine."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, model_validator

from backend.contract.arrays import FiniteFloat, FloatArray, Instant, Symbol
from backend.contract.operation import Model
from engines.marketdata.timeframes import TIMEFRAME_PATTERN

StrategyName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]
Version = Annotated[str, Field(min_length=16, max_length=16, pattern=r"^[0-9a-f]{16}$")]
ParamValue = (Annotated[int, Field(ge=-10**12, le=10**12)]
              | Annotated[float, Field(ge=-1e12, le=1e12, allow_inf_nan=False)]
              | bool | Annotated[str, Field(max_length=200)])
ParamValues = Annotated[dict[Annotated[str, Field(max_length=64)], ParamValue], Field(max_length=64)]

#: Bars one synchronous backtest may read (all symbols together); longer runs are jobs (submit_backtest).
MAX_SYNC_BARS = 200_000
#: Bars one backtest job may read.
MAX_JOB_BARS = 2_000_000
#: Trades and orders a synchronous response carries (all are stored; get_backtest pages them).
MAX_RESPONSE_ROWS = 10_000


class ParamInfo(Model):
    type: str
    default: ParamValue
    low: float | None
    high: float | None
    step: float | None
    choices: list[Any] | None
    doc: str


class StrategyInfo(Model):
    name: str
    version: str
    class_name: str | None = None
    description: str | None = None
    doc: str | None = None
    vectorised: bool | None = Field(default=None, description="gives signals for the vectorised backtest")
    kind: Literal["signal", "event"] | None = None
    params: dict[str, ParamInfo] | None = None
    error: str | None = Field(default=None, description="why the file does not load (then nothing else is given)")


class ListStrategiesRequest(Model):
    pass


class StrategyList(Model):
    directory: str
    items: list[StrategyInfo]


class StrategyRef(Model):
    strategy: StrategyName
    version: Version | None = Field(default=None, description="refuse any other content of the file")


class ValidateStrategyRequest(StrategyRef):
    params: ParamValues = Field(default_factory=dict)


class ValidateStrategyResponse(Model):
    strategy: str
    version: str
    params: dict[str, ParamValue]
    warmup_bars: int
    smoke: dict[str, Any] = Field(description="metrics of an event-driven run on 500 canned synthetic bars")


class RiskOptions(Model):
    """Pre-trade limits of the backtest account (the trading core's RiskLimits; null turns one off)."""

    max_order_qty: FiniteFloat | None = Field(default=None, ge=0)
    max_order_notional: FiniteFloat | None = Field(default=None, ge=0)
    price_collar_pct: FiniteFloat | None = Field(default=None, gt=0, le=1000)
    max_position_qty: FiniteFloat | None = Field(default=None, ge=0)
    max_gross_exposure: FiniteFloat | None = Field(default=None, ge=0)
    max_open_orders: int | None = Field(default=None, ge=0, le=10_000_000)
    margin_rate: FiniteFloat = Field(default=1.0, gt=0, le=1, description="1: a cash account, no leverage")


class BacktestOptions(Model):
    """Conventions of a run (see engines/strategy/backtest.py and the README)."""

    initial_cash: FiniteFloat = Field(default=100_000.0, gt=0, le=1e12)
    taker_fee_bps: FiniteFloat = Field(default=0.0, ge=0, le=1000)
    maker_fee_bps: FiniteFloat = Field(default=0.0, ge=-100, le=1000)
    slippage_ticks: FiniteFloat = Field(default=0.0, ge=0, le=10_000)
    fill_at: Literal["close", "next_open"] = "close"
    intrabar: Literal["adaptive", "ohlc", "olhc"] = "adaptive"
    tick_size: FiniteFloat | None = Field(default=None, gt=0, le=1e6, description="default: the instrument's")
    lot_size: FiniteFloat | None = Field(default=None, gt=0, le=1e9, description="default: the instrument's")
    liquidity: FiniteFloat | None = Field(default=None, gt=0,
                                          description="units per side at each quote; null: unlimited")
    periods_per_year: int | None = Field(default=None, ge=1, le=525_600, description="default: from the timeframe")
    risk: RiskOptions = Field(default_factory=RiskOptions)


class BacktestRequest(StrategyRef):
    params: ParamValues = Field(default_factory=dict)
    symbols: Annotated[list[Symbol], Field(min_length=1, max_length=20)]
    timeframe: Annotated[str, Field(pattern=TIMEFRAME_PATTERN)] = "1d"
    start: Instant | None = None
    end: Instant | None = None
    engine: Literal["event", "vector"] = "event"
    options: BacktestOptions = Field(default_factory=BacktestOptions)

    @model_validator(mode="after")
    def _range(self) -> BacktestRequest:
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError("end must be after start")
        if len(set(self.symbols)) != len(self.symbols):
            raise ValueError("symbols repeat")
        return self


class EquityCurve(Model):
    ts_ns: list[int]
    equity: list[float]
    exposure: list[float]


class BacktestResponse(Model):
    backtest_id: int
    strategy: str
    version: str
    engine: str
    params: dict[str, ParamValue]
    metrics: dict[str, Any]
    trades: list[dict[str, Any]]
    orders: list[dict[str, Any]]
    logs: list[dict[str, Any]]
    equity: EquityCurve
    truncated: bool = Field(description="trades/orders were cut to MAX_RESPONSE_ROWS (all are stored)")


class BacktestRef(Model):
    backtest_id: int = Field(ge=1, le=2**62)


class ListBacktestsRequest(Model):
    strategy: StrategyName | None = None
    limit: int = Field(default=50, ge=1, le=500)


class BacktestSummary(Model):
    backtest_id: int
    strategy: str
    version: str
    engine: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    job_id: str | None
    created_at: str


class BacktestList(Model):
    items: list[BacktestSummary]


#: Trials x bars one synchronous sweep may evaluate (500 pairs x 5,000 bars); larger sweeps are jobs.
MAX_SYNC_SWEEP_WORK = 2_600_000
#: Trials x bars of one sweep job.
MAX_JOB_SWEEP_WORK = 200_000_000


class RangeSpec(Model):
    low: FiniteFloat | None = None
    high: FiniteFloat | None = None
    step: FiniteFloat | None = Field(default=None, gt=0)


class WalkForwardSpec(Model):
    train_bars: int = Field(ge=20, le=1_000_000)
    test_bars: int = Field(ge=5, le=1_000_000)
    anchored: bool = Field(default=False, description="train windows all start at the first bar")


class SweepRequest(StrategyRef):
    symbols: Annotated[list[Symbol], Field(min_length=1, max_length=1)]
    timeframe: Annotated[str, Field(pattern=TIMEFRAME_PATTERN)] = "1d"
    start: Instant | None = None
    end: Instant | None = None
    engine: Literal["event", "vector"] = "vector"
    options: BacktestOptions = Field(default_factory=BacktestOptions)
    space: Annotated[dict[Annotated[str, Field(max_length=64)], Annotated[list[ParamValue], Field(max_length=5000)]
                          | RangeSpec], Field(min_length=1, max_length=16)] = Field(
        description="per parameter: a list of values, or {low, high, step} (defaults: its declared range)")
    method: Literal["grid", "random"] = "grid"
    samples: int = Field(default=100, ge=1, le=5000, description="parameter sets drawn by the random method")
    seed: int = Field(default=0, ge=0, le=2**31)
    objective: Literal["sharpe", "total_return", "calmar", "final_value"] = "sharpe"
    workers: int = Field(default=1, ge=1, le=16, description="processes of the local pool (at most the CPUs)")
    walk_forward: WalkForwardSpec | None = None

    def backtest(self) -> BacktestRequest:
        """The backtest request naming the same data and conventions (for loading bars)."""
        return BacktestRequest(strategy=self.strategy, version=self.version, symbols=self.symbols,
                               timeframe=self.timeframe, start=self.start, end=self.end, engine=self.engine,
                               options=self.options)


class SweepResponse(Model):
    strategy: str
    version: str
    engine: str
    trials: int
    skipped: int = Field(description="parameter sets the strategy's own rules refused (e.g. fast >= slow)")
    objective: str
    best_index: int
    best: dict[str, Any]
    deflated_sharpe: dict[str, Any]
    pbo: dict[str, Any]
    results: list[dict[str, Any]]
    walk_forward: dict[str, Any] | None = None


AccountId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]


class RollbackRule(Model):
    """When a running instance is stopped and rolled back automatically."""

    max_drawdown_pct: FiniteFloat | None = Field(default=10.0, gt=0, le=100,
                                                 description="equity this far below its peak (%); null: off")
    max_errors: int | None = Field(default=20, ge=1, le=100_000,
                                   description="orders refused by the trading core; null: off")
    max_consecutive_losses: int | None = Field(default=None, ge=1, le=10_000,
                                               description="losing round trips of its book in a row; null: off")
    flatten_on_rollback: bool = True


class PaperStartRequest(StrategyRef):
    params: ParamValues = Field(default_factory=dict)
    account_id: AccountId = Field(description="the trading core account it trades under")
    symbols: Annotated[list[Symbol], Field(min_length=1, max_length=20)]
    bar_seconds: FiniteFloat = Field(default=60.0, ge=0.2, le=86_400, description="bars built from the live feed")
    capital: FiniteFloat = Field(default=100_000.0, gt=0, le=1e12, description="what its equity is measured from")
    rule: RollbackRule = Field(default_factory=RollbackRule)
    stage: Literal["paper", "production"] = Field(
        default="paper", description="production is paper trading too, on its own account: there is no broker here")


class InstanceRef(Model):
    instance_id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[0-9a-z]+$")]


class StopPaperRequest(InstanceRef):
    flatten: bool = Field(default=False, description="close its positions at the market after cancelling orders")


class InstanceView(Model):
    instance_id: str
    strategy: str
    version: str
    params: dict[str, Any]
    strategy_id: str = Field(description="its strategy id in the trading core: <strategy>.<instance id>")
    account_id: str
    symbols: list[str]
    bar_seconds: float
    stage: str
    status: Literal["running", "paused", "stopped", "failed", "rolled_back"]
    error: str | None
    bars: int
    equity: float
    peak_equity: float | None
    drawdown: float
    positions: list[dict[str, Any]]
    open_orders: list[dict[str, Any]]
    logs: list[dict[str, Any]]
    state: dict[str, Any]
    rule: dict[str, Any]


class ListInstancesRequest(Model):
    pass


class InstanceList(Model):
    items: list[InstanceView]


class GateThresholds(Model):
    """The backtest gate: every threshold that is set must hold."""

    min_sharpe: FiniteFloat | None = 0.0
    max_drawdown: FiniteFloat | None = Field(default=0.5, gt=0, le=1, description="largest loss from a peak (0.5: 50%)")
    min_trades: int | None = Field(default=1, ge=0, le=10**9)
    min_deflated_sharpe: FiniteFloat | None = Field(default=None, ge=0, le=1,
                                                    description="of the sweep's best trial (needs a sweep)")
    min_oos_sharpe: FiniteFloat | None = Field(default=None, description="walk-forward out of sample (needs a sweep "
                                               "with walk_forward)")


class PromotionSweep(Model):
    """A sweep before the gate: its best parameter set is the one promoted, and the gate can hold its
    deflated Sharpe ratio and walk-forward out-of-sample Sharpe to thresholds."""

    space: Annotated[dict[Annotated[str, Field(max_length=64)], Annotated[list[ParamValue], Field(max_length=5000)]
                          | RangeSpec], Field(min_length=1, max_length=16)]
    method: Literal["grid", "random"] = "grid"
    samples: int = Field(default=100, ge=1, le=5000)
    seed: int = Field(default=0, ge=0, le=2**31)
    engine: Literal["event", "vector"] = "vector"
    objective: Literal["sharpe", "total_return", "calmar", "final_value"] = "sharpe"
    walk_forward: WalkForwardSpec | None = None


class PromoteRequest(StrategyRef):
    params: ParamValues = Field(default_factory=dict)
    backtest: BacktestRequest = Field(description="the data and conventions of the backtest gate (its strategy, "
                                      "version and params are taken from this request)")
    gate: GateThresholds = Field(default_factory=GateThresholds)
    sweep: PromotionSweep | None = Field(default=None, description="optimise first; its best set is promoted")
    paper: PaperStartRequest = Field(description="where and how the paper stage runs (strategy and params taken "
                                     "from this request)")


class PromotionStage(Model):
    stage: str
    outcome: Literal["passed", "failed", "rolled_back"]
    evidence: dict[str, Any]


class PromoteResponse(Model):
    strategy: str
    version: str
    outcome: Literal["passed", "failed"]
    stages: list[PromotionStage]
    backtest_id: int | None
    instance: InstanceView | None


class ListPromotionsRequest(Model):
    strategy: StrategyName | None = None
    limit: int = Field(default=100, ge=1, le=1000)


class PromotionRecord(PromotionStage):
    id: int
    strategy: str
    version: str
    instance_id: str | None
    created_at: str


class PromotionList(Model):
    items: list[PromotionRecord]


#: Most closes one pattern request may hold (the detector holds ~10 working copies of them).
MAX_PATTERN_ELEMENTS = 2_000_000
PatternName = Literal["double_top", "double_bottom", "triple_top", "triple_bottom", "head_shoulders",
                      "inverse_head_shoulders", "ascending_triangle", "descending_triangle", "symmetric_triangle",
                      "rising_wedge", "falling_wedge", "cup_handle", "bull_flag", "bear_flag"]


class PatternsRequest(Model):
    """Closes of many series (one row each, equal lengths); every bar of every series is a window end."""

    closes: Annotated[np.ndarray, FloatArray(2, max_len=5_000, max_cols=200_000, min_cols=8,
                                             max_elements=MAX_PATTERN_ELEMENTS)] = Field(
        description="series x bars, float64, finite and > 0")
    patterns: Annotated[list[PatternName], Field(min_length=1, max_length=14)] | None = Field(
        default=None, description="the patterns to report (default: all)")
    order: int = Field(default=3, ge=1, le=50, description="pivot: the extreme of 2 order + 1 closes")
    tolerance_pct: FiniteFloat = Field(default=2.0, gt=0, le=20, description="'equal' prices are this close (%)")
    depth_pct: FiniteFloat = Field(default=3.0, gt=0, le=50, description="least depth of tops' troughs, cups (%)")
    pole_bars: int = Field(default=10, ge=1, le=500)
    pole_pct: FiniteFloat = Field(default=8.0, gt=0, le=100)
    flag_bars: int = Field(default=6, ge=2, le=200)
    max_detections: int = Field(default=10_000, ge=1, le=100_000)


class PatternHit(Model):
    series: int
    pattern: str
    index: int = Field(description="the bar at which the pattern is confirmed")


class PatternsResponse(Model):
    detections: list[PatternHit] = Field(description="ordered by series, then bar, then pattern")
    counts: dict[str, int]
    truncated: bool
    windows: int = Field(description="series x bars examined")
    device: str
