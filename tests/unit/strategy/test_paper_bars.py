"""Paper trading cuts bars on the feed's timestamps and closes them when the feed's clock passes their end.
The simulated feed runs on its own session clock, hours from the wall clock: bars were closed by the wall
clock, so every loop closed one (a bar every ~50 ms instead of every bar_seconds)."""

from __future__ import annotations

import time

from engines.strategy.paper import PaperInstance, PaperManager, PaperSpec
from strategies.sma_cross import SmaCross

HOUR_NS = 3600 * 10**9


class Recording(PaperManager):
    def __init__(self) -> None:
        super().__init__()
        self.closed: list[tuple[str, int]] = []

    async def _close_bar(self, inst: PaperInstance, sym: str) -> None:
        self.closed.append((sym, inst.building.pop(sym)["bucket"]))


def _instance(bar_seconds: float) -> PaperInstance:
    spec = PaperSpec(account_id="a", symbols=["AAPL"], bar_seconds=bar_seconds, capital=1e5, max_drawdown_pct=None,
                     max_errors=None, flatten_on_rollback=False)
    inst = PaperInstance(id="i", strategy="sma_cross", version="v", params={}, spec=spec)
    inst.strategy_obj = SmaCross.__new__(SmaCross)  # its class decides which tick callbacks run (none here)
    return inst


async def test_bars_when_feed_clock_is_hours_behind_then_closed_by_the_feed_clock():
    m, inst = Recording(), _instance(5.0)
    feed_ts = time.time_ns() - 5 * HOUR_NS  # a session clock 5 hours behind the wall clock
    for i in range(20):  # 20 quotes 100 ms apart on the feed's clock: 2 seconds, inside one 5 s bar at most twice
        await m._apply_tick(inst, {"symbol": "AAPL", "bid": 99.0, "ask": 101.0, "ts_ns": feed_ts + i * 10**8},
                            "quote")
        await m._close_due(inst, time.time_ns())
    assert len(m.closed) <= 1, m.closed
    await m._close_due(inst, time.time_ns() + 6 * 10**9)  # the feed's clock moves on past the bar's end
    assert "AAPL" not in inst.building
