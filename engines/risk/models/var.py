"""VaR/CVaR requests and responses: historical, parametric, Monte Carlo, decomposition."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from backend.contract.arrays import Probability
from backend.contract.operation import Model
from engines.risk.models.common import (
    ConfidenceLevels,
    EstimatedLevel,
    HorizonDays,
    HorizonMethod,
    MarketData,
    PositionsSource,
    RiskLevel,
)

#: Largest Monte Carlo sample in one request.
MAX_SCENARIOS = 10_000_000


class PortfolioRiskRequest(PositionsSource):
    market: MarketData
    confidence_levels: ConfidenceLevels = Field(default_factory=lambda: [0.95, 0.99])
    horizon_days: HorizonDays = 1


class HistoricalVarRequest(PortfolioRiskRequest):
    decay: float | None = Field(
        default=None, gt=0.0, le=1.0,
        description="Exponential weighting of scenarios: weight of the scenario k days old is proportional to "
        "decay**k (e.g. 0.99). Null = equal weights.",
    )


class VarResponse(Model):
    method: str
    horizon_days: int
    horizon_scaling: str = Field(description="How the 1-day figure becomes the horizon figure.")
    portfolio_value: float = Field(description="Sum of position values (net).")
    n_observations: int
    effective_observations: float = Field(description="1 / sum(p^2) of the scenario weights (n if equal).")
    levels: list[RiskLevel]


class ParametricVarRequest(PortfolioRiskRequest):
    method: Literal["gaussian", "cornish_fisher"] = "gaussian"


class ParametricLevel(RiskLevel):
    z: float = Field(description="Standard quantile used for the loss: Phi^-1(a), or its Cornish-Fisher adjustment.")


class ParametricVarResponse(Model):
    method: str
    horizon_days: int
    portfolio_value: float
    mean_pnl_1d: float = Field(description="Daily expected P&L of the portfolio (currency).")
    std_pnl_1d: float = Field(description="Daily standard deviation of the portfolio P&L (currency).")
    skewness: float | None = Field(description="Sample skewness of the daily P&L (Cornish-Fisher only).")
    excess_kurtosis: float | None = Field(description="Sample excess kurtosis of the daily P&L (Cornish-Fisher only).")
    covariance_repaired: bool
    covariance_repair_distance: float
    levels: list[ParametricLevel]


class MonteCarloVarRequest(PortfolioRiskRequest):
    distribution: Literal["gaussian", "student_t", "filtered_historical"] = "gaussian"
    dof: float | None = Field(default=None, gt=2.0, le=1000.0,
                              description="Student-t degrees of freedom; null = estimated by maximum likelihood.")
    n_scenarios: int = Field(default=100_000, ge=1_000, le=MAX_SCENARIOS)
    sampler: Literal["pseudo", "sobol"] = Field(
        default="pseudo", description="'sobol' = randomised quasi-Monte Carlo (8 scrambled Sobol replicates).")
    seed: int = Field(default=0, ge=0, le=2**63 - 1)
    horizon_method: HorizonMethod = Field(
        default="sqrt_time",
        description="'sqrt_time': simulate one day, scale by sqrt(horizon); 'paths': simulate daily paths per "
        "asset and compound them over the horizon.")
    ewma_lambda: float = Field(default=0.94, ge=0.5, lt=1.0,
                               description="Volatility filter of the filtered historical bootstrap.")


class MonteCarloVarResponse(Model):
    method: str = "monte_carlo"
    distribution: str
    sampler: str
    horizon_days: int
    horizon_method: str
    n_scenarios: int
    seed: int
    dof: float | None = Field(description="Degrees of freedom used (Student-t).")
    dof_estimated: bool
    linear_collapse: bool = Field(description="True when simulated at portfolio level (no asset matrix built).")
    device: str
    portfolio_value: float
    covariance_repaired: bool
    levels: list[EstimatedLevel]


class DecomposeVarRequest(PositionsSource):
    market: MarketData
    confidence: Probability = 0.99
    horizon_days: HorizonDays = 1
    method: Literal["gaussian", "historical"] = "gaussian"


class PositionContribution(Model):
    symbol: str
    value: float
    marginal_var: float = Field(description="dVaR/dvalue: VaR change per unit of currency added to the position.")
    component_var: float = Field(description="value * marginal_var; components sum to the total (Euler).")
    component_var_pct: float | None
    marginal_cvar: float
    component_cvar: float


class DecomposeVarResponse(Model):
    method: str
    confidence: float
    horizon_days: int
    total_var: float
    total_cvar: float
    sum_component_var: float
    sum_component_cvar: float
    positions: list[PositionContribution]
