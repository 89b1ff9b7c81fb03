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
             latency_penalty_bps_per_ms: float = LATENCY_PENALTY_BPS_PER_MS,
             rest_venue: SimulatedVenue | None = None) -> RouteDecision:
    """The routing decision for a taker quantity (see module docstring). ``rest_venue``, when the
    caller already knows it, saves recomputing the best maker venue."""
    # (score, latency, arrival index, price, qty, venue): sorting by the first three is the
    # stable sort by (score, latency) the module docstring describes
    candidates: list[tuple[float, float, int, float, float, SimulatedVenue]] = []
    displayed: dict[str, float] = {}
    best_bid = best_ask = None
    i = 0
    for v in venues:
        book = v.books.get(symbol)
        if book is None:
            continue
        bb, ba = book.bid, book.ask
        if bb is not None and (best_bid is None or bb > best_bid):
            best_bid = bb
        if ba is not None and (best_ask is None or ba < best_ask):
            best_ask = ba
        prof = v.profile
        adj = (prof.taker_fee_bps + prof.latency_ms * latency_penalty_bps_per_ms) * 1e-4
        mult = 1 + adj if is_buy else adj - 1  # buy: price * (1 + adj); sell: -price * (1 - adj)
        seen = 0.0
        for price, q in book.reachable(is_buy, limit, qty):  # deeper levels than qty cannot be chosen
            seen += q
            candidates.append((price * mult, prof.latency_ms, i, price, q, v))
            i += 1
        if seen:
            displayed[v.name] = seen
    if best_bid is not None and best_ask is not None:
        arrival = (best_bid + best_ask) / 2
    else:
        arrival = best_ask if best_ask is not None else best_bid
    candidates.sort()
    per_venue: dict[str, list] = {}  # venue -> [qty, notional, worst price, venue]
    remaining = qty
    for _, _, _, price, q, v in candidates:
        if remaining <= EPS:
            break
        take = q if q < remaining else remaining
        remaining -= take
        acc = per_venue.get(v.name)
        if acc is None:
            per_venue[v.name] = [take, take * price, price, v]
            continue
        acc[0] += take
        acc[1] += take * price
        if (price > acc[2]) if is_buy else (price < acc[2]):
            acc[2] = price
    decision = RouteDecision(symbol, is_buy, qty, limit, arrival, unallocated_qty=max(remaining, 0.0))
    for name, (q, notional, worst, v) in per_venue.items():
        decision.allocations.append(Allocation(name, q, worst, notional / q, displayed.get(name, 0.0),
                                               v.profile.taker_fee_bps, v.profile.latency_ms))
    if rest_venue is None and venues:
        rest_venue = min(venues, key=lambda v: (v.profile.maker_fee_bps, v.profile.latency_ms))
    if rest_venue is not None:
        decision.rest_venue = rest_venue.name
    return decision


def decision_record(o: Any, d: RouteDecision, taker_fills: list[tuple[float, float, float]], ts_ns: int
                    ) -> dict[str, Any]:
    """The stored/API form of one routing decision of order ``o`` with its execution quality."""
    return {
        "order_id": o.id, "account_id": o.account_id, "symbol": o.symbol, "side": o.side.value,
        "qty": d.qty, "limit_price": d.limit, "arrival_price": d.arrival_price,
        "allocations": [a.as_dict() for a in d.allocations], "rest_venue": d.rest_venue,
        "quality": quality(d.is_buy, d.qty, d.arrival_price, taker_fills), "ts_ns": ts_ns,
    }


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
