"""Optimisation requests and responses.

Units: returns are simple per-period returns; ``periods_per_year`` (252) annualises. Inputs named
``*_annual`` are annual (a target return of 0.1 = 10% a year); weights are fractions of the budget.
Market data comes inline (returns or prices with symbols, or a covariance for the fast path) or by
reference (symbols + look-back resolved from stored daily bars); the universe may come from a trading
account, whose current weights then serve as the previous weights of turnover and cost constraints.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from backend.contract.arrays import MAX_ASSETS, FiniteFloat, Probability, Symbol
from backend.contract.operation import Model
from engines.risk.models.common import AccountRef, MarketData, Matrix

#: Fewest return observations an optimisation accepts.
MIN_OBSERVATIONS = 20
MAX_VIEWS = 100
MAX_GROUP_LIMITS = 200
MAX_FRONTIER_POINTS = 100

Weight = Annotated[FiniteFloat, Field(ge=-10.0, le=10.0)]
PerAsset = Annotated[dict[Symbol, Weight], Field(max_length=MAX_ASSETS)]
Group = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9 ._&/-]+$")]

Method = Literal["mean_risk", "risk_budgeting", "hrp", "herc", "nco", "inverse_volatility", "equal_weight"]
Objective = Literal["min_risk", "max_sharpe", "max_return", "max_utility"]
RiskMeasureName = Literal["variance", "standard_deviation", "semi_variance", "cvar", "cdar", "evar",
                          "mean_absolute_deviation", "max_drawdown", "average_drawdown", "worst_realization",
                          "ulcer_index"]
CovarianceName = Literal["sample", "ledoit_wolf", "oas", "shrunk", "denoised", "ew", "gerber"]
MuName = Literal["empirical", "ew", "shrunk", "equilibrium"]


class FactorData(Model):
    """Factor returns for a factor-model prior, one row per row of the asset returns."""

    names: list[Symbol] = Field(min_length=1, max_length=50)
    returns: Matrix


class Prior(Model):
    """How expected returns and covariance are estimated (skfolio estimators)."""

    kind: Literal["empirical", "black_litterman", "factor_model"] = "empirical"
    mu: MuName | None = Field(default=None, description="Default: equilibrium (market-implied) returns for "
                              "black_litterman, the sample mean otherwise.")
    covariance: CovarianceName = "sample"
    ew_half_life_days: float = Field(default=40.0, gt=0, le=10_000, description="For 'ew' estimators.")
    views: list[Annotated[str, Field(min_length=3, max_length=200)]] | None = Field(
        default=None, max_length=MAX_VIEWS,
        description="Black-Litterman views in skfolio's syntax, per-period returns: 'AAPL == 0.0005', "
        "'AAPL - MSFT == 0.0002', or on groups: 'Tech - Energy == 0.0001'.")
    view_confidences: list[Probability] | None = Field(default=None, max_length=MAX_VIEWS,
                                                       description="Idzorek confidences, one per view.")
    tau: float = Field(default=0.05, gt=0, le=1)
    factors: FactorData | None = None

    @model_validator(mode="after")
    def _kind_inputs(self) -> Prior:
        if self.kind == "black_litterman" and not self.views:
            raise ValueError("black_litterman needs views")
        if self.kind == "factor_model" and self.factors is None:
            raise ValueError("factor_model needs factors")
        if self.view_confidences is not None and (self.views is None or len(self.views) != len(self.view_confidences)):
            raise ValueError("view_confidences needs one value per view")
        return self


class GroupLimit(Model):
    """Sum of the weights of a group's assets stays within [min, max]."""

    group: Group
    min: Weight | None = None
    max: Weight | None = None


