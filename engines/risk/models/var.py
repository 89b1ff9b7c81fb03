"""VaR/CVaR requests and responses: historical, parametric, Monte Carlo, decomposition."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from backend.contract.arrays import FiniteFloat, Probability, Symbol
from backend.contract.operation import Model
from engines.risk.models.common import (
    MAX_POSITIONS,
    ConfidenceLevels,
    EstimatedLevel,
    HorizonDays,
    HorizonMethod,
    MarketData,
    Position,
    PositionsSource,
    RiskLevel,
    Row,
)

#: Largest Monte Carlo sample in one request.
MAX_SCENARIOS = 10_000_000
#: Most option positions in one Monte Carlo request.
MAX_MC_OPTIONS = 10_000


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


class MCOptionPosition(Model):
    """A European option on one of the market's symbols, revalued in every scenario."""

    underlying: Symbol = Field(description="One of market.symbols: its simulated return moves the spot.")
    spot: Annotated[float, Field(gt=0.0, le=1e12, allow_inf_nan=False)] = Field(description="Underlying price now.")
    kind: Literal["call", "put"]
    strike: Annotated[float, Field(gt=0.0, le=1e12, allow_inf_nan=False)]
    expiry_years: Annotated[float, Field(gt=0.0, le=50.0, allow_inf_nan=False)]
    implied_vol: Annotated[float, Field(gt=0.0, le=10.0, allow_inf_nan=False)] = Field(
        description="Annual implied volatility; held constant across scenarios.")
    quantity: FiniteFloat = Field(ge=-1e9, le=1e9, description="Contracts; negative = short.")
    multiplier: Annotated[float, Field(gt=0.0, le=1e6, allow_inf_nan=False)] = 100.0
    rate: Annotated[float, Field(ge=-0.5, le=1.0, allow_inf_nan=False)] = 0.0
    dividend_yield: Annotated[float, Field(ge=-0.5, le=1.0, allow_inf_nan=False)] = 0.0


class MonteCarloVarRequest(PortfolioRiskRequest):
    positions: Annotated[list[Position], Field(max_length=MAX_POSITIONS)] | None = Field(
        default=None, description="Linear positions (may be empty when the book is options only).")
    method: Literal["linear_shortcut", "asset_level"] = Field(
        default="linear_shortcut",
        description="'linear_shortcut': a linear book's P&L simulated at portfolio level (one draw per scenario); "
        "'asset_level': every asset's return simulated and every position (options included) revalued.")
    distribution: Literal["gaussian", "student_t", "filtered_historical"] = "gaussian"
    dof: float | None = Field(default=None, gt=2.0, le=1000.0,
                              description="Student-t degrees of freedom; null = estimated by maximum likelihood.")
    dof_per_asset: Row | None = Field(
        default=None, description="asset_level + student_t: one degrees of freedom per market symbol (each > 2), "
        "joined by a Gaussian copula of the covariance's correlation (each marginal keeps its variance).")
    options: Annotated[list[MCOptionPosition], Field(max_length=MAX_MC_OPTIONS)] = Field(
        default_factory=list, description="asset_level: options revalued in every scenario.")
    revaluation: Literal["full", "delta_gamma"] = Field(
        default="full", description="Options: full Black-Scholes repricing, or the delta-gamma(-theta) "
        "approximation.")
    components: bool = Field(default=False, description="asset_level: each position's contribution to VaR "
                             "(mean loss near the VaR) and to CVaR (mean loss beyond it); they sum to the totals.")
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

    @model_validator(mode="after")
    def _method_fits(self) -> MonteCarloVarRequest:
        if self.method == "linear_shortcut":
            for name in ("options", "dof_per_asset", "components"):
                if getattr(self, name) not in (None, [], False):
                    raise ValueError(f"'{name}' needs method 'asset_level' (the linear shortcut simulates a linear "
                                     "book at portfolio level)")
        if self.dof_per_asset is not None and self.distribution != "student_t":
            raise ValueError("'dof_per_asset' goes with distribution 'student_t'")
        if self.dof_per_asset is not None and bool((self.dof_per_asset <= 2.0).any()):
            raise ValueError("every 'dof_per_asset' must be > 2")
        if self.components and self.sampler != "pseudo":
            raise ValueError("'components' needs sampler 'pseudo' (the scenarios are drawn again to attribute them)")
        return self


class ComponentRisk(Model):
    position: str = Field(description="'<symbol>' for a linear position, 'option <i> (<underlying>)' for one.")
    component_var: float = Field(description="Mean loss of this position in the scenarios around the VaR.")
    component_cvar: float = Field(description="Mean loss of this position in the scenarios beyond the VaR.")


class LevelComponents(Model):
    confidence: float
    by_position: list[ComponentRisk]


class MonteCarloVarResponse(Model):
    method: str = "monte_carlo"
    simulation: Literal["linear_shortcut", "asset_level"]
    distribution: str
    sampler: str
    horizon_days: int
    horizon_method: str
    n_scenarios: int
    seed: int
    dof: float | None = Field(description="Degrees of freedom used (Student-t).")
    dof_estimated: bool
    linear_collapse: bool = Field(description="True when simulated at portfolio level (no asset matrix built).")
    revaluation: str | None = Field(default=None, description="How options were revalued (asset level).")
    device: str
    portfolio_value: float = Field(description="Linear positions plus the options' current value.")
    covariance_repaired: bool
    levels: list[EstimatedLevel]
    components: list[LevelComponents] | None = None


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
