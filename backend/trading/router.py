"""Smart order router: split a taker quantity across venues by displayed liquidity, fees and latency.

Every displayed level on every venue within the order's limit is scored by its all-in unit
cost: price adjusted by the venue's taker fee and by a latency penalty
(``latency_ms * latency_penalty_bps_per_ms``, the expected adverse move while the child
travels). Levels are taken best-score first until the quantity is covered, which gives the
allocation per venue. A remainder that cannot be taken rests on the venue with the best maker
economics (lowest maker fee, then lowest latency). After execution ``quality`` reports
implementation shortfall against the arrival mid, fees and fill rate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from backend.trading.domain import EPS
from backend.trading.venues import SimulatedVenue

#: Expected adverse price move per millisecond of latency, in basis points.
LATENCY_PENALTY_BPS_PER_MS = 0.05


@dataclass(slots=True)
class Allocation:
    venue: str
    qty: float
    worst_price: float  # the limit to send this child with
    expected_avg_price: float
    displayed_qty: float  # displayed within the limit, counted up to the order's quantity
    taker_fee_bps: float
    latency_ms: float

    def as_dict(self) -> dict[str, Any]:
        return {"venue": self.venue, "qty": self.qty, "worst_price": self.worst_price,
                "expected_avg_price": self.expected_avg_price, "displayed_qty": self.displayed_qty,
                "taker_fee_bps": self.taker_fee_bps, "latency_ms": self.latency_ms}


@dataclass(slots=True)
class RouteDecision:
    symbol: str
    is_buy: bool
    qty: float
    limit: float | None
    arrival_price: float | None  # mid of the best consolidated bid/ask at decision time
    allocations: list[Allocation] = field(default_factory=list)
    rest_venue: str | None = None  # where an unfilled remainder rests (limit orders)
    unallocated_qty: float = 0.0


def allocate(venues: list[SimulatedVenue], symbol: str, is_buy: bool, qty: float, limit: float | None,
             latency_penalty_bps_per_ms: float = LATENCY_PENALTY_BPS_PER_MS) -> RouteDecision:
    """The routing decision for a taker quantity (see module docstring)."""
    candidates: list[tuple[float, float, float, SimulatedVenue]] = []  # (score, price, qty, venue)
    displayed: dict[str, float] = {}
    bids, asks = [], []
    for v in venues:
        book = v.books.get(symbol)
        if book is None:
            continue
        bb, ba = book.best_bid(), book.best_ask()
        if bb is not None:
            bids.append(bb)
        if ba is not None:
            asks.append(ba)
        adj = (v.profile.taker_fee_bps + v.profile.latency_ms * latency_penalty_bps_per_ms) * 1e-4
        seen = 0.0
        for price, q in book.opposite_levels(is_buy, limit):
            if seen >= qty:  # a venue never gives more than qty: deeper levels cannot be chosen
                break
            seen += q
            score = price * (1 + adj) if is_buy else -price * (1 - adj)
            candidates.append((score, price, q, v))
        if seen:
            displayed[v.name] = seen
    arrival = (max(bids) + min(asks)) / 2 if bids and asks else (min(asks) if asks else (max(bids) if bids else None))
    candidates.sort(key=lambda t: (t[0], t[3].profile.latency_ms))
    per_venue: dict[str, list[float]] = {}  # venue -> [qty, notional, worst price]
    remaining = qty
    order: list[SimulatedVenue] = []
    for _, price, q, v in candidates:
        if remaining <= EPS:
            break
        take = min(q, remaining)
        remaining -= take
        acc = per_venue.get(v.name)
        if acc is None:
            acc = per_venue[v.name] = [0.0, 0.0, price]
            order.append(v)
        acc[0] += take
        acc[1] += take * price
        acc[2] = max(acc[2], price) if is_buy else min(acc[2], price)
    decision = RouteDecision(symbol, is_buy, qty, limit, arrival, unallocated_qty=max(remaining, 0.0))
    for v in order:
        q, notional, worst = per_venue[v.name]
        decision.allocations.append(Allocation(v.name, q, worst, notional / q, displayed.get(v.name, 0.0),
                                               v.profile.taker_fee_bps, v.profile.latency_ms))
    if venues:
        decision.rest_venue = min(venues, key=lambda v: (v.profile.maker_fee_bps, v.profile.latency_ms)).name
    return decision


def quality(is_buy: bool, requested_qty: float, arrival_price: float | None, fills: list[tuple[float, float, float]]
            ) -> dict[str, Any]:
    """Execution quality from fills [(price, qty, fee)].

    shortfall_bps = side * (avg fill - arrival) / arrival * 1e4 (positive = cost);
    fee_bps = fees / filled notional * 1e4; total_cost_bps = shortfall_bps + fee_bps.
    """
    filled = sum(q for _, q, _ in fills)
    notional = sum(p * q for p, q, _ in fills)
    fees = sum(f for _, _, f in fills)
    out: dict[str, Any] = {"requested_qty": requested_qty, "filled_qty": filled,
                           "fill_rate": filled / requested_qty if requested_qty else 0.0, "fees": fees,
                           "avg_price": notional / filled if filled else None, "arrival_price": arrival_price,
                           "shortfall_bps": None, "fee_bps": None, "total_cost_bps": None}
    if filled > EPS:
        out["fee_bps"] = fees / notional * 1e4
        if arrival_price:
            sign = 1 if is_buy else -1
            out["shortfall_bps"] = sign * (notional / filled - arrival_price) / arrival_price * 1e4
            out["total_cost_bps"] = out["shortfall_bps"] + out["fee_bps"]
    return out
