"""Simulated venues: each with its own fee schedule, latency and liquidity profile.

A venue holds one ``OrderBook`` per instrument. On every live quote it (1) reports the
user orders the market has traded through (bids at or above the new ask, asks at or below
the new bid) so the engine fills them at their limit as makers, then (2) replaces its
simulated liquidity: ``levels`` price levels per side starting ``spread_ticks`` ticks outside
the live touch, level i sized ``quote size * size_factor * decay**i`` rounded down to lots.
Latency is applied to venue timestamps (``venue_ts_ns = sent + latency``) and charged by the
router; matching itself happens on arrival in simulated time.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from backend.trading.book import Entry, OrderBook
from backend.trading.domain import Liquidity


@dataclass(frozen=True, slots=True)
class VenueProfile:
    name: str
    maker_fee_bps: float  # negative = rebate
    taker_fee_bps: float
    latency_ms: float
    levels: int
    size_factor: float
    decay: float
    spread_ticks: int

    def fee(self, price: float, qty: float, liquidity: Liquidity) -> float:
        bps = self.maker_fee_bps if liquidity is Liquidity.MAKER else self.taker_fee_bps
        return price * qty * bps * 1e-4

    def as_dict(self) -> dict:
        return asdict(self)


#: The venues every trading core starts with (one table, declared once).
DEFAULT_VENUES: tuple[VenueProfile, ...] = (
    VenueProfile("ATLAS", maker_fee_bps=-0.2, taker_fee_bps=3.0, latency_ms=1.5, levels=10, size_factor=1.0,
                 decay=0.85, spread_ticks=0),
    VenueProfile("BOREAL", maker_fee_bps=0.5, taker_fee_bps=1.0, latency_ms=0.4, levels=5, size_factor=0.4,
                 decay=0.7, spread_ticks=1),
    VenueProfile("CIRRUS", maker_fee_bps=0.0, taker_fee_bps=2.0, latency_ms=0.8, levels=8, size_factor=0.7,
                 decay=0.9, spread_ticks=0),
)


class SimulatedVenue:
    __slots__ = ("profile", "books", "name", "latency_ns")

    def __init__(self, profile: VenueProfile) -> None:
        self.profile = profile  # frozen: the two values below, read on every fill, are taken once
        self.books: dict[str, OrderBook] = {}
        self.name: str = profile.name
        self.latency_ns: int = int(profile.latency_ms * 1e6)

    def book(self, symbol: str) -> OrderBook:
        b = self.books.get(symbol)
        if b is None:
            b = self.books[symbol] = OrderBook(symbol)
        return b

    def simulated_levels(
        self, bid: float, ask: float, bid_size: float, ask_size: float, tick: float, lot: float
    ) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        """The simulated ladder around a live quote (see module docstring)."""
        p = self.profile
        bids, asks = [], []
        for i in range(p.levels):
            w = p.size_factor * p.decay**i
            off = (p.spread_ticks + i) * tick
            qb = math.floor(bid_size * w / lot + 1e-9) * lot
            qa = math.floor(ask_size * w / lot + 1e-9) * lot
            if bid - off > 0 and qb > 0:
                bids.append((round(bid - off, 9), qb))
            if qa > 0:
                asks.append((round(ask + off, 9), qa))
        return bids, asks

    def on_quote(
        self, symbol: str, bid: float, ask: float, bid_size: float, ask_size: float, tick: float, lot: float
    ) -> list[Entry]:
        """Apply a live quote; returns user entries traded through (still in the book, for the engine to fill)."""
        book = self.book(symbol)
        return book.crossing_user_entries(bid, ask)

    def refresh(self, symbol: str, bid: float, ask: float, bid_size: float, ask_size: float,
                tick: float, lot: float) -> None:
        """Replace the simulated ladder (after traded-through user orders have been filled)."""
        bids, asks = self.simulated_levels(bid, ask, bid_size, ask_size, tick, lot)
        self.book(symbol).set_simulated(bids, asks)

    def on_trade(self, symbol: str, price: float) -> list[Entry]:
        """User orders a print traded through: bids strictly above, asks strictly below ``price``."""
        book = self.books.get(symbol)
        if book is None:
            return []
        eps = 1e-9
        out: list[Entry] = []
        for p in book.bids.irange(minimum=price + eps, reverse=True):
            out.extend(e for e in book.bids[p] if e.order_id is not None)
        for p in book.asks.irange(maximum=price - eps):
            out.extend(e for e in book.asks[p] if e.order_id is not None)
        return out
