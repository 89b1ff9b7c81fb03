"""Request and response models of the analytics engine."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from backend.contract.arrays import MAX_SERIES_LEN, Day, FiniteFloat, FloatSeries
from backend.contract.operation import Model


class PerformanceRequest(Model):
    """A return series or an equity curve (exactly one), optionally dated and with a benchmark."""

    returns: FloatSeries | None = Field(
        default=None, description="Simple per-period returns, e.g. 0.01 for +1%. Each must be > -1."
    )
    equity: FloatSeries | None = Field(default=None, description="Equity curve (all values > 0).")
    dates: Annotated[list[Day], Field(max_length=MAX_SERIES_LEN + 1)] | None = Field(
        default=None,
        description="One date per return (or per equity point); used to date drawdowns and best/worst periods.",
    )
    benchmark_returns: FloatSeries | None = Field(default=None, description="Benchmark returns, aligned.")
    benchmark_equity: FloatSeries | None = Field(default=None, description="Benchmark equity curve, aligned.")
    periods_per_year: int = Field(default=252, ge=1, le=525_600)
    risk_free_rate: FiniteFloat = Field(default=0.0, ge=-0.5, le=1.0, description="Annual, e.g. 0.03.")

    @model_validator(mode="after")
    def _one_series(self) -> PerformanceRequest:
        if (self.returns is None) == (self.equity is None):
            raise ValueError("give exactly one of 'returns' or 'equity'")
        if self.benchmark_returns is not None and self.benchmark_equity is not None:
            raise ValueError("give at most one of 'benchmark_returns' or 'benchmark_equity'")
        return self


class Drawdown(Model):
    max_drawdown: float = Field(description="Largest peak-to-trough loss as a negative fraction (0 if none).")
    peak_index: int
    trough_index: int
    recovery_index: int | None = Field(description="First index back at the peak level; null if not recovered.")
    peak_date: Day | None = None
    trough_date: Day | None = None
    recovery_date: Day | None = None
    duration_periods: int = Field(description="Peak to recovery (or to the end if not recovered).")


class PeriodValue(Model):
    index: int
    value: float
    date: Day | None = None


class BenchmarkStats(Model):
    alpha: float = Field(description="Jensen's alpha, annualised: (1 + per-period intercept)^P - 1.")
    beta: float
    correlation: float
    tracking_error: float = Field(description="Annualised std of active returns.")
    information_ratio: float
    benchmark_total_return: float


class PerformanceResponse(Model):
    n_periods: int
    total_return: float
    cagr: float
    annualized_return_arithmetic: float
    annualized_volatility: float
    sharpe: float | None = Field(description="Null when volatility is zero.")
    sortino: float | None = Field(description="Null when there is no downside.")
    calmar: float | None = Field(description="Null when there is no drawdown.")
    drawdown: Drawdown
    hit_rate: float = Field(description="Share of periods with a positive return.")
    best_period: PeriodValue
    worst_period: PeriodValue
    benchmark: BenchmarkStats | None = None
