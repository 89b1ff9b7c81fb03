"""Factories for the trading core's unit tests (pure, in-memory)."""

from __future__ import annotations

import itertools

import pytest

from backend.trading.domain import Instrument
from backend.trading.engine import TradingEngine
from backend.trading.pre_trade import RiskLimits


class FakeClock:
    """A deterministic nanosecond clock (the engine's only time source)."""

    def __init__(self, start_ns: int = 1_700_000_000_000_000_000) -> None:
        self.now = start_ns
        self._tick = itertools.count()

    def __call__(self) -> int:
        self.now += 1_000  # 1 microsecond per reading keeps timestamps strictly increasing
        return self.now


def make_engine(limits: RiskLimits | None = None, cash: float = 10_000_000.0) -> TradingEngine:
    eng = TradingEngine(clock=FakeClock())
    eng.add_instrument(Instrument("AAA", tick_size=0.01, lot_size=1.0))
    eng.add_instrument(Instrument("HALT", tick_size=0.01, lot_size=1.0, tradable=False))
    eng.add_instrument(Instrument("LOT", tick_size=0.05, lot_size=100.0))
    eng.add_account("acc", "Test", cash, limits=limits or RiskLimits(duplicate_window_s=0))
    return eng


@pytest.fixture
def engine() -> TradingEngine:
    eng = make_engine()
    eng.on_quote("AAA", 100.00, 100.02, 1000, 1000)
    return eng
