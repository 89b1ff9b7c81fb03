"""Models of tear sheets: an HTML report with embedded charts, and single charts as images."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field, model_validator

from backend.contract.arrays import MAX_SERIES_LEN, FloatSeries, Symbol
from backend.contract.operation import Model
from engines.analytics.models import PerformanceResponse
from engines.risk.models.common import AccountRef, Matrix

ChartName = Literal["equity", "drawdown", "monthly_heatmap", "rolling", "distribution", "weights"]
CHARTS: tuple[str, ...] = ("equity", "drawdown", "monthly_heatmap", "rolling", "distribution", "weights")


class WeightsHistory(Model):
    symbols: list[Symbol] = Field(min_length=1, max_length=200)
    dates: Annotated[list[dt.date], Field(min_length=1, max_length=100_000)]
    weights: Matrix = Field(description="One row per date, one column per symbol.")


class TearSheetRequest(Model):
    """A return series (with dates), or an account (optionally one strategy) whose daily P&L from stored
    fills and marks gives the returns (prepare step)."""

    title: str = Field(default="Tear sheet", min_length=1, max_length=200)
    returns: FloatSeries | None = None
    dates: Annotated[list[dt.date], Field(max_length=MAX_SERIES_LEN)] | None = None
    account: AccountRef | None = None
    benchmark_returns: FloatSeries | None = None
    benchmark_name: str = Field(default="benchmark", min_length=1, max_length=64)
    weights_history: WeightsHistory | None = None
    periods_per_year: int = Field(default=252, ge=1, le=525_600)
    risk_free_rate: float = Field(default=0.0, ge=-0.5, le=1.0, description="Annual.")
    rolling_window: int = Field(default=126, ge=2, le=10_000)
    format: Literal["png", "svg"] = "png"

    @model_validator(mode="after")
    def _source(self) -> TearSheetRequest:
        if (self.returns is None) == (self.account is None):
            raise ValueError("give exactly one of 'returns' or 'account'")
        return self


class TearSheetResponse(Model):
    html: str = Field(description="A self-contained HTML page (charts embedded as data URIs).")
    charts: list[str]
    metrics: PerformanceResponse
    n_periods: int


class ChartRequest(TearSheetRequest):
    chart: ChartName
    width_px: int = Field(default=900, ge=200, le=4000)
    height_px: int = Field(default=400, ge=150, le=3000)


class ChartResponse(Model):
    chart: str
    media_type: Literal["image/png", "image/svg+xml"]
    data_base64: str = Field(description="The image bytes, base64: <img src=\"data:{media_type};base64,{data}\">.")
    width_px: int
    height_px: int
