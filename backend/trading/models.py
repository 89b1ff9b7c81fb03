"""Request and response models of the trading API (bounded, unknown fields refused)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, Strict, StrictBool, model_validator

from backend.contract.arrays import FiniteFloat, Symbol
from backend.contract.operation import Model
from backend.trading.domain import SMART, OrderType, Side, TimeInForce

Ident = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
Price = Annotated[FiniteFloat, Field(gt=0, le=1e9)]
Qty = Annotated[FiniteFloat, Field(gt=0, le=1e12)]
LimitSetId = Annotated[int, Strict(), Field(ge=1, le=2**63 - 1)]


class SubmitOrder(Model):
    account_id: Ident
    symbol: Symbol
    side: Side
    type: OrderType
    qty: Qty
    tif: TimeInForce | None = Field(default=None, description="default: ioc for market, gtc otherwise")
    limit_price: Price | None = None
    stop_price: Price | None = None
    client_order_id: Ident | None = Field(default=None, description="idempotency key, unique per account")
    strategy: Ident = "default"
    venue: Ident = Field(default=SMART, description="a venue name, or SMART to route")


class AmendOrder(Model):
    qty: Qty | None = None
    limit_price: Price | None = None
    stop_price: Price | None = None

    @model_validator(mode="after")
    def _something(self) -> AmendOrder:
        if self.qty is None and self.limit_price is None and self.stop_price is None:
            raise ValueError("give at least one of qty, limit_price, stop_price")
        return self


class Limits(Model):
    """Pre-trade limits; ``null`` turns one off, 0 is a limit of zero (it blocks)."""

    max_order_qty: Annotated[FiniteFloat, Field(ge=0, le=1e12)] | None = 100_000.0
    max_order_notional: Annotated[FiniteFloat, Field(ge=0, le=1e15)] | None = 5_000_000.0
    price_collar_pct: Annotated[FiniteFloat, Field(ge=0, le=1000)] | None = 10.0
    max_position_qty: Annotated[FiniteFloat, Field(ge=0, le=1e12)] | None = 1_000_000.0
    max_gross_exposure: Annotated[FiniteFloat, Field(ge=0, le=1e15)] | None = 50_000_000.0
    max_open_orders: Annotated[int, Strict(), Field(ge=0, le=1_000_000)] | None = 1_000
    max_orders_per_window: Annotated[int, Strict(), Field(ge=0, le=10_000_000)] | None = 1_000
    rate_window_s: Annotated[FiniteFloat, Field(gt=0, le=3600)] = 1.0
    duplicate_window_s: Annotated[FiniteFloat, Field(ge=0, le=3600)] | None = 1.0
    margin_rate: Annotated[FiniteFloat, Field(gt=0, le=1)] = 0.5


class CreateAccount(Model):
    id: Ident
    name: Annotated[str, Field(min_length=1, max_length=128)]
    starting_cash: Annotated[FiniteFloat, Field(ge=0, le=1e13)]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "USD"
    limits: Limits = Limits()
    risk_limit_set_id: LimitSetId | None = Field(
        default=None, description="a risk engine limit set whose pre-trade limits override these")


class AssignLimitSet(Model):
    set_id: LimitSetId | None = Field(description="a risk engine limit set id, or null for the account's own limits")


class KillSwitch(Model):
    active: StrictBool
    account_id: Ident | None = Field(default=None, description="omit for the global switch")
    reason: Annotated[str, Field(max_length=200)] = ""


class CreateAlgo(Model):
    kind: Literal["twap", "vwap", "pov"]
    account_id: Ident
    symbol: Symbol
    side: Side
    qty: Qty
    strategy: Ident = "default"
    venue: Ident = SMART
    duration_s: Annotated[FiniteFloat, Field(gt=0, le=86_400)] | None = None
    slices: Annotated[int, Strict(), Field(ge=1, le=10_000)] | None = None
    participation: Annotated[FiniteFloat, Field(gt=0, le=1)] | None = None
    limit_price: Price | None = None
    bars_timeframe: Annotated[str, Field(pattern=r"^[1-9][0-9]{0,3}[smhd]$")] = "1m"
    lookback_days: Annotated[int, Strict(), Field(ge=1, le=365)] = 20

    @model_validator(mode="after")
    def _params(self) -> CreateAlgo:
        if self.kind in ("twap", "vwap") and (self.duration_s is None or self.slices is None):
            raise ValueError(f"{self.kind} needs duration_s and slices")
        if self.kind == "pov" and self.participation is None:
            raise ValueError("pov needs participation (0 < p <= 1)")
        return self
