"""Domain types of the trading core. Plain slotted classes: they sit on the hot path.

Quantities and prices are floats snapped to the instrument's lot and tick; money is in
the account currency. Times are integers in nanoseconds since the epoch (``*_ns``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

EPS = 1e-9


class Side(enum.StrEnum):
    BUY = "buy"
    SELL = "sell"  # only reduces a long position
    SHORT = "short"  # a sell that may open or increase a short position

    @property
    def sign(self) -> int:
        return 1 if self is _BUY else -1


_BUY = Side.BUY  # bound once (an enum member read goes through the metaclass)


class OrderType(enum.StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"


class TimeInForce(enum.StrEnum):
    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"
    DAY = "day"


class Liquidity(enum.StrEnum):
    MAKER = "maker"
    TAKER = "taker"


SMART = "SMART"


@dataclass(slots=True)
class Instrument:
    symbol: str
    tick_size: float = 0.01
    lot_size: float = 1.0
    tradable: bool = True


@dataclass(slots=True)
class Denial:
    """A local refusal by a pre-trade check: stable ``code``, the check's name, a reason and the values."""

    code: str
    check: str
    reason: str
    values: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "check": self.check, "reason": self.reason, "values": self.values}


@dataclass(slots=True)
class Order:
    id: str
    account_id: str
    strategy: str
    client_order_id: str
    symbol: str
    side: Side
    type: OrderType
    tif: TimeInForce
    qty: float
    limit_price: float | None
    stop_price: float | None
    venue: str  # requested venue or SMART
    status: Any  # OrderStatus (state module) - typed loosely to avoid an import cycle
    created_ns: int
    updated_ns: int
    filled_qty: float = 0.0
    avg_fill_price: float = 0.0
    fees: float = 0.0
    resting_venue: str | None = None
    expire_ns: int | None = None
    algo_id: str | None = None
    denial: Denial | None = None
    reason: str | None = None  # why cancelled / rejected / expired
    fill_count: int = 0
    version: int = 0

    @property
    def leaves_qty(self) -> float:
        left = self.qty - self.filled_qty
        return left if left > 0.0 else 0.0

    @property
    def signed_leaves(self) -> float:
        return self.side.sign * self.leaves_qty

    def reference_price(self, mark: float | None) -> float | None:
        """Price used for notional and buying-power checks: limit, else stop, else the mark."""
        return self.limit_price or self.stop_price or mark


@dataclass(slots=True)
class Fill:
    id: str  # deterministic: <order id>-F<n>
    order_id: str
    account_id: str
    strategy: str
    symbol: str
    side: Side
    venue: str
    price: float
    qty: float
    fee: float
    liquidity: Liquidity
    ts_ns: int  # when the OMS recorded it
    venue_ts_ns: int  # when the venue matched (sent + venue latency)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "order_id": self.order_id, "account_id": self.account_id, "strategy": self.strategy,
            "symbol": self.symbol, "side": self.side.value, "venue": self.venue, "price": self.price,
            "qty": self.qty, "fee": self.fee, "liquidity": self.liquidity.value, "ts_ns": self.ts_ns,
            "venue_ts_ns": self.venue_ts_ns,
        }


def is_multiple(value: float, step: float) -> bool:
    """True when ``value`` is an integer multiple of ``step`` (to 1e-9 relative)."""
    n = value / step
    d = n - round(n)  # abs() and max() spelled as comparisons: this runs twice per order
    if d < 0.0:
        d = -d
    if n < 0.0:
        n = -n
    return d <= 1e-9 * (n if n > 1.0 else 1.0)
