"""Market data into the order core: live quotes and trades from the feed, and DAY-order expiry.

A quote or print may fill resting orders and fire stops; its effects are committed like an
order's. While the core is halted for a rebuild, ticks are dropped (the books are refreshed by
the next quote after it resumes) and expiry waits.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backend.trading.service import TradingService

log = logging.getLogger(__name__)


class MarketHandlers:
    def __init__(self, svc: TradingService) -> None:
        self.svc = svc
        self.dropped_while_halted = 0

    async def _ready(self, symbol: str) -> bool:
        """Whether market data for ``symbol`` may be applied now: not while the core is halted (before and
        after loading the instrument, which awaits the database); dropped updates are counted."""
        if not self.svc.halted:
            await self.svc.load_instrument(symbol)
            if not self.svc.halted:
                return True
        self.dropped_while_halted += 1
        return False

    async def on_quote(self, p: dict[str, Any]) -> None:
        sym = str(p["symbol"])
        bid, ask, bid_size, ask_size = float(p["bid"]), float(p["ask"]), float(p["bid_size"]), float(p["ask_size"])
        if await self._ready(sym):
            await self.svc.commit(self.svc.engine.on_quote(sym, bid, ask, bid_size, ask_size, int(p.get("ts_ns") or 0)))

    async def on_trade(self, p: dict[str, Any]) -> None:
        sym = str(p["symbol"])
        price, size = float(p["price"]), float(p["size"])
        if await self._ready(sym):
            await self.svc.commit(self.svc.engine.on_trade(sym, price, size, int(p.get("ts_ns") or 0)))

    async def expiry_loop(self) -> None:
        while True:
            await asyncio.sleep(self.svc.config.expiry_interval_s)
            if self.svc.halted:
                continue
            try:
                eff = self.svc.engine.expire_due()
                if eff:
                    await self.svc.commit(eff)
            except Exception:  # noqa: BLE001 - keep expiring; a failed commit halts and rebuilds on its own
                log.exception("expiry sweep failed")
