"""Rebalancing requests and responses: from current holdings to target weights, as an order list.

Holdings come from a trading account (prepare step: stored net quantities, cash, latest daily closes,
instrument lot sizes) or inline (``holdings``, ``cash``, ``prices``) for a what-if. Money amounts are
in the account currency; weights are fractions of net asset value (NAV = cash + sum qty * price).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field, model_validator

from backend.contract.arrays import MAX_ASSETS, FiniteFloat, Symbol
from backend.contract.operation import Model
from engines.risk.models.common import AccountRef

Price = Annotated[FiniteFloat, Field(gt=0, le=1e9)]
Qty = Annotated[FiniteFloat, Field(ge=-1e12, le=1e12)]
Money = Annotated[FiniteFloat, Field(ge=-1e15, le=1e15)]
Tag = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]


class Holding(Model):
    symbol: Symbol
    qty: Qty


class Costs(Model):
    """Estimated cost of an order: notional * (commission_bps + half_spread_bps) / 1e4 + fixed_per_order."""

    commission_bps: float = Field(default=0.0, ge=0, le=1000)
    half_spread_bps: float = Field(default=0.0, ge=0, le=1000, description="Half the bid-ask spread, paid per trade.")
    fixed_per_order: float = Field(default=0.0, ge=0, le=1e6)


class Drift(Model):
    """When to rebalance: either trigger fires (none given: always). Drift is max |w - target| over symbols."""

    threshold: float | None = Field(default=None, gt=0, le=1, description="e.g. 0.05: 5 percentage points.")
    calendar_days: int | None = Field(default=None, ge=1, le=3660)
    last_rebalance: dt.date | None = None
    as_of: dt.date | None = Field(default=None, description="Default: today (UTC).")

    @model_validator(mode="after")
    def _calendar(self) -> Drift:
        if self.calendar_days is not None and self.last_rebalance is None:
            raise ValueError("calendar_days needs last_rebalance")
        return self


class RebalanceRequest(Model):
    account: AccountRef | None = None
    holdings: list[Holding] | None = Field(default=None, max_length=MAX_ASSETS)
    cash: Money | None = None
    prices: Annotated[dict[Symbol, Price], Field(max_length=MAX_ASSETS)] | None = Field(
        default=None, description="Marks; with an account, given ones override the latest daily closes.")
    lot_sizes: Annotated[dict[Symbol, Annotated[float, Field(gt=0, le=1e9)]],
                         Field(max_length=MAX_ASSETS)] | None = None
    target_weights: Annotated[dict[Symbol, Annotated[FiniteFloat, Field(ge=-10, le=10)]],
                              Field(min_length=1, max_length=MAX_ASSETS)]
    budget: FiniteFloat = Field(default=1.0, gt=0, le=10, description="Target weights must sum to this.")
    min_trade_value: float = Field(default=0.0, ge=0, le=1e12, description="Orders below this notional are skipped.")
    costs: Costs = Costs()
    drift: Drift = Drift()
    allow_short: bool = Field(default=False, description="Whether a sell may take a position below zero.")

    @model_validator(mode="after")
    def _one_source(self) -> RebalanceRequest:
        inline = self.holdings is not None or self.cash is not None
        if self.account is not None and inline:
            raise ValueError("give an account or inline holdings and cash, not both")
        if self.account is None and (self.holdings is None or self.cash is None or self.prices is None):
            raise ValueError("give an account, or holdings, cash and prices")
        return self


class Execution(Model):
    style: Literal["market", "limit", "twap", "vwap"] = "market"
    limit_offset_bps: float = Field(default=10.0, ge=0, le=1000,
                                    description="limit: price = mark * (1 +/- offset) (buy above, sell below).")
    duration_s: float = Field(default=600.0, gt=0, le=86_400, description="twap/vwap: time to complete.")
    slices: int = Field(default=10, ge=1, le=10_000)


class ExecuteRebalanceRequest(RebalanceRequest):
    dry_run: bool = Field(default=True, description="True: plan only. False: submit the orders to the trading core.")
    execution: Execution = Execution()
    tag: Tag = Field(description="Idempotency tag: client order ids are rb-<tag>-<symbol>; resubmitting a tag "
                     "returns the orders already placed.")
    strategy: Tag = "rebalance"

    @model_validator(mode="after")
    def _needs_account(self) -> ExecuteRebalanceRequest:
        if self.account is None:
            raise ValueError("executing a rebalance needs an account")
        return self


class PlannedOrder(Model):
    symbol: str
    side: Literal["buy", "sell"]
    qty: float
    price: float = Field(description="The mark used for the estimate.")
    notional: float
    estimated_cost: float
    current_qty: float
    target_qty: float = Field(description="Unrounded quantity at the target weight.")
    current_weight: float
    target_weight: float
    post_trade_weight: float


class Skipped(Model):
    symbol: str
    reason: str


class RebalancePlan(Model):
    triggered: bool
    reason: str
    nav: float
    max_drift: float = Field(description="max |current weight - target weight| before trading.")
    orders: list[PlannedOrder] = Field(description="Sells first, then buys.")
    skipped: list[Skipped]
    total_buy: float
    total_sell: float
    turnover: float = Field(description="(total buy + total sell) / NAV.")
    estimated_cost: float
    cash_after: float
    residual_max_drift: float = Field(description="max |post-trade weight - target| (lots, min trade, cash).")


class SubmittedOrder(Model):
    symbol: str
    client_order_id: str
    http_status: int
    id: str | None = Field(default=None, description="Order or algorithm id in the trading core.")
    status: str | None = None
    error: str | None = None


class ExecuteRebalanceResponse(Model):
    dry_run: bool
    plan: RebalancePlan
    submitted: list[SubmittedOrder] = []
