"""Models of return attribution: Brinson-Fachler by sector, and factor regression."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field, model_validator

from backend.contract.arrays import MAX_SERIES_LEN, FiniteFloat, FloatSeries, Symbol
from backend.contract.operation import Model
from engines.risk.models.common import Matrix

Sector = Annotated[str, Field(min_length=1, max_length=64)]
MAX_SEGMENTS = 5_000
MAX_PERIODS = 10_000


class Segment(Model):
    """One holding (or a whole sector) in one period: weight at the start, return over the period."""

    sector: Sector
    weight: FiniteFloat = Field(ge=-10, le=10)
    ret: FiniteFloat = Field(gt=-1, le=100, alias="return", description="Simple return over the period.")
    symbol: Symbol | None = None

    model_config = Model.model_config | {"populate_by_name": True}


class AttributionPeriod(Model):
    portfolio: list[Segment] = Field(min_length=1, max_length=MAX_SEGMENTS)
    benchmark: list[Segment] = Field(min_length=1, max_length=MAX_SEGMENTS)
    date: dt.date | None = None


class BrinsonRequest(Model):
    periods: list[AttributionPeriod] = Field(min_length=1, max_length=MAX_PERIODS)
    linking: Literal["carino"] = Field(default="carino",
                                       description="How several periods' effects are linked to the compounded "
                                       "active return (Carino 1999 logarithmic smoothing).")


class SectorEffects(Model):
    sector: str
    portfolio_weight: float
    benchmark_weight: float
    portfolio_return: float | None = Field(description="Null in the linked multi-period summary.")
    benchmark_return: float | None
    allocation: float
    selection: float
    interaction: float
    total: float


class PeriodEffects(Model):
    date: dt.date | None
    portfolio_return: float
    benchmark_return: float
    active_return: float
    sectors: list[SectorEffects]


class BrinsonResponse(Model):
    portfolio_return: float = Field(description="Compounded over the periods.")
    benchmark_return: float
    active_return: float = Field(description="portfolio_return - benchmark_return.")
    allocation: float
    selection: float
    interaction: float
    residual: float = Field(description="active_return - (allocation + selection + interaction): rounding only.")
    sectors: list[SectorEffects] = Field(description="Linked effects by sector over all periods.")
    periods: list[PeriodEffects]


class FactorSeries(Model):
    names: list[Symbol] = Field(min_length=1, max_length=50)
    returns: Matrix = Field(description="One row per portfolio return, one column per factor (simple returns).")
    risk_free: FloatSeries | None = Field(default=None, description="Per-period risk-free return, aligned.")


class FactorAttributionRequest(Model):
    returns: FloatSeries
    dates: Annotated[list[dt.date], Field(max_length=MAX_SERIES_LEN)] | None = None
    factors: Literal["fama_french_3"] | FactorSeries = Field(
        default="fama_french_3",
        description="'fama_french_3': monthly Mkt-RF, SMB, HML and RF shipped with the arch package (1926-07 to "
        "2018-11); the returns must then be monthly and dated (any day in the month). Or factor returns inline.")
    periods_per_year: int = Field(default=12, ge=1, le=525_600)
    hac_lags: int | None = Field(default=None, ge=0, le=100, description="Newey-West standard errors with these "
                                 "lags; null: classical OLS standard errors.")

    @model_validator(mode="after")
    def _dated_ff(self) -> FactorAttributionRequest:
        if self.factors == "fama_french_3" and self.dates is None:
            raise ValueError("fama_french_3 needs dates (one per monthly return)")
        return self


class FactorExposure(Model):
    name: str
    beta: float
    std_error: float
    t_stat: float
    p_value: float
    mean_factor_return: float = Field(description="Per period.")
    contribution_annual: float = Field(description="beta * mean factor return * periods_per_year.")


class FactorAttributionResponse(Model):
    n_observations: int
    alpha: float = Field(description="Intercept per period.")
    alpha_annual: float = Field(description="alpha * periods_per_year.")
    alpha_std_error: float
    alpha_t_stat: float
    alpha_p_value: float
    r_squared: float
    adj_r_squared: float
    exposures: list[FactorExposure]
    mean_excess_return_annual: float = Field(description="= alpha_annual + sum of contributions (OLS identity).")
    first_date: dt.date | None = None
    last_date: dt.date | None = None