class Constraints(Model):
    min_weight: Weight | PerAsset = Field(default=0.0, description="One floor for all assets, or per symbol.")
    max_weight: Weight | PerAsset = Field(default=1.0, description="One cap for all assets, or per symbol.")
    budget: FiniteFloat = Field(default=1.0, ge=-10, le=10, description="Sum of the weights.")
    groups: Annotated[dict[Symbol, Group], Field(max_length=MAX_ASSETS)] | None = Field(
        default=None, description="Group (e.g. sector) of each symbol; missing ones come from the instruments table.")
    group_limits: list[GroupLimit] | None = Field(default=None, max_length=MAX_GROUP_LIMITS)
    previous_weights: PerAsset | None = Field(
        default=None, description="Current weights (turnover and costs); an account's positions fill them in.")
    max_turnover: float | None = Field(default=None, gt=0, le=20,
                                        description="Max total turnover sum |w - w_prev| (needs previous weights).")
    transaction_costs_bps: Annotated[float, Field(ge=0, le=10_000)] | Annotated[dict[Symbol, Annotated[
        float, Field(ge=0, le=10_000)]], Field(max_length=MAX_ASSETS)] = Field(
        default=0.0, description="Proportional cost per unit traded, bps, one value or per symbol; skfolio deducts "
        "it from the per-period expected return (spread a one-off cost over the expected holding periods).")
    cardinality: int | None = Field(default=None, ge=1, le=MAX_ASSETS, description="At most this many holdings.")
    cardinality_method: Literal["auto", "mip", "heuristic"] = Field(
        default="auto", description="mip: exact with a mixed-integer solver (SCIP); heuristic: solve, keep the k "
        "largest weights, solve again on those; auto: mip when SCIP is installed.")


class OptimizeSpec(Model):
    """What to optimise (shared by optimisation, frontier and walk-forward requests)."""

    method: Method = "mean_risk"
    objective: Objective = "min_risk"
    risk_measure: RiskMeasureName = "variance"
    risk_aversion: float = Field(default=1.0, gt=0, le=1e6, description="For max_utility.")
    min_return_annual: FiniteFloat | None = Field(default=None, ge=-1, le=100)
    max_volatility_annual: float | None = Field(default=None, gt=0, le=100,
                                                description="Target volatility (use with max_return).")
    confidence: float = Field(default=0.95, gt=0.5, lt=1, description="Beta of CVaR, CDaR and EVaR.")
    risk_budget: PerAsset | None = Field(default=None, description="risk_budgeting: budget per symbol (default equal).")
    prior: Prior = Prior()
    constraints: Constraints = Constraints()
    periods_per_year: int = Field(default=252, ge=1, le=525_600)
    risk_free_rate: FiniteFloat = Field(default=0.0, ge=-0.5, le=1.0, description="Annual.")
    engine: Literal["auto", "fast", "skfolio"] = Field(
        default="auto", description="fast: the active-set path (long-only min variance / max Sharpe with bounds); "
        "skfolio: always skfolio; auto: fast when the problem qualifies.")


class OptimizeRequest(OptimizeSpec):
    market: MarketData
    account: AccountRef | None = Field(default=None, description="Universe and previous weights from an account.")


class SolverInfo(Model):
    engine: Literal["fast", "skfolio"]
    solver: str = Field(description="e.g. active_set, CLARABEL, SCIP, or the method name for closed forms.")
    status: str
    iterations: int | None = None
    cardinality_method: str | None = None


class OptimizeResponse(Model):
    symbols: list[str]
    weights: list[float]
    risk_contributions: list[float] = Field(description="Share of the portfolio variance from each asset (sums to 1).")
    expected_return_annual: float = Field(description="periods_per_year * mu'w, mu from the prior.")
    volatility_annual: float = Field(description="sqrt(periods_per_year * w'Σw), Σ from the prior.")
    sharpe: float | None = Field(description="(expected_return_annual - risk_free_rate) / volatility_annual.")
    turnover: float | None = Field(default=None, description="sum |w - w_prev| when previous weights are known.")
    n_observations: int
    solver: SolverInfo
    warnings: list[str] = []


class FrontierRequest(OptimizeRequest):
    points: int = Field(default=20, ge=2, le=MAX_FRONTIER_POINTS)


class FrontierPoint(Model):
    weights: list[float]
    expected_return_annual: float
    volatility_annual: float
    risk: float = Field(description="The risk measure's value (per period).")
    sharpe: float | None


class FrontierResponse(Model):
    symbols: list[str]
    risk_measure: str
    points: list[FrontierPoint]
    max_sharpe_index: int
