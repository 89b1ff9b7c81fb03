"""A price-time-priority limit order book for one instrument on one venue.

Promises: the book never crosses (``rest`` refuses a price that would cross; callers match
first); orders at one price fill in arrival order; quantity is conserved (what leaves the
book is exactly what was matched or cancelled). Simulated liquidity around the live market
is held as one entry per price level (``owner`` None) whose queue position is kept while the
level persists across refreshes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from itertools import count

from sortedcontainers import SortedDict

from backend.trading.domain import EPS

_SEQ = count()


class BookCrossed(ValueError):
    """A resting order would have crossed the opposite side."""


class Entry:
    """One resting quantity. ``order_id``/``owner`` are None for simulated liquidity."""

    __slots__ = ("order_id", "owner", "is_buy", "price", "qty", "seq")

    def __init__(self, order_id: str | None, owner: str | None, is_buy: bool, price: float, qty: float) -> None:
        self.order_id = order_id
        self.owner = owner
        self.is_buy = is_buy
        self.price = price
        self.qty = qty
        self.seq = next(_SEQ)

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"Entry({self.order_id}, {'B' if self.is_buy else 'S'} {self.qty}@{self.price})"


def _key(price: float) -> float:
    return round(price, 9)


class OrderBook:
    """Bids and asks as SortedDict price -> deque[Entry].

    ``bid``/``ask`` hold the best price of each side (None when empty), kept up to date by every
    mutation here (a level is only ever created or deleted in this class), so reading them costs
    an attribute load instead of a sorted-list index. Do not add or delete levels from outside.
    """

    __slots__ = ("symbol", "bids", "asks", "_by_id", "_sim_bids", "_sim_asks", "_bid_keys", "_ask_keys", "bid",
                 "ask")

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.bids: SortedDict = SortedDict()
        self.asks: SortedDict = SortedDict()
        self._by_id: dict[str, Entry] = {}
        self._sim_bids: dict[float, Entry] = {}
        self._sim_asks: dict[float, Entry] = {}
        self._bid_keys = self.bids.keys()  # live sorted views: index 0 / -1 is the cheapest best-price read
        self._ask_keys = self.asks.keys()
        self.bid: float | None = None  # best bid, cached
        self.ask: float | None = None  # best ask, cached

    # ---- views -------------------------------------------------------------
    def best_bid(self) -> float | None:
        return self.bid

    def best_ask(self) -> float | None:
        return self.ask

    def depth(self, n: int) -> dict[str, list[tuple[float, float]]]:
        """Top ``n`` aggregated levels per side, best first: {'bids': [(price, qty)], 'asks': [...]}."""
        bids = [(p, sum(e.qty for e in self.bids[p])) for p in reversed(self.bids.keys()[-n:])] if n else []
        asks = [(p, sum(e.qty for e in self.asks[p])) for p in self.asks.keys()[:n]] if n else []
        return {"bids": bids, "asks": asks}

    def opposite_levels(self, is_buy: bool, limit: float | None) -> Iterable[tuple[float, float]]:
        """Displayed (price, qty) a taker on ``is_buy`` side could reach, best first, within ``limit``."""
        if is_buy:
            keys = self.asks.irange(maximum=limit) if limit is not None else self.asks.keys()
            side = self.asks
        else:
            keys = self.bids.irange(minimum=limit, reverse=True) if limit is not None else reversed(self.bids.keys())
            side = self.bids
        for p in keys:
            yield p, sum(e.qty for e in side[p])

    def reachable(self, is_buy: bool, limit: float | None, qty: float) -> list[tuple[float, float]]:
        """Like ``opposite_levels`` but stops once the levels cover ``qty``: the router's hot path
        (a plain loop, no nested generators)."""
        side = self.asks if is_buy else self.bids
        best = self.ask if is_buy else self.bid
        if best is None or (limit is not None and (best > limit if is_buy else best < limit)):
            return []
        level = side[best]
        q = level[0].qty if len(level) == 1 else sum(e.qty for e in level)
        if q >= qty:  # the usual case: the best level alone covers it, no walk over the sorted keys
            return [(best, q)]
        out: list[tuple[float, float]] = []
        seen = 0.0
        # walking the keys from the best and stopping past ``limit`` gives what irange(limit) gives
        # (inclusive, exact comparison) without building the range
        for p in (side if is_buy else reversed(side)):
            if limit is not None and (p > limit if is_buy else p < limit):
                break
            level = side[p]
            q = level[0].qty if len(level) == 1 else sum(e.qty for e in level)
            out.append((p, q))
            seen += q
            if seen >= qty:
                break
        return out

    def user_entries(self) -> list[Entry]:
        return list(self._by_id.values())

    def entry(self, order_id: str) -> Entry | None:
        return self._by_id.get(order_id)

    def total_qty(self) -> float:
        return sum(e.qty for lvl in self.bids.values() for e in lvl) + sum(
            e.qty for lvl in self.asks.values() for e in lvl
        )

    # ---- mutations ---------------------------------------------------------
    def match(self, is_buy: bool, qty: float, limit: float | None) -> list[tuple[Entry, float, float]]:
        """Take up to ``qty`` from the opposite side, best price first, then arrival order.

        Returns [(resting entry, matched qty, price)]; entries emptied are removed from the book.
        """
        side = self.asks if is_buy else self.bids
        out: list[tuple[Entry, float, float]] = []
        remaining = qty
        while remaining > EPS and side:
            price = self.ask if is_buy else self.bid  # the cached best of the side taken from
            level = side[price]
            if limit is not None and (price > limit + EPS if is_buy else price < limit - EPS):
                break
            while remaining > EPS and level:
                e = level[0]
                take = e.qty if e.qty <= remaining + EPS else remaining
                e.qty -= take
                remaining -= take
                out.append((e, take, price))
                if e.qty <= EPS:
                    e.qty = 0.0
                    level.popleft()
                    self._forget(e)
            if not level:
                del side[price]
                self._level_gone(not is_buy)
        return out

    def rest(self, order_id: str, owner: str, is_buy: bool, price: float, qty: float) -> Entry:
        """Add a user order at the back of its price level. Raises BookCrossed if it would cross."""
        price = _key(price)
        if is_buy:
            best = self.ask
            if best is not None and price >= best - EPS:
                raise BookCrossed(f"bid {price} would cross ask {best}")
        else:
            best = self.bid
            if best is not None and price <= best + EPS:
                raise BookCrossed(f"ask {price} would cross bid {best}")
        e = Entry(order_id, owner, is_buy, price, qty)
        side = self.bids if is_buy else self.asks
        level = side.get(price)
        if level is None:
            level = side[price] = deque()
            self._level_added(is_buy, price)
        level.append(e)
        self._by_id[order_id] = e
        return e

    def remove(self, order_id: str) -> float:
        """Take a user order out of the book; returns the quantity it still had (0 if absent)."""
        e = self._by_id.pop(order_id, None)
        if e is None:
            return 0.0
        self._unlink(e)
        return e.qty

    def reduce(self, order_id: str, new_qty: float) -> None:
        """Lower a resting order's quantity in place, keeping its queue position."""
        e = self._by_id[order_id]
        if new_qty > e.qty + EPS:
            raise ValueError("reduce cannot increase quantity")
        e.qty = new_qty

    def crossing_user_entries(self, bid: float | None, ask: float | None) -> list[Entry]:
        """User orders the live market has traded through: bids >= ``ask``, asks <= ``bid``."""
        out: list[Entry] = []
        if ask is not None:
            for p in self.bids.irange(minimum=ask - EPS, reverse=True):
                out.extend(e for e in self.bids[p] if e.order_id is not None)
        if bid is not None:
            for p in self.asks.irange(maximum=bid + EPS):
                out.extend(e for e in self.asks[p] if e.order_id is not None)
        return out

    def set_simulated(self, bids: list[tuple[float, float]], asks: list[tuple[float, float]]) -> None:
        """Replace simulated liquidity. Levels that would cross resting user orders are skipped;
        a level present before and after keeps its queue position."""
        self._clear_sim(self._sim_bids, self.bids)
        self._clear_sim(self._sim_asks, self.asks)
        user_bid = max((e.price for e in self._by_id.values() if e.is_buy), default=None)
        user_ask = min((e.price for e in self._by_id.values() if not e.is_buy), default=None)
        new_bids = {_key(p): q for p, q in bids if q > EPS and (user_ask is None or _key(p) < user_ask - EPS)}
        new_asks = {_key(p): q for p, q in asks if q > EPS and (user_bid is None or _key(p) > user_bid + EPS)}
        if new_bids and new_asks and max(new_bids) >= min(new_asks) - EPS:
            raise BookCrossed("simulated bids and asks overlap")
        self._apply_sim(self._sim_bids, self.bids, new_bids, True)
        self._apply_sim(self._sim_asks, self.asks, new_asks, False)

    # ---- internals ---------------------------------------------------------
    def _clear_sim(self, sims: dict[float, Entry], side: SortedDict) -> None:
        for p, e in list(sims.items()):
            if e.qty <= EPS:  # consumed by matching already
                del sims[p]

    def _apply_sim(self, sims: dict[float, Entry], side: SortedDict, new: dict[float, float], is_buy: bool) -> None:
        for p in [p for p in sims if p not in new]:
            self._unlink(sims.pop(p))
        for p, q in new.items():
            e = sims.get(p)
            if e is not None:
                e.qty = q
                continue
            e = sims[p] = Entry(None, None, is_buy, p, q)
            level = side.get(p)
            if level is None:
                level = side[p] = deque()
                self._level_added(is_buy, p)
            level.append(e)

    def _level_added(self, is_buy: bool, price: float) -> None:
        if is_buy:
            if self.bid is None or price > self.bid:
                self.bid = price
        elif self.ask is None or price < self.ask:
            self.ask = price

    def _level_gone(self, is_buy: bool) -> None:
        """A level of that side was deleted: re-read its best (cheap; deletions are rarer than reads)."""
        if is_buy:
            self.bid = self._bid_keys[-1] if self.bids else None
        else:
            self.ask = self._ask_keys[0] if self.asks else None

    def _forget(self, e: Entry) -> None:
        if e.order_id is not None:
            self._by_id.pop(e.order_id, None)
        else:
            sims = self._sim_bids if e.is_buy else self._sim_asks
            if sims.get(e.price) is e:
                del sims[e.price]

    def _unlink(self, e: Entry) -> None:
        side = self.bids if e.is_buy else self.asks
        level = side.get(e.price)
        if level is None:
            return
        try:
            level.remove(e)
        except ValueError:
            return
        if not level:
            del side[e.price]
            self._level_gone(e.is_buy)
