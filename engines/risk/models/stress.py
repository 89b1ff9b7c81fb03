"""Stress tests: historical windows (worst N-day, named date ranges) and hypothetical shocks."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from backend.contract.arrays import Day, FiniteFloat, Probability, Symbol
from backend.contract.operation import Model
from engines.risk.models.common import MarketData, PositionsSource

MAX_STRESS_SCENARIOS = 100
Shock = Annotated[float, Field(gt=-1.0, le=10.0, allow_inf_nan=False)]
Name = Annotated[str, Field(min_length=1, max_length=100)]


class NamedWindow(Model):
    name: Name
    start: Day
    end: Day

    @model_validator(mode="after")
    def _ordered(self) -> NamedWindow:
        if self.end < self.start:
            raise ValueError("end is before start")
        return self


class HistoricalStressRequest(PositionsSource):
    market: MarketData = Field(description="A return history (inline with dates, or by reference).")
    window_days: int = Field(default=10, ge=1, le=2520, description="Length N of the worst N-day windows.")
    worst_count: int = Field(default=5, ge=0, le=100, description="How many non-overlapping worst windows.")
    named_windows: Annotated[list[NamedWindow], Field(max_length=MAX_STRESS_SCENARIOS)] = Field(default_factory=list)


class PositionPnl(Model):
    symbol: str
    value: float
    pnl: float
    shock: float = Field(description="Return applied to the position.")


class StressResult(Model):
    name: str
    start_index: int | None = None
    end_index: int | None = None
    start_date: Day | None = None
    end_date: Day | None = None
    pnl_total: float
    pnl_pct: float | None = Field(description="P&L / gross exposure.")
    positions: list[PositionPnl]


class HistoricalStressResponse(Model):
    window_days: int
    n_observations: int
    worst_windows: list[StressResult]
    named_windows: list[StressResult]


class StressPosition(Model):
    symbol: Symbol
    value: FiniteFloat = Field(ge=-1e15, le=1e15)
    sector: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        default=None, description="Null = taken from the instruments table when the engine has a database.")
    beta: FiniteFloat = Field(default=1.0, ge=-20, le=20, description="Beta to the market shock.")


class HypotheticalScenario(Model):
    """Price shocks apply by precedence asset > sector > market * beta; vol/correlation shocks stress the VaR."""

    name: Name
    asset_shocks: dict[Symbol, Shock] = Field(default_factory=dict, max_length=5000)
    sector_shocks: dict[Annotated[str, Field(max_length=64)], Shock] = Field(default_factory=dict, max_length=500)
    market_shock: Shock | None = None
    volatility_multiplier: Annotated[float, Field(gt=0.0, le=20.0, allow_inf_nan=False)] = 1.0
    correlation_to_one: bool = False


class HypotheticalStressRequest(Model):
    positions: Annotated[list[StressPosition], Field(min_length=1, max_length=5000)]
    scenarios: Annotated[list[HypotheticalScenario], Field(min_length=1, max_length=MAX_STRESS_SCENARIOS)]
    market: MarketData | None = Field(default=None, description="Needed for volatility and correlation shocks.")
    confidence: Probability = 0.99


class HypotheticalResult(StressResult):
    var_base: float | None = Field(description="Gaussian 1-day VaR with the unstressed covariance.")
    var_stressed: float | None = Field(description="Gaussian 1-day VaR with vol scaled and/or correlations at 1.")


class HypotheticalStressResponse(Model):
    confidence: float
    scenarios: list[HypotheticalResult]
