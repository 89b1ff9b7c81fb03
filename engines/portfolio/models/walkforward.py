"""Walk-forward evaluation of an allocation policy against equal weight and a 60/40 mix."""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from backend.contract.arrays import Symbol
from backend.contract.operation import Model
from engines.analytics.models import PerformanceResponse
from engines.portfolio.models.optimize import MIN_OBSERVATIONS, OptimizeSpec
from engines.risk.models.common import MarketData

#: Most re-optimisations in one evaluation (each is one optimisation).
MAX_REBALANCES = 1_000


class SixtyForty(Model):
    equity: Symbol = Field(description="The 60% leg (a column of the market data).")
    bond: Symbol = Field(description="The 40% leg.")


class WalkForwardRequest(Model):
    market: MarketData
    policy: OptimizeSpec = OptimizeSpec()
    policy_symbols: list[Symbol] | None = Field(default=None, min_length=1, max_length=5_000,
                                                description="Assets the policy and equal weight allocate among "
                                                "(default: every column).")
    lookback_days: int = Field(default=252, ge=MIN_OBSERVATIONS, le=10_000, description="Rows each fit sees.")
    rebalance_every_days: int = Field(default=21, ge=1, le=10_000)
    cost_bps: float = Field(default=0.0, ge=0, le=1000, description="Cost per unit of turnover, charged on the "
                            "rebalance day (the first allocation from cash included).")
    drift: bool = Field(default=True, description="Weights drift with prices between rebalances; False: they are "
                        "reset to target every period (skfolio's multi-period convention).")
    sixty_forty: SixtyForty | None = None
    periods_per_year: int = Field(default=252, ge=1, le=525_600)
    risk_free_rate: float = Field(default=0.0, ge=-0.5, le=1.0, description="Annual.")


class Rebalance(Model):
    index: int = Field(description="Row of the returns where the new weights start.")
    date: dt.date | None = None
    weights: list[float]
    turnover: float


class StrategyResult(Model):
    name: str
    symbols: list[str]
    returns: list[float] = Field(description="Out-of-sample returns, net of costs, one per evaluated row.")
    performance: PerformanceResponse = Field(description="The analytics engine's performance of those returns.")
    total_cost: float = Field(description="Sum of per-rebalance costs as fractions of wealth.")
    average_turnover: float
    rebalances: list[Rebalance]


class WalkForwardResponse(Model):
    dates: list[dt.date] | None
    n_rebalances: int
    strategies: list[StrategyResult]
