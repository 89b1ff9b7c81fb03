"""Response models of the trading API: what each route returns, typed for OpenAPI and generated
clients. Unknown fields are refused, so a route that drifts from its model fails its tests."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from backend.contract.operation import Model
from backend.trading.state import OrderStatus


class DenialView(Model):
    code: str
    check: str
    reason: str
    values: dict[str, Any]


class OrderView(Model):
    id: str
    account_id: str
    strategy: str
    client_order_id: str
    symbol: str
    side: Literal["buy", "sell", "short"]
    type: Literal["market", "limit", "stop", "stop_limit"]
    tif: Literal["gtc", "ioc", "fok", "day"]
    qty: float
    limit_price: float | None
    stop_price: float | None
    venue: str
    status: OrderStatus
    filled_qty: float
    leaves_qty: float
    avg_fill_price: float | None
    fees: float
    resting_venue: str | None
    expire_ns: int | None
    algo_id: str | None
    denial: DenialView | None
    reason: str | None
    version: int
    created_ns: int
    updated_ns: int


class OrderList(Model):
    items: list[OrderView]
    count: int


class FillView(Model):
    seq: int
    id: str
    order_id: str
    account_id: str
    strategy: str
    symbol: str
    side: Literal["buy", "sell", "short"]
    venue: str
    price: float
    qty: float
    fee: float
    liquidity: Literal["maker", "taker"]
    ts_ns: int
    venue_ts_ns: int


class FillList(Model):
    items: list[FillView]
    count: int


class PositionView(Model):
    account_id: str
    strategy: str
    symbol: str
    qty: float
    avg_cost: float
    realised_pnl: float
    fees: float
    fill_count: int
    mark_price: float | None
    unrealised_pnl: float | None
    market_value: float | None


class PositionList(Model):
    items: list[PositionView]
    count: int


class AccountView(Model):
    id: str
    name: str
    currency: str
    starting_cash: float
    cash: float
    equity: float
    gross_exposure: float
    margin_used: float
    margin_available: float
    margin_usage: float | None
    realised_pnl: float
    unrealised_pnl: float
    fees: float
    open_orders: int
    kill_switch: bool
    limits: dict[str, Any] = Field(description="the account's own pre-trade limits")
    risk_limit_set: dict[str, Any] | None = Field(description="the risk engine limit set it follows, if any")
    effective_limits: dict[str, Any] = Field(description="the limits the pre-trade checks apply")


class AccountList(Model):
    items: list[AccountView]
    count: int


class AlgoView(Model):
    id: str
    account_id: str
    strategy: str
    kind: Literal["twap", "vwap", "pov"]
    symbol: str
    side: Literal["buy", "sell", "short"]
    qty: float
    params: dict[str, Any]
    status: Literal["running", "paused", "completed", "cancelled", "failed"]
    sent_qty: float
    filled_qty: float
    progress: float
    avg_fill_price: float | None
    fees: float
    child_orders: int
    slices_done: int
    slices_total: int | None
    scheduled_qty: float | None
    schedule: list[float] | None
    elapsed_s: float
    duration_s: float | None
    last_error: str | None
    created_ns: int
    updated_ns: int


class AlgoList(Model):
    items: list[AlgoView]
    count: int


class KillSwitchResult(Model):
    scope: str
    active: bool
    reason: str
    orders_cancelled: list[str]
    algorithms_cancelled: list[str]


class SwitchState(Model):
    active: bool
    reason: str | None


class KillSwitchState(Model):
    global_: SwitchState = Field(alias="global")
    accounts: dict[str, SwitchState]


class VenueView(Model):
    name: str
    maker_fee_bps: float
    taker_fee_bps: float
    latency_ms: float
    levels: int
    size_factor: float
    decay: float
    spread_ticks: int
    instruments: list[str]


class VenueList(Model):
    items: list[VenueView]
    count: int


class Level(Model):
    price: float
    qty: float


class BookView(Model):
    venue: str
    symbol: str
    bids: list[Level]
    asks: list[Level]
    last_price: float | None


class Allocation(Model):
    venue: str
    qty: float
    worst_price: float | None
    expected_avg_price: float | None
    displayed_qty: float
    taker_fee_bps: float
    latency_ms: float


class ExecutionQuality(Model):
    requested_qty: float
    filled_qty: float
    fill_rate: float
    fees: float
    avg_price: float | None
    arrival_price: float | None
    shortfall_bps: float | None
    fee_bps: float | None
    total_cost_bps: float | None


class DecisionView(Model):
    id: int
    order_id: str
    account_id: str
    symbol: str
    side: Literal["buy", "sell", "short"]
    qty: float
    limit_price: float | None
    arrival_price: float | None
    allocations: list[Allocation]
    rest_venue: str | None
    quality: ExecutionQuality
    ts_ns: int


class DecisionList(Model):
    items: list[DecisionView]
    count: int


class Reconciliation(Model):
    ok: bool
    fills: int
    orders: int
    positions: int
    accounts: int
    filled_qty: float
    mismatches: list[dict[str, Any]]
    mismatch_count: int


class TradingHealth(Model):
    status: Literal["ok", "degraded"]
    halted: str | None
    rebuilds: int
    last_rebuild: dict[str, Any] | None
    accounts: int
    open_orders: int
    algorithms_active: int
    writer: dict[str, Any]
    outbox: dict[str, Any]
    feed: dict[str, Any] | None
    kill_switch: dict[str, Any]
