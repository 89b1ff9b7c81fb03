"""Paper trading: a strategy version runs in the strategy engine process on the live feed, with the same
``Strategy`` class as in backtests, and trades through the real trading core (``/api/v1/trading``) under
its account and its own strategy id (``<strategy>.<instance id>``), so its orders, fills, positions and
P&L are the trading core's, visible to every client. There is no broker here: "production" is paper
trading too, on its own account (the API and README say so).

Each instance reads the market data streams through its own consumer group (``backend.trading.feed``),
builds bars of ``bar_seconds`` from quote mid prices (and trades), calls ``on_quote`` / ``on_trade`` and,
on each closed bar, refreshes its view of the trading core (its positions, its orders), updates its
indicators, calls ``on_bar``, then sends the orders the callback asked for. Order status changes and
fills seen since the last bar reach ``on_order_event`` / ``on_fill``.

Isolation: a callback that raises stops its own instance (status ``failed`` with the error); one that runs
longer than ``callback_timeout_s`` is stopped by the watchdog the same way; the engine and the other
instances keep running. The key-value ``state`` and the drawdown peak are stored after every bar, and a
restart of the engine resumes every instance still marked ``running`` from its stored state.

Rollback rule (stated per instance): the strategy's equity is ``capital`` plus the realised and
unrealised P&L of its positions net of fees; once it falls more than ``max_drawdown_pct`` below its peak
(or ``max_errors`` trading-core refusals happen), the instance is stopped, its open orders cancelled,
its positions flattened when ``flatten_on_rollback``, the rollback recorded in ``strategy_promotions``
with its evidence, and an event published on ``events.strategy``.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from backend.auth.guard import INTERNAL_HEADER
from backend.auth.keys import HEADER
from backend.bus.streams import EVENTS_STRATEGY, MD_QUOTES, MD_TRADES
from backend.contract.operation import OpContext
from backend.core.errors import Conflict, InvalidInput, NotFound, Unavailable
from backend.trading.feed import MarketFeed
from engines.features.indicators import CATALOG, resolve_params
from engines.features.streaming import make_stream
from engines.strategy import registry
from engines.strategy.api import Bar, Context, FillEvent, Indicator, OrderEvent, Strategy
from engines.strategy.backtest import FIELDS, strategy_logger
from engines.strategy.config import StrategyConfig

log = logging.getLogger(__name__)
OPEN_STATUSES = {"initialised", "submitted", "accepted", "partially_filled", "triggered"}
HISTORY_BARS = 5_000
#: Ticks waiting for an instance's task; beyond this the oldest are dropped (a bar then misses them).
TICK_QUEUE = 100_000


@dataclass
class PaperSpec:
    account_id: str
    symbols: list[str]
    bar_seconds: float
    capital: float
    max_drawdown_pct: float | None
    max_errors: int | None
    flatten_on_rollback: bool
    stage: str = "paper"
    max_consecutive_losses: int | None = None


class TradingClient:
    """The trading core's REST API, as the paper instances use it."""

    def __init__(self, ctx: OpContext, cfg: StrategyConfig) -> None:
        s = ctx.settings
        if cfg.trading_url:
            self.base = cfg.trading_url.rstrip("/")
        elif s is not None:
            self.base = f"http://{s.host}:{s.gateway_port}"
        else:
            raise Unavailable("no trading core URL (NAUTILUS_STRATEGY_TRADING_URL)", field="account_id")
        if cfg.trade_api_key is not None:
            headers = {HEADER: cfg.trade_api_key.get_secret_value()}
        elif getattr(s, "internal_token", None):
            headers = {INTERNAL_HEADER: s.internal_token}
        else:
            raise Unavailable("paper trading needs NAUTILUS_STRATEGY_TRADE_API_KEY or the instance's internal token",
                              field="account_id")
        self.http = aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=cfg.call_timeout_s))

    async def close(self) -> None:
        await self.http.close()

    async def call(self, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        async with self.http.request(method, f"{self.base}/api/v1/trading{path}", **kw) as r:
            return r.status, await r.json(content_type=None)


class PaperContext(Context):
    """A strategy's view while paper trading: a snapshot of its positions and orders taken at each bar,
    and the actions its callbacks ask for, sent to the trading core when the callback returns."""

    def __init__(self, inst: PaperInstance) -> None:
        self._i = inst
        self.symbols = tuple(inst.spec.symbols)
        self.state: dict[str, Any] = inst.state
        self.log, self._logbuf = strategy_logger(inst.strategy_id, time.time_ns)

    def now_ns(self) -> int:
        return time.time_ns()

    def _sym(self, symbol: str | None) -> str:
        if symbol is None:
            if len(self.symbols) != 1:
                raise InvalidInput("name the symbol: this instance has several", field="symbol")
            return self.symbols[0]
        if symbol not in self.symbols:
            raise InvalidInput(f"{symbol!r} is not a symbol of this instance", field="symbol")
        return symbol

    def indicator(self, name: str, symbol: str | None = None, **params: float) -> Indicator:
        return self._i.indicator(self._sym(symbol), name, params)

    def history(self, field: str, n: int, symbol: str | None = None) -> Any:
        import numpy as np

        rows = self._i.bars[self._sym(symbol)][-n:]
        return np.array([getattr(b, field) for b in rows], dtype=np.float64)

    def position(self, symbol: str | None = None) -> float:
        p = self._i.positions.get(self._sym(symbol))
        return p["qty"] if p else 0.0

    @property
    def equity(self) -> float:
        return self._i.equity()

    @property
    def cash(self) -> float:
        held = sum(p["qty"] * p["avg_cost"] for p in self._i.positions.values())
        return self._i.equity() - sum((p["unrealised_pnl"] or 0.0) for p in self._i.positions.values()) - held

    def open_orders(self, symbol: str | None = None) -> list[OrderEvent]:
        sym = None if symbol is None else self._sym(symbol)
        return [self._i.event(o) for o in self._i.orders.values()
                if o["status"] in OPEN_STATUSES and (sym is None or o["symbol"] == sym)]

    def submit(self, symbol: str, side: str, qty: float, type: str = "market", *, limit_price: float | None = None,
               stop_price: float | None = None, tif: str | None = None, client_order_id: str | None = None) -> str:
        cid = client_order_id or self._i.next_cid()
        self._i.actions.append(("submit", {"account_id": self._i.spec.account_id, "symbol": self._sym(symbol),
                                           "side": side, "type": type, "qty": qty, "limit_price": limit_price,
                                           "stop_price": stop_price, "tif": tif, "client_order_id": cid,
                                           "strategy": self._i.strategy_id}))
        return cid

    def cancel(self, client_order_id: str) -> None:
        self._i.actions.append(("cancel", {"client_order_id": client_order_id}))

    def amend(self, client_order_id: str, *, qty: float | None = None, limit_price: float | None = None,
              stop_price: float | None = None) -> None:
        body = {k: v for k, v in (("qty", qty), ("limit_price", limit_price), ("stop_price", stop_price))
                if v is not None}
        self._i.actions.append(("amend", {"client_order_id": client_order_id, "body": body}))

    def affordable_qty(self, symbol: str, price: float, fraction: float = 1.0) -> float:
        cash = self.cash * fraction
        return float(int(cash / price)) if price > 0 and cash > 0 else 0.0

    def buy_with_cash(self, symbol: str, fraction: float = 1.0) -> str:
        bars = self._i.bars[self._sym(symbol)]
        qty = self.affordable_qty(symbol, bars[-1].close, fraction) if bars else 0.0
        return self.submit(symbol, "buy", qty) if qty > 0 else ""


@dataclass
class PaperInstance:
    id: str
    strategy: str
    version: str
    params: dict[str, Any]
    spec: PaperSpec
    state: dict[str, Any] = field(default_factory=dict)
    status: str = "running"
    error: str | None = None
    peak: float | None = None
    bar_count: int = 0
    errors: int = 0
    positions: dict[str, dict[str, Any]] = field(default_factory=dict)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)  # client order id -> trading core view
    actions: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    bars: dict[str, list[Bar]] = field(default_factory=dict)
    ticks: deque[tuple[str, dict[str, Any]]] = field(default_factory=lambda: deque(maxlen=TICK_QUEUE))
    building: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: the feed's clock minus the wall clock at the last tick: bars are cut on the feed's timestamps (a
    #: simulated feed runs on its own session clock, hours from the wall clock), so they are closed when the
    #: feed's time, not the wall clock's, passes their end
    feed_clock_offset_ns: int = 0
    indicators: dict[tuple, Indicator] = field(default_factory=dict)
    task: asyncio.Task | None = None
    feed: MarketFeed | None = None
    strategy_obj: Strategy | None = None
    ctx: PaperContext | None = None
    _seq: int = 0

    @property
    def strategy_id(self) -> str:
        return f"{self.strategy}.{self.id}"

    def next_cid(self) -> str:
        self._seq += 1
        self.state["_seq"] = self._seq
        return f"{self.id}-{self._seq}"

    def equity(self) -> float:
        return self.spec.capital + sum(p["realised_pnl"] + (p["unrealised_pnl"] or 0.0) - p["fees"]
                                       for p in self.positions.values())

    def indicator(self, sym: str, name: str, params: dict[str, float]) -> Indicator:
        key = (sym, name, tuple(sorted(params.items())))
        ind = self.indicators.get(key)
        if ind is None:
            defn = CATALOG.get(name)
            if defn is None:
                raise InvalidInput(f"unknown indicator {name!r}", field="indicator")
            resolved = resolve_params(defn, params)
            ind = self.indicators[key] = Indicator(sym, name, resolved, make_stream(name, resolved))
            for b in self.bars.get(sym, []):  # created mid-run: warm up on the bars seen so far
                ind.values = ind.stream.update({f: getattr(b, f) for f in FIELDS})
        return ind

    def event(self, o: dict[str, Any]) -> OrderEvent:
        return OrderEvent(o["client_order_id"], o["symbol"], o["side"], o["type"], o["status"], o["qty"],
                          o["filled_qty"], o["avg_fill_price"] or 0.0, o.get("reason"), o["updated_ns"])

    def view(self) -> dict[str, Any]:
        return {"instance_id": self.id, "strategy": self.strategy, "version": self.version, "params": self.params,
                "strategy_id": self.strategy_id, "account_id": self.spec.account_id, "symbols": self.spec.symbols,
                "bar_seconds": self.spec.bar_seconds, "stage": self.spec.stage, "status": self.status,
                "error": self.error, "bars": self.bar_count, "equity": self.equity(), "peak_equity": self.peak,
                "drawdown": (self.equity() / self.peak - 1.0) if self.peak else 0.0,
                "positions": list(self.positions.values()),
                "open_orders": [o for o in self.orders.values() if o["status"] in OPEN_STATUSES],
                "logs": list(self.ctx._logbuf.lines) if self.ctx else [], "state": self.state,
                "rule": {"max_drawdown_pct": self.spec.max_drawdown_pct, "max_errors": self.spec.max_errors,
                         "max_consecutive_losses": self.spec.max_consecutive_losses,
                         "flatten_on_rollback": self.spec.flatten_on_rollback}}


class PaperManager:
    """The paper instances of this engine process."""

    def __init__(self) -> None:
        self.instances: dict[str, PaperInstance] = {}
        self.ctx: OpContext | None = None
        self.cfg = StrategyConfig()
        self.client: TradingClient | None = None

    def bind(self, ctx: OpContext) -> None:
        self.ctx = ctx
        if self.client is None:
            self.client = TradingClient(ctx, self.cfg)

    # ---- lifecycle -----------------------------------------------------------------
    async def load(self, db: Any, name: str, version: str | None) -> registry.LoadedStrategy:
        """The strategy at ``version``: from its file while the file holds it, else from ``strategy_versions``."""
        try:
            return registry.load(name, version)
        except (InvalidInput, NotFound) as e:
            if version is None:
                raise
            src = await db.fetchval("SELECT source FROM strategy_versions WHERE strategy = $1 AND version = $2",
                                    name, version)
            if src is None:
                raise e
            return registry.load_source(name, version, src)

    async def start(self, ctx: OpContext, strategy: str, version: str | None, params: dict[str, Any],
                    spec: PaperSpec, instance_id: str | None = None) -> PaperInstance:
        db = ctx.require_db()
        ctx.require_bus()
        self.bind(ctx)
        s = await self.load(db, strategy, version)
        resolved = s.cls.resolve(params)
        running = [i for i in self.instances.values() if i.status == "running"]
        if len(running) >= self.cfg.max_instances:
            raise Conflict(f"{len(running)} instances run, the most allowed (NAUTILUS_STRATEGY_MAX_INSTANCES)",
                           field="strategy")
        status, acct = await self.client.call("GET", f"/accounts/{spec.account_id}")  # type: ignore[union-attr]
        if status == 404:
            raise NotFound(f"no trading account {spec.account_id!r}", field="account_id")
        if status != 200:
            raise Unavailable(f"the trading core answered {status} for the account", field="account_id")
        inst = PaperInstance(instance_id or uuid.uuid4().hex[:10], s.name, s.version, resolved, spec)
        source = registry.source_of(s)
        if source is not None:  # kept, so this version can run again after its file changes
            await db.execute("INSERT INTO strategy_versions (strategy, version, source) VALUES ($1,$2,$3) "
                             "ON CONFLICT DO NOTHING", s.name, s.version, source)
        await db.execute(
            "INSERT INTO strategy_instances (id, strategy, version, params, spec, status, stage) "
            "VALUES ($1,$2,$3,$4::jsonb,$5::jsonb,'running',$6)", inst.id, s.name, s.version,
            orjson.dumps(resolved).decode(), orjson.dumps(spec.__dict__).decode(), spec.stage)
        self._launch(inst, s.cls)
        await self._event(inst, "started")
        return inst

    def _launch(self, inst: PaperInstance, cls: type[Strategy], run: bool = True) -> None:
        inst._seq = int(inst.state.get("_seq", 0))
        inst.bars = {s: [] for s in inst.spec.symbols}
        inst.ctx = PaperContext(inst)
        inst.strategy_obj = cls(inst.ctx, inst.params)
        self.instances[inst.id] = inst
        if run:
            inst.task = asyncio.create_task(self._run(inst), name=f"paper-{inst.id}")

    async def pause(self, instance_id: str) -> PaperInstance:
        """Stop reading the feed; orders and positions stay as they are. Ticks during the pause are skipped."""
        inst = self.get(instance_id)
        if inst.status != "running":
            raise Conflict(f"instance {instance_id} is {inst.status}", field="instance_id")
        inst.status = "paused"
        await self._halt(inst)
        inst.building.clear()
        inst.ticks.clear()
        await self._persist(inst)
        await self._event(inst, "paused")
        return inst

    async def unpause(self, instance_id: str) -> PaperInstance:
        inst = self.get(instance_id)
        if inst.status != "paused":
            raise Conflict(f"instance {instance_id} is {inst.status}, not paused", field="instance_id")
        bus = self.ctx.bus  # type: ignore[union-attr]
        for stream in (MD_QUOTES, MD_TRADES):  # skip what was published during the pause
            try:
                await bus.redis.xgroup_setid(bus.key(stream), f"strategy-paper-{inst.id}", "$")
            except Exception:  # noqa: BLE001 - no group yet: the feed creates it at the stream's end
                pass
        inst.status = "running"
        await self._persist(inst)
        inst.task = asyncio.create_task(self._run(inst, started=True), name=f"paper-{inst.id}")
        await self._event(inst, "resumed")
        return inst

    async def resume(self, ctx: OpContext) -> int:
        """Start again every instance stored as running (after an engine restart)."""
        if ctx.db is None or ctx.bus is None:
            return 0
        self.bind(ctx)
        rows = await ctx.db.fetch("SELECT * FROM strategy_instances WHERE status IN ('running', 'paused') "
                                  "ORDER BY created_at")
        for r in rows:
            spec = PaperSpec(**orjson.loads(r["spec"]))
            inst = PaperInstance(r["id"], r["strategy"], r["version"], orjson.loads(r["params"]), spec,
                                 state=orjson.loads(r["state"]), peak=r["peak_equity"], bar_count=r["bars"],
                                 status=r["status"])
            try:
                cls = (await self.load(ctx.db, inst.strategy, inst.version)).cls
            except (InvalidInput, NotFound) as e:
                await self._finish(inst, "failed", f"cannot resume: {e.detail}")
                continue
            self._launch(inst, cls, run=inst.status == "running")
        return len(rows)

    async def stop(self, instance_id: str, status: str = "stopped", error: str | None = None,
                   cancel_orders: bool = True, flatten: bool = False) -> PaperInstance:
        inst = self.get(instance_id)
        if inst.status not in ("running", "paused"):
            raise Conflict(f"instance {instance_id} is {inst.status}", field="instance_id")
        await self._halt(inst)
        if cancel_orders:
            await self._refresh(inst)
            for o in [o for o in inst.orders.values() if o["status"] in OPEN_STATUSES]:
                await self.client.call("POST", f"/orders/{o['id']}/cancel")  # type: ignore[union-attr]
        if flatten:
            await self._refresh(inst)
            for sym, p in inst.positions.items():
                if abs(p["qty"]) > 1e-12:
                    await self._send(inst, "submit", {
                        "account_id": inst.spec.account_id, "symbol": sym, "side": "sell" if p["qty"] > 0 else "buy",
                        "type": "market", "qty": abs(p["qty"]), "client_order_id": f"{inst.id}-flat-{sym}"[:64],
                        "strategy": inst.strategy_id})
        if inst.strategy_obj is not None and status == "stopped":
            try:
                inst.strategy_obj.on_stop()
            except Exception as e:  # noqa: BLE001 - a user's callback: recorded, the stop goes on
                error = f"on_stop raised {type(e).__name__}: {e}"
        await self._finish(inst, status, error)
        return inst

    async def shutdown(self) -> None:
        """The engine stops: halt the tasks, leave the rows 'running' so the next start resumes them."""
        for inst in self.instances.values():
            await self._halt(inst)
        if self.client is not None:
            await self.client.close()
            self.client = None

    def get(self, instance_id: str) -> PaperInstance:
        inst = self.instances.get(instance_id)
        if inst is None:
            raise NotFound(f"no paper instance {instance_id!r} in this engine", field="instance_id")
        return inst

    async def _halt(self, inst: PaperInstance) -> None:
        if inst.feed is not None:
            await inst.feed.stop()
        if inst.task is not None and inst.task is not asyncio.current_task():
            inst.task.cancel()
            await asyncio.gather(inst.task, return_exceptions=True)
        inst.task = None

    async def _finish(self, inst: PaperInstance, status: str, error: str | None) -> None:
        inst.status, inst.error = status, error
        await self._persist(inst)
        await self._event(inst, status)

    async def _persist(self, inst: PaperInstance) -> None:
        await self.ctx.db.execute(  # type: ignore[union-attr]
            "UPDATE strategy_instances SET status = $2, state = $3::jsonb, error = $4, peak_equity = $5, bars = $6, "
            "updated_at = now() WHERE id = $1", inst.id, inst.status, orjson.dumps(inst.state).decode(), inst.error,
            inst.peak, inst.bar_count)

    async def _event(self, inst: PaperInstance, what: str, **extra: Any) -> None:
        payload = {"instance_id": inst.id, "strategy": inst.strategy, "version": inst.version, "event": what,
                   "error": inst.error, "equity": inst.equity(), **extra}
        await self.ctx.bus.append(EVENTS_STRATEGY, f"events.strategy.{inst.strategy}", what, payload)  # type: ignore[union-attr]

    # ---- the loop ------------------------------------------------------------------
    async def _run(self, inst: PaperInstance, started: bool = False) -> None:
        feed = MarketFeed(self.ctx.bus, f"strategy-paper-{inst.id}", "c",  # type: ignore[union-attr]
                          lambda q: self._on_tick(inst, q, "quote"), lambda t: self._on_tick(inst, t, "trade"))
        inst.feed = feed
        try:
            if not started:
                await self._callback(inst, inst.strategy_obj.on_start)  # type: ignore[union-attr]
                await self._flush(inst)
            feed.start()
            while inst.status == "running":
                await asyncio.sleep(min(0.05, inst.spec.bar_seconds / 4))
                await self._drain(inst)
                await self._close_due(inst, time.time_ns())
        except asyncio.CancelledError:
            raise
        except _Stopped:
            pass
        except Exception as e:  # noqa: BLE001 - one instance's failure stays its own
            log.exception("paper instance %s failed", inst.id)
            if inst.status == "running":
                await self._fail(inst, f"{type(e).__name__}: {e}")

    async def _on_tick(self, inst: PaperInstance, tick: dict[str, Any], kind: str) -> None:
        """The feed's handler: queue the tick for the instance's own task (callbacks never run on the feed's)."""
        if inst.status == "running" and tick.get("symbol") in inst.bars:
            if not ("symbol" in tick and (("bid" in tick and "ask" in tick) if kind == "quote" else "price" in tick)):
                raise ValueError(f"a {kind} without its prices")
            inst.ticks.append((kind, tick))

    async def _drain(self, inst: PaperInstance) -> None:
        while inst.ticks and inst.status == "running":
            kind, tick = inst.ticks.popleft()
            await self._apply_tick(inst, tick, kind)

    async def _apply_tick(self, inst: PaperInstance, tick: dict[str, Any], kind: str) -> None:
        sym = tick["symbol"]
        px = (tick["bid"] + tick["ask"]) / 2 if kind == "quote" else tick["price"]
        size = float(tick.get("size") or 0.0) if kind == "trade" else 0.0
        now = time.time_ns()
        ts = int(tick.get("ts_ns") or now)
        inst.feed_clock_offset_ns = ts - now
        bucket = ts // int(inst.spec.bar_seconds * 1e9)
        b = inst.building.get(sym)
        if b is not None and b["bucket"] != bucket:
            await self._close_bar(inst, sym)
            b = None
        if b is None:
            inst.building[sym] = {"bucket": bucket, "open": px, "high": px, "low": px, "close": px, "volume": size}
        else:
            b["high"], b["low"], b["close"] = max(b["high"], px), min(b["low"], px), px
            b["volume"] += size
        cls = type(inst.strategy_obj)
        if kind == "quote" and cls.on_quote is not Strategy.on_quote:
            await self._callback(inst, inst.strategy_obj.on_quote, tick)  # type: ignore[union-attr]
        elif kind == "trade" and cls.on_trade is not Strategy.on_trade:
            await self._callback(inst, inst.strategy_obj.on_trade, tick)  # type: ignore[union-attr]

    async def _close_due(self, inst: PaperInstance, now_ns: int) -> None:
        """Close the bars whose end the feed's clock has passed (``now_ns`` is the wall clock)."""
        now_ns += inst.feed_clock_offset_ns
        step = int(inst.spec.bar_seconds * 1e9)
        for sym, b in list(inst.building.items()):
            if (b["bucket"] + 1) * step <= now_ns:
                await self._close_bar(inst, sym)

    async def _close_bar(self, inst: PaperInstance, sym: str) -> None:
        b = inst.building.pop(sym)
        step = int(inst.spec.bar_seconds * 1e9)
        bars = inst.bars[sym]
        bar = Bar(sym, b["bucket"] * step, b["open"], b["high"], b["low"], b["close"], b["volume"], len(bars))
        bars.append(bar)
        del bars[:-HISTORY_BARS]
        await self._refresh(inst)
        for ind in [i for i in inst.indicators.values() if i.symbol == sym]:
            ind.values = ind.stream.update({f: getattr(bar, f) for f in FIELDS})
        await self._callback(inst, inst.strategy_obj.on_bar, bar)  # type: ignore[union-attr]
        await self._flush(inst)
        inst.bar_count += 1
        self._count_round_trip(inst)
        eq = inst.equity()
        inst.peak = eq if inst.peak is None else max(inst.peak, eq)
        await self._persist(inst)
        await self._check_rule(inst)

    async def _callback(self, inst: PaperInstance, fn: Any, *args: Any) -> None:
        """Run a strategy callback under the watchdog; an exception or a timeout stops this instance alone."""
        try:
            await asyncio.wait_for(asyncio.to_thread(fn, *args), self.cfg.callback_timeout_s)
        except TimeoutError:
            await self._fail(inst, f"watchdog: {getattr(fn, '__name__', 'callback')} ran longer than "
                                   f"{self.cfg.callback_timeout_s}s")
            raise _Stopped from None
        except Exception as e:  # noqa: BLE001 - the user's code
            await self._fail(inst, f"{getattr(fn, '__name__', 'callback')} raised {type(e).__name__}: {e}")
            raise _Stopped from e

    async def _fail(self, inst: PaperInstance, error: str) -> None:
        if inst.status != "running":
            return
        inst.status = "failed"
        if inst.feed is not None:
            await inst.feed.stop()
        await self._finish(inst, "failed", error)

    # ---- the trading core ----------------------------------------------------------
    async def _refresh(self, inst: PaperInstance) -> None:
        """Positions and orders of this instance's strategy id; status changes and fills become callbacks."""
        c = self.client
        st, pos = await c.call("GET", "/positions", params={"account_id": inst.spec.account_id,  # type: ignore[union-attr]
                                                             "strategy": inst.strategy_id})
        if st == 200:
            inst.positions = {p["symbol"]: p for p in pos["items"]}
        st, orders = await c.call("GET", "/orders", params={"account_id": inst.spec.account_id,  # type: ignore[union-attr]
                                                             "strategy": inst.strategy_id, "limit": 200})
        if st != 200:
            return
        for o in reversed(orders["items"]):
            before = inst.orders.get(o["client_order_id"])
            inst.orders[o["client_order_id"]] = o
            if before is not None and before["status"] == o["status"] and before["filled_qty"] == o["filled_qty"]:
                continue
            if inst.strategy_obj is None:
                continue
            await self._callback(inst, inst.strategy_obj.on_order_event, inst.event(o))
            filled_before = before["filled_qty"] if before else 0.0
            if o["filled_qty"] > filled_before + 1e-12:
                q = o["filled_qty"] - filled_before
                notional = o["avg_fill_price"] * o["filled_qty"] - (before["avg_fill_price"] or 0.0) * filled_before \
                    if before else o["avg_fill_price"] * o["filled_qty"]
                await self._callback(inst, inst.strategy_obj.on_fill, FillEvent(
                    o["client_order_id"], o["symbol"], o["side"], notional / q, q, o["fees"], o["updated_ns"]))

    async def _flush(self, inst: PaperInstance) -> None:
        actions, inst.actions = inst.actions, []
        for verb, body in actions:
            await self._send(inst, verb, body)
        if actions:
            await self._refresh(inst)

    async def _send(self, inst: PaperInstance, verb: str, body: dict[str, Any]) -> None:
        c = self.client
        if verb == "submit":
            st, out = await c.call("POST", "/orders", json={k: v for k, v in body.items() if v is not None})  # type: ignore[union-attr]
        else:
            o = inst.orders.get(body["client_order_id"])
            if o is None:
                inst.ctx.log.warning("%s of unknown order %s", verb, body["client_order_id"])  # type: ignore[union-attr]
                return
            if verb == "cancel":
                st, out = await c.call("POST", f"/orders/{o['id']}/cancel")  # type: ignore[union-attr]
            else:
                st, out = await c.call("PATCH", f"/orders/{o['id']}", json=body["body"])  # type: ignore[union-attr]
        if st >= 300:
            inst.errors += 1
            detail = out.get("detail") if isinstance(out, dict) else out
            inst.ctx.log.warning("%s refused (%s): %s", verb, st, detail)  # type: ignore[union-attr]

    @staticmethod
    def _count_round_trip(inst: PaperInstance) -> None:
        """A round trip of the whole book ends when its last position closes; its P&L is the realised P&L net
        of fees since the book was last flat (entry fees included). Losing ones in a row are counted in
        ``state["consecutive_losses"]``."""
        flat = all(abs(p["qty"]) <= 1e-12 for p in inst.positions.values())
        net = sum(p["realised_pnl"] - p["fees"] for p in inst.positions.values())
        st = inst.state
        if not flat:
            st["_in_trade"] = True
            return
        if st.pop("_in_trade", False):
            pnl = net - st.get("_flat_net", 0.0)
            st["consecutive_losses"] = st.get("consecutive_losses", 0) + 1 if pnl < 0 else 0
        st["_flat_net"] = net

    async def _check_rule(self, inst: PaperInstance) -> None:
        spec = inst.spec
        dd = inst.equity() / inst.peak - 1.0 if inst.peak else 0.0
        why = None
        if spec.max_drawdown_pct is not None and dd < -spec.max_drawdown_pct / 100:
            why = f"drawdown {dd:.2%} beyond the limit of {spec.max_drawdown_pct}%"
        elif spec.max_errors is not None and inst.errors >= spec.max_errors:
            why = f"{inst.errors} orders refused by the trading core (limit {spec.max_errors})"
        elif spec.max_consecutive_losses is not None and \
                inst.state.get("consecutive_losses", 0) >= spec.max_consecutive_losses:
            n = inst.state["consecutive_losses"]
            why = f"{n} losing round trips in a row (limit {spec.max_consecutive_losses})"
        if why is None:
            return
        evidence = {"reason": why, "equity": inst.equity(), "peak_equity": inst.peak, "bars": inst.bar_count,
                    "positions": list(inst.positions.values())}
        await self.stop(inst.id, "rolled_back", why, cancel_orders=True, flatten=spec.flatten_on_rollback)
        db = self.ctx.db  # type: ignore[union-attr]
        prev = await db.fetchrow(
            "SELECT version, evidence FROM strategy_promotions WHERE strategy = $1 AND version <> $2 AND stage = $3 "
            "AND outcome = 'passed' ORDER BY id DESC LIMIT 1", inst.strategy, inst.version, spec.stage)
        evidence["previous_version"] = prev["version"] if prev else None
        await db.execute(
            "INSERT INTO strategy_promotions (strategy, version, stage, outcome, evidence, instance_id) "
            "VALUES ($1,$2,$3,'rolled_back',$4::jsonb,$5)", inst.strategy, inst.version, spec.stage,
            orjson.dumps(evidence).decode(), inst.id)
        if prev is not None:
            await self._revert(inst, prev["version"], orjson.loads(prev["evidence"]).get("params") or {}, why)
        raise _Stopped

    async def _revert(self, inst: PaperInstance, version: str, params: dict[str, Any], why: str) -> None:
        """Start the previous version that passed this stage, on the same account, feed and rule."""
        try:
            new = await self.start(self.ctx, inst.strategy, version, params, inst.spec)  # type: ignore[arg-type]
        except Exception as e:  # noqa: BLE001 - the rollback stands; the failed revert is recorded
            outcome, evidence, new_id = "failed", {"reverted_from": inst.version, "error": str(e)}, None
        else:
            outcome, evidence, new_id = "passed", {"reverted_from": inst.version, "reason": why, "params": params,
                                                   "instance_id": new.id}, new.id
        await self.ctx.db.execute(  # type: ignore[union-attr]
            "INSERT INTO strategy_promotions (strategy, version, stage, outcome, evidence, instance_id) "
            "VALUES ($1,$2,$3,$4,$5::jsonb,$6)", inst.strategy, version, inst.spec.stage, outcome,
            orjson.dumps(evidence).decode(), new_id)
        await self._event(inst, "reverted", to_version=version, instance=new_id)


class _Stopped(Exception):
    """Ends an instance's loop after it was stopped from inside (failure, watchdog, rollback)."""


MANAGER = PaperManager()
