"""Limit sets (stored in PostgreSQL), their evaluation against a portfolio, and recorded breaches."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from backend.contract.arrays import FiniteFloat, FloatSeries, Instant, Probability, Symbol
from backend.contract.operation import Model
from engines.risk.models.common import MarketData

MAX_LIMITS_PER_SET = 500
Name = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")]
SetId = Annotated[int, Field(ge=1, le=2**63 - 1)]


class LimitType(StrEnum):
    """Each limit's measured value (currency unless stated)."""

    gross_exposure = "gross_exposure"  # sum |value|
    net_exposure = "net_exposure"  # |sum value|
    leverage = "leverage"  # sum |value| / equity (ratio)
    single_name_concentration = "single_name_concentration"  # max |value_i| / equity (or the scoped symbol's)
    sector_concentration = "sector_concentration"  # max over sectors sum |value| / equity (or the scoped sector's)
    var = "var"  # 1-day historical VaR at the limit's confidence
    cvar = "cvar"  # 1-day historical CVaR at the limit's confidence
    max_drawdown = "max_drawdown"  # largest peak-to-trough fall of the equity curve (fraction)
    daily_loss = "daily_loss"  # max(0, -daily P&L)
    position_size = "position_size"  # max |quantity| (or the scoped symbol's), shares
    order_notional = "order_notional"  # |notional| of the proposed order
    liquidity = "liquidity"  # max |quantity_i| / average daily volume_i (fraction of ADV)
    beta_exposure = "beta_exposure"  # |sum value_i * beta_i|


class LimitSpec(Model):
    limit_type: LimitType
    threshold: Annotated[float, Field(gt=0.0, le=1e18, allow_inf_nan=False)]
    warning_fraction: Annotated[float, Field(gt=0.0, le=1.0, allow_inf_nan=False)] = Field(
        default=0.8, description="Utilisation at or above which the status is 'warning'.")
    scope: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        default=None, description="A symbol (single-name, position size, liquidity) or sector (sector concentration).")
    confidence: Probability | None = Field(default=None, description="VaR/CVaR level (default 0.99).")


class Limit(LimitSpec):
    id: int


class CreateLimitSetRequest(Model):
    name: Name
    description: Annotated[str, Field(max_length=1000)] = ""
    limits: Annotated[list[LimitSpec], Field(max_length=MAX_LIMITS_PER_SET)] = Field(default_factory=list)


class LimitSet(Model):
    id: int
    name: str
    description: str
    limits: list[Limit]
    created_at: Instant
    updated_at: Instant


class LimitSetRef(Model):
    id: SetId


class UpdateLimitSetRequest(Model):
    id: SetId
    name: Name | None = None
    description: Annotated[str, Field(max_length=1000)] | None = None
    limits: Annotated[list[LimitSpec], Field(max_length=MAX_LIMITS_PER_SET)] | None = Field(
        default=None, description="Replaces every limit of the set when given.")


class ListLimitSetsRequest(Model):
    limit: int = Field(default=100, ge=1, le=1000)


class LimitSetSummary(Model):
    id: int
    name: str
    description: str
    n_limits: int
    updated_at: Instant


class ListLimitSetsResponse(Model):
    sets: list[LimitSetSummary]


class DeleteLimitSetResponse(Model):
    id: int
    deleted: bool


class LimitPosition(Model):
    symbol: Symbol
    value: FiniteFloat = Field(ge=-1e15, le=1e15, description="Market value in currency (negative = short).")
    quantity: FiniteFloat | None = Field(default=None, ge=-1e15, le=1e15, description="Shares.")
    sector: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    beta: FiniteFloat | None = Field(default=None, ge=-20, le=20)
    average_daily_volume: Annotated[float, Field(gt=0.0, allow_inf_nan=False)] | None = Field(
        default=None, description="Shares per day; null = mean volume of the last 20 daily bars.")


class ProposedOrder(Model):
    symbol: Symbol
    notional: FiniteFloat = Field(ge=-1e15, le=1e15)


class PortfolioSnapshot(Model):
    name: Annotated[str, Field(min_length=1, max_length=100)] = "default"
    positions: Annotated[list[LimitPosition], Field(min_length=1, max_length=5000)]
    equity: Annotated[float, Field(gt=0.0, le=1e15, allow_inf_nan=False)] | None = Field(
        default=None, description="Net asset value (leverage and concentration limits).")
    daily_pnl: FiniteFloat | None = None
    equity_curve: FloatSeries | None = None
    order: ProposedOrder | None = None
    market: MarketData | None = Field(default=None, description="Return history for VaR/CVaR limits.")


class CheckLimitsRequest(Model):
    set_id: SetId
    portfolio: PortfolioSnapshot
    publish: bool = Field(default=True, description="Store breaches and publish them on the bus.")


class LimitStatus(Model):
    limit_id: int
    limit_type: LimitType
    scope: str | None
    value: float
    threshold: float
    utilisation: float
    status: Literal["ok", "warning", "breach"]
    detail: str


class CheckLimitsResponse(Model):
    set_id: int
    set_name: str
    checked_at: Instant
    results: list[LimitStatus]
    n_warnings: int
    n_breaches: int
    breach_ids: list[int] = Field(description="Stored breach rows (empty when publish is false).")


class ListBreachesRequest(Model):
    set_id: SetId | None = None
    since: Instant | None = None
    limit: int = Field(default=100, ge=1, le=10_000)


class Breach(Model):
    id: int
    set_id: int | None
    set_name: str
    limit_id: int | None
    limit_type: str
    scope: str | None
    portfolio: str
    value: float
    threshold: float
    utilisation: float
    detail: str
    ts: Instant


class ListBreachesResponse(Model):
    breaches: list[Breach]
