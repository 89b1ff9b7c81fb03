"""Positions and P&L per account, strategy and instrument (netting: one position per key).

Average cost: adding to a position moves the average by quantity weight; reducing realises
``closed_qty * (fill price - avg cost) * sign(position)``; a fill through zero realises the
closed part and opens the rest at the fill price. Fees are kept apart from realised P&L.
Cash moves by ``-signed qty * price - fee`` on every fill. ``replay`` rebuilds all of it from
fills alone: the reconciliation compares that with the stored state.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from backend.trading.domain import EPS


@dataclass(slots=True)
class Position:
    account_id: str
    strategy: str
    symbol: str
    qty: float = 0.0
    avg_cost: float = 0.0
    realised_pnl: float = 0.0
    fees: float = 0.0
    fill_count: int = 0

    def apply(self, signed_qty: float, price: float, fee: float) -> float:
        """Apply one fill; returns the P&L it realised."""
        realised = 0.0
        q = self.qty
        if abs(q) <= EPS or (q > 0) == (signed_qty > 0):
            total = abs(q) + abs(signed_qty)
            self.avg_cost = (abs(q) * self.avg_cost + abs(signed_qty) * price) / total
            self.qty = q + signed_qty
        else:
            closed = min(abs(signed_qty), abs(q))
            realised = closed * (price - self.avg_cost) * (1 if q > 0 else -1)
            self.qty = q + signed_qty
            if abs(self.qty) <= EPS:
                self.qty, self.avg_cost = 0.0, 0.0
            elif (self.qty > 0) != (q > 0):  # flipped through zero
                self.avg_cost = price
        self.realised_pnl += realised
        self.fees += fee
        self.fill_count += 1
        return realised

    def unrealised(self, mark: float | None) -> float:
        return 0.0 if mark is None or abs(self.qty) <= EPS else (mark - self.avg_cost) * self.qty

    def as_dict(self, mark: float | None = None) -> dict[str, Any]:
        return {"account_id": self.account_id, "strategy": self.strategy, "symbol": self.symbol, "qty": self.qty,
                "avg_cost": self.avg_cost, "realised_pnl": self.realised_pnl, "fees": self.fees,
                "fill_count": self.fill_count, "mark_price": mark, "unrealised_pnl": self.unrealised(mark),
                "market_value": self.qty * mark if mark is not None else None}


class Ledger:
    """All positions, with the per-account net quantity per instrument the risk checks read."""

    __slots__ = ("positions", "net", "by_account")

    def __init__(self) -> None:
        self.positions: dict[tuple[str, str, str], Position] = {}
        self.net: dict[tuple[str, str], float] = {}
        self.by_account: dict[str, dict[str, None]] = {}  # account -> symbols held (ordered set)

    def get(self, account_id: str, strategy: str, symbol: str) -> Position:
        key = (account_id, strategy, symbol)
        p = self.positions.get(key)
        if p is None:
            p = self.positions[key] = Position(account_id, strategy, symbol)
            self.by_account.setdefault(account_id, {})[symbol] = None
        return p

    def put(self, p: Position) -> None:
        self.positions[(p.account_id, p.strategy, p.symbol)] = p
        self.by_account.setdefault(p.account_id, {})[p.symbol] = None
        k = (p.account_id, p.symbol)
        self.net[k] = self.net.get(k, 0.0) + p.qty

    def apply(self, account_id: str, strategy: str, symbol: str, signed_qty: float, price: float,
              fee: float) -> Position:
        p = self.get(account_id, strategy, symbol)
        p.apply(signed_qty, price, fee)
        k = (account_id, symbol)
        self.net[k] = self.net.get(k, 0.0) + signed_qty
        return p

    def net_qty(self, account_id: str, symbol: str) -> float:
        return self.net.get((account_id, symbol), 0.0)

    def gross_exposure(self, account_id: str, marks: dict[str, float]) -> float:
        total = 0.0
        for sym in self.by_account.get(account_id, ()):
            q = self.net.get((account_id, sym), 0.0)
            if q:
                m = marks.get(sym)
                if m is not None:
                    total += abs(q) * m
        return total

    def exposure(self, account_id: str, marks: dict[str, float]) -> tuple[float, float]:
        """(gross exposure, market value) in one pass (the pre-trade hot path needs both)."""
        gross = value = 0.0
        net = self.net
        for sym in self.by_account.get(account_id, ()):
            q = net.get((account_id, sym), 0.0)
            if q:
                m = marks.get(sym)
                if m is not None:
                    gross += abs(q) * m
                    value += q * m
        return gross, value

    def market_value(self, account_id: str, marks: dict[str, float]) -> float:
        total = 0.0
        for sym in self.by_account.get(account_id, ()):
            q = self.net.get((account_id, sym), 0.0)
            if q and sym in marks:
                total += q * marks[sym]
        return total

    def for_account(self, account_id: str, strategy: str | None = None) -> list[Position]:
        return [p for (a, s, _), p in self.positions.items() if a == account_id and (strategy is None or s == strategy)]


def replay(fills: Iterable[tuple[str, str, str, float, float, float]]) -> tuple[dict[tuple[str, str, str], Position],
                                                                          dict[str, float]]:
    """Positions and cash deltas from fills alone: rows of (account, strategy, symbol, signed qty, price, fee),
    in execution order. Returns (positions by key, cash change by account)."""
    positions: dict[tuple[str, str, str], Position] = {}
    cash: dict[str, float] = {}
    for account, strategy, symbol, signed_qty, price, fee in fills:
        key = (account, strategy, symbol)
        p = positions.get(key)
        if p is None:
            p = positions[key] = Position(account, strategy, symbol)
        p.apply(signed_qty, price, fee)
        cash[account] = cash.get(account, 0.0) - signed_qty * price - fee
    return positions, cash
