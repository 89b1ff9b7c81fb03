"""Option pricing and option-portfolio revaluation models (European, Black-Scholes with dividend yield)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from backend.contract.arrays import FiniteFloat, Symbol
from backend.contract.operation import Model
from engines.risk.models.common import ConfidenceLevels, EstimatedLevel, HorizonDays, Matrix

MAX_OPTIONS = 10_000
MAX_UNDERLYINGS = 200

Positive = Annotated[float, Field(gt=0.0, le=1e12, allow_inf_nan=False)]
Vol = Annotated[float, Field(gt=0.0, le=10.0, allow_inf_nan=False)]
Rate = Annotated[float, Field(ge=-0.5, le=1.0, allow_inf_nan=False)]


class OptionQuote(Model):
    kind: Literal["call", "put"]
    spot: Positive
    strike: Positive
    expiry_years: Annotated[float, Field(gt=0.0, le=50.0, allow_inf_nan=False)]
    volatility: Vol = Field(description="Annual (implied) volatility, e.g. 0.2.")
    rate: Rate = 0.0
    dividend_yield: Rate = 0.0


class PriceOptionsRequest(Model):
    options: Annotated[list[OptionQuote], Field(min_length=1, max_length=MAX_OPTIONS)]


class OptionValue(Model):
    price: float
    delta: float = Field(description="dV/dS.")
    gamma: float = Field(description="d2V/dS2.")
    vega: float = Field(description="dV/dsigma per 1.00 of volatility.")
    theta: float = Field(description="dV/dt per year (calendar time passing).")
    rho: float = Field(description="dV/dr per 1.00 of rate.")


class PriceOptionsResponse(Model):
    options: list[OptionValue]


class Underlying(Model):
    symbol: Symbol
    spot: Positive
    volatility: Vol = Field(description="Annual volatility of the underlying's log price in the scenarios.")
    vol_of_vol: Annotated[float, Field(ge=0.0, le=10.0, allow_inf_nan=False)] = Field(
        default=0.0, description="Annual volatility of log implied volatility (0 = implied vols stay put).")
    spot_vol_correlation: Annotated[float, Field(ge=-1.0, le=1.0, allow_inf_nan=False)] = 0.0
    dividend_yield: Rate = 0.0


class OptionPosition(Model):
    underlying: Symbol
    kind: Literal["call", "put"]
    strike: Positive
    expiry_years: Annotated[float, Field(gt=0.0, le=50.0, allow_inf_nan=False)]
    implied_vol: Vol
    quantity: FiniteFloat = Field(ge=-1e9, le=1e9, description="Contracts; negative = short.")
    multiplier: Positive = 100.0


class StockPosition(Model):
    underlying: Symbol
    quantity: FiniteFloat = Field(ge=-1e12, le=1e12, description="Shares; negative = short.")


class RevalueOptionsRequest(Model):
    underlyings: Annotated[list[Underlying], Field(min_length=1, max_length=MAX_UNDERLYINGS)]
    correlation: Matrix | None = Field(default=None, description="Correlation of the underlyings' log returns "
                                       "(default identity).")
    repair_correlation: bool = False
    options: Annotated[list[OptionPosition], Field(max_length=MAX_OPTIONS)] = Field(default_factory=list)
    stocks: Annotated[list[StockPosition], Field(max_length=MAX_UNDERLYINGS)] = Field(default_factory=list)
    rate: Rate = 0.0
    horizon_days: HorizonDays = 1
    confidence_levels: ConfidenceLevels = Field(default_factory=lambda: [0.95, 0.99])
    n_scenarios: int = Field(default=100_000, ge=1_000, le=2_000_000)
    seed: int = Field(default=0, ge=0, le=2**63 - 1)


class LevelError(Model):
    confidence: float
    var_error: float = Field(description="Delta-gamma VaR minus full-revaluation VaR (currency).")
    var_relative_error: float | None
    cvar_error: float


class UnderlyingGreeks(Model):
    symbol: str
    delta: float = Field(description="Share-equivalent delta of all positions on this underlying.")
    gamma: float
    vega: float
    theta: float


class RevalueOptionsResponse(Model):
    portfolio_value: float
    n_scenarios: int
    horizon_days: int
    device: str
    full: list[EstimatedLevel] = Field(description="VaR/CVaR by full Black-Scholes revaluation.")
    delta_gamma: list[EstimatedLevel] = Field(description="VaR/CVaR by the delta-gamma-vega-theta approximation.")
    errors: list[LevelError]
    pnl_rmse: float = Field(description="Root-mean-square difference of scenario P&L, approximation vs full.")
    pnl_max_abs_error: float
    greeks: list[UnderlyingGreeks]
