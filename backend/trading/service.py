"""TradingService: the trading core's lifecycle inside the gateway, and its durability rule.

    svc = TradingService(settings); app.include_router(api.build_router(svc))
    await svc.start(db_pool, bus)   # memory from the database (recovery.load), then feed, writer, relay
    await svc.stop()                # stop algos and feed, flush writer and outbox (bounded)

The rule: nothing is acknowledged, and nothing is shown, that is not durable. A change is applied
by the pure order core, snapshot into a batch and committed by the writer before the caller hears
back; a read first waits for everything queued before it to be durable. If a commit fails, memory
is ahead of the database: the writer halts, every caller gets 503 TRADING_RECOVERING, and ``rebuild``
replaces memory with ``recovery.load`` (the restart path), retrying while the database is away,
then resumes. The parts: ``intake`` (orders), ``accounts`` (accounts, limits, kill switch),
``market`` (feed ticks, expiry), ``algos`` (TWAP/VWAP/POV), ``recovery`` (load, reconcile).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import asyncpg

from backend.bus import Bus
from backend.core import metrics as core_metrics
from backend.core.errors import TradingRecovering
from backend.core.settings import Settings
from backend.trading import algos as algo_mod
from backend.trading import recovery, store
from backend.trading.accounts import Accounts
from backend.trading.algo_service import Algorithms
from backend.trading.config import TradingConfig
from backend.trading.engine import Effects, TradingEngine
from backend.trading.feed import MarketFeed
from backend.trading.intake import OrderIntake
from backend.trading.market import MarketHandlers
from backend.trading.metrics import TradingMetrics, TradingStats
from backend.trading.outbox import OutboxRelay

log = logging.getLogger(__name__)
REBUILD_BACKOFF_MAX_S = 5.0


class TradingService:
    def __init__(self, settings: Settings, config: TradingConfig | None = None) -> None:
        from backend.service.app import make_authenticator

        self.settings = settings
        self.config = config or TradingConfig()
        self.engine = TradingEngine(session_close_utc=self.config.session_close_utc)
        self.pool: asyncpg.Pool | None = None
        self.bus: Bus | None = None
        self.writer: store.Writer | None = None
        self.relay: OutboxRelay | None = None
        self.feed: MarketFeed | None = None
        #: why intake is halted (a failed commit, until memory is rebuilt); None while open
        self.halted: str | None = None
        self.rebuilds = 0
        self.last_rebuild: dict[str, Any] | None = None
        self._rebuild_task: asyncio.Task | None = None
        self._tasks: list[asyncio.Task] = []
        self.started_ns = 0
        #: who may call the routes; the gateway replaces it with its own (one authenticator per process)
        self.auth = make_authenticator(settings, lambda: self.pool)
        self.intake = OrderIntake(self)
        self.accounts = Accounts(self)
        self.market = MarketHandlers(self)
        self.algos = Algorithms(self)
        self.stats = TradingStats()
        self.metrics = TradingMetrics(self)

    # ---- lifecycle -----------------------------------------------------------
    async def start(self, db_pool: asyncpg.Pool, bus: Bus | None) -> None:
        self.pool, self.bus = db_pool, bus
        self.started_ns = time.time_ns()
        core_metrics.enable(core_metrics.TRADING_COMMIT_BATCHES, core_metrics.TRADING_COMMIT_SECONDS)
        core_metrics.set_source("trading", self.metrics.collect, self.metrics.refresh)
        restored = await recovery.load(db_pool, self.config)
        self.engine = restored.engine
        self.writer = store.Writer(db_pool, max_batches=self.config.writer_max_batches,
                                   retry_s=self.config.writer_retry_s, on_halt=self._on_halt)
        self.writer.start()
        if bus is not None:
            self.relay = OutboxRelay(db_pool, bus, self.writer.committed, batch=self.config.relay_batch,
                                     poll_s=self.config.relay_poll_s)
            self.relay.start()
            if self.config.feed_enabled:
                self.feed = MarketFeed(bus, self.config.consumer_group, self.config.consumer_name,
                                       self.market.on_quote, self.market.on_trade)
                self.feed.start()
        self._tasks.append(asyncio.create_task(self.market.expiry_loop(), name="trading-expiry"))
        self._tasks.append(asyncio.create_task(self.accounts.limit_set_loop(), name="trading-limit-sets"))
        await self.algos.replace(restored.algos)

    async def stop(self) -> None:
        t = self.config.stop_timeout_s
        if self._rebuild_task is not None:
            self._rebuild_task.cancel()
            await asyncio.gather(self._rebuild_task, return_exceptions=True)
        await self.algos.stop_all()
        if self.feed is not None:
            await self.feed.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self.writer is not None:
            await self.writer.stop(t)
        if self.relay is not None:
            await self.relay.stop(t)
        if core_metrics.SOURCES.sources.get("trading") == self.metrics.collect:
            core_metrics.drop_source("trading")

    # ---- the durability rule -------------------------------------------------------
    def check_open(self) -> None:
        """503 TRADING_RECOVERING while memory is being rebuilt from the database."""
        if self.halted is not None:
            raise TradingRecovering(f"order intake halted while state is rebuilt from the database: {self.halted}",
                                retry_after_s=1)

    async def commit(self, eff: Effects | None, statements: list[tuple[str, tuple]] | None = None) -> None:
        """Make an engine call's effects (and extra statements) durable; TradingRecovering if they cannot be."""
        batch = store.Batch.from_effects(eff) if eff else store.Batch()
        if statements:
            batch.statements += statements
        if batch.orders or batch.fills or batch.statements or batch.decisions or batch.outbox:
            await self.writer.commit(batch)
            if eff:
                self.stats.record(eff, self.engine.accounts)

    async def durable(self) -> None:
        """Before a read from memory: wait until everything changed before it is durable."""
        self.check_open()
        await self.writer.barrier()

    async def load_instrument(self, symbol: str) -> None:
        if symbol not in self.engine.instruments:
            async with self.pool.acquire() as conn:
                for inst in await store.load_instruments(conn, symbol):
                    self.engine.add_instrument(inst)

    def _on_halt(self, reason: str) -> None:
        self.halted = reason
        if self._rebuild_task is None or self._rebuild_task.done():
            self._rebuild_task = asyncio.create_task(self.rebuild(), name="trading-rebuild")

    async def rebuild(self) -> None:
        """Replace memory with the database's state (the restart path), retrying while the database is
        away; intake answers 503 until it is done. Algorithms restart from their stored state."""
        t0 = time.monotonic()
        reason = self.halted
        await self.algos.stop_all()
        backoff, attempts = 0.05, 0
        while True:
            attempts += 1
            try:
                await self.writer.idle()
                restored = await recovery.load(self.pool, self.config)
                break
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - the database may be down: keep trying, stay halted
                log.warning("trading rebuild attempt %d failed: %s: %s", attempts, type(e).__name__, e)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, REBUILD_BACKOFF_MAX_S)
        old = self.engine
        self.engine = restored.engine
        for sym, mark in old.marks.items():  # the market did not go away
            self.engine.marks.setdefault(sym, mark)
        self.engine.volume.update(old.volume)
        self.rebuilds += 1
        self.last_rebuild = {"reason": reason, "attempts": attempts,
                             "seconds": round(time.monotonic() - t0, 3), "at_ns": time.time_ns()}
        self.writer.resume()
        self.halted = None
        await self.algos.replace(restored.algos)
        log.warning("trading state rebuilt from the database in %.3fs after: %s", time.monotonic() - t0, reason)
        for sym, (bid, ask, bid_size, ask_size) in old.quotes.items():  # refill the venues' books
            try:
                await self.commit(self.engine.on_quote(sym, bid, ask, bid_size, ask_size))
            except TradingRecovering:
                return  # halted again: that rebuild takes over

    # ---- reads ------------------------------------------------------------------------
    async def reconcile(self) -> dict[str, Any]:
        """Positions and cash as stored and as held in memory, against a replay of every stored fill."""
        await self.durable()
        return await recovery.reconcile(self.pool, self.engine)

    async def health(self) -> dict[str, Any]:
        outbox = None
        if self.pool is not None:
            try:
                outbox = await asyncio.wait_for(self.pool.fetchval("SELECT count(*) FROM trading_outbox"), 1.0)
            except Exception:  # noqa: BLE001 - health reports
                outbox = None
        w, r, f = self.writer, self.relay, self.feed
        ok = w is not None and self.halted is None and (r is None or r.last_error is None)
        return {
            "status": "ok" if ok else "degraded",
            "halted": self.halted,
            "rebuilds": self.rebuilds, "last_rebuild": self.last_rebuild,
            "accounts": len(self.engine.accounts), "open_orders": len(self.engine.orders),
            "algorithms_active": sum(1 for a in self.algos.runners.values() if a.s.status in algo_mod.ACTIVE),
            "writer": {"commits": w.commits if w else 0, "queued": w.queue.qsize() if w else 0,
                       "failed": w.failed if w else None, "halts": w.halts if w else 0},
            "outbox": {"pending": outbox, "relayed": r.relayed if r else 0, "last_error": r.last_error if r else None},
            "feed": {"received": f.received if f else 0, "malformed": f.malformed if f else 0,
                     "dropped_while_halted": self.market.dropped_while_halted,
                     "last_error": f.last_error if f else None} if f else None,
            "kill_switch": {"global": self.engine.global_killed},
        }
