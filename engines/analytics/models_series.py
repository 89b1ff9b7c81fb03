"""Models of the series reports: rolling metrics, the drawdown table, monthly and yearly returns."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import Field

from backend.contract.arrays import MAX_SERIES_LEN, FiniteFloat, FloatSeries
from backend.contract.operation import Model

Dates = Annotated[list[dt.date], Field(max_length=MAX_SERIES_LEN)]


class SeriesInput(Model):
    """Simple per-period returns, optionally dated, with an aligned benchmark."""

    returns: FloatSeries
    dates: Dates | None = Field(default=None, description="One date per return, strictly increasing.")
    benchmark_returns: FloatSeries | None = None
    periods_per_year: int = Field(default=252, ge=1, le=525_600)
    risk_free_rate: FiniteFloat = Field(default=0.0, ge=-0.5, le=1.0, description="Annual.")


class RollingRequest(SeriesInput):
    window: int = Field(default=63, ge=2, le=100_000, description="Periods per window.")


class RollingResponse(Model):
    """Value i covers returns [i, i + window); nulls where a metric is undefined (zero variance)."""

    window: int
    end_dates: list[dt.date] | None
    total_return: list[float] = Field(description="prod(1 + r) - 1 over the window.")
    volatility_annual: list[float] = Field(description="std(r, ddof=1) * sqrt(P).")
    sharpe: list[float | None] = Field(description="The performance operation's Sharpe, per window.")
    beta: list[float | None] | None = Field(description="cov(r_e, b_e) / var(b_e), ddof=1, per window.")


class DrawdownTableRequest(SeriesInput):
    top: int = Field(default=5, ge=1, le=100)


class DrawdownRow(Model):
    depth: float = Field(description="Trough wealth / peak wealth - 1 (negative).")
    peak_index: int = Field(description="Wealth-path index (0 = before the first return).")
    trough_index: int
    recovery_index: int | None
    peak_date: dt.date | None = None
    trough_date: dt.date | None = None
    recovery_date: dt.date | None = None
    decline_periods: int
    recovery_periods: int | None
    total_periods: int = Field(description="Peak to recovery, or to the end when not recovered.")


class DrawdownTableResponse(Model):
    drawdowns: list[DrawdownRow] = Field(description="Deepest first; separate episodes (each ends at a new high).")


class CalendarRequest(Model):
    returns: FloatSeries
    dates: Dates = Field(description="One date per return, strictly increasing (required).")


class YearRow(Model):
    year: int
    months: list[float | None] = Field(description="Jan..Dec compounded returns; null where no data.")
    total: float = Field(description="The year's compounded return over the periods present.")


class CalendarResponse(Model):
    years: list[YearRow]
    best_month: float
    worst_month: float
    positive_months: float = Field(description="Share of months with a positive return.")
