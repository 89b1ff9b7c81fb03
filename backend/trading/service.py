"""TradingService: the trading core's lifecycle inside the gateway.

    svc = TradingService(settings); app.include_router(svc.router)
    await svc.start(db_pool, bus)   # restore accounts, positions, open orders, algos; start feed, writer, relay
    await svc.stop()                # stop algos and feed, flush writer and outbox (bounded)

Every mutation goes engine (sync, atomic on the loop) -> Batch (snapshot) -> Writer.commit
(awaited) -> response, so nothing is acknowledged before it is durable.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from backend.bus import Bus
from backend.core.errors import Conflict, Denied, InvalidInput, NotFound
from backend.core.settings import Settings
from backend.trading import algos as algo_mod
from backend.trading import store
from backend.trading.config import TradingConfig
from backend.trading.domain import SMART, Order, OrderType, Side, TimeInForce
from backend.trading.engine import Effects, TradingEngine
from backend.trading.feed import MarketFeed
from backend.trading.models import CreateAccount, CreateAlgo, SubmitOrder
from backend.trading.outbox import OutboxRelay
from backend.trading.positions import replay
from backend.trading.pre_trade import LimitSet, RiskLimits
from backend.trading.state import OrderStatus

log = logging.getLogger(__name__)

UPSERT_ALGO = (
    "INSERT INTO trading_algos (id, account_id, strategy, kind, symbol, side, qty, params, status, state, created_ns,"
    " updated_ns) VALUES ($1,$2,$3,$4,$5,$6,$7,$8::jsonb,$9,$10::jsonb,$11,$12) ON CONFLICT (id) DO UPDATE SET"
    " status = EXCLUDED.status, state = EXCLUDED.state, updated_ns = EXCLUDED.updated_ns"
)


def denied_error(o: Order) -> Denied:
    d = o.denial
    return Denied(f"{d.code}: {d.reason}", denial_code=d.code, check=d.check, values=d.values, order_id=o.id,
                  client_order_id=o.client_order_id)


class TradingService:
    def __init__(self, settings: Settings, config: TradingConfig | None = None) -> None:
        from backend.trading.api import build_router

        self.settings = settings
        self.config = config or TradingConfig()
        self.engine = TradingEngine(session_close_utc=self.config.session_close_utc)
        self.pool: asyncpg.Pool | None = None
        self.bus: Bus | None = None
        self.writer: store.Writer | None = None
        self.relay: OutboxRelay | None = None
        self.feed: MarketFeed | None = None
        self.algos: dict[str, algo_mod.AlgoRunner] = {}
        #: who may call the routes; the gateway replaces it with its own (one authenticator per process)
        from backend.service.app import make_authenticator

        self.auth = make_authenticator(settings, lambda: self.pool)
        self._tasks: list[asyncio.Task] = []
        self.started_ns = 0
        self.router = build_router(self)

    # ---- lifecycle -----------------------------------------------------------
    async def start(self, db_pool: asyncpg.Pool, bus: Bus | None) -> None:
        self.pool, self.bus = db_pool, bus
        self.started_ns = time.time_ns()
        await self._restore()
        self.writer = store.Writer(db_pool, max_batches=self.config.writer_max_batches,
                                   retry_s=self.config.writer_retry_s)
        self.writer.start()
        if bus is not None:
            self.relay = OutboxRelay(db_pool, bus, self.writer.committed, batch=self.config.relay_batch,
                                     poll_s=self.config.relay_poll_s)
            self.relay.start()
            if self.config.feed_enabled:
                self.feed = MarketFeed(bus, self.config.consumer_group, self.config.consumer_name,
                                       self._on_quote_payload, self._on_trade_payload)
                self.feed.start()
        self._tasks.append(asyncio.create_task(self._expiry_loop(), name="trading-expiry"))
        self._tasks.append(asyncio.create_task(self._limit_set_loop(), name="trading-limit-sets"))
        for runner in self.algos.values():
            runner.start()

    async def stop(self) -> None:
        t = self.config.stop_timeout_s
        for runner in self.algos.values():
            await runner.stop()
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

    async def health(self) -> dict[str, Any]:
        outbox = None
        if self.pool is not None:
            try:
                outbox = await asyncio.wait_for(self.pool.fetchval("SELECT count(*) FROM trading_outbox"), 1.0)
            except Exception:  # noqa: BLE001 - health reports
                outbox = None
        w, r, f = self.writer, self.relay, self.feed
        ok = w is not None and w.failed is None and (r is None or r.last_error is None)
        return {
            "status": "ok" if ok else "degraded",
            "accounts": len(self.engine.accounts), "open_orders": len(self.engine.orders),
            "algorithms_active": sum(1 for a in self.algos.values() if a.s.status in algo_mod.ACTIVE),
            "writer": {"commits": w.commits if w else 0, "queued": w.queue.qsize() if w else 0,
                       "failed": w.failed if w else None},
            "outbox": {"pending": outbox, "relayed": r.relayed if r else 0, "last_error": r.last_error if r else None},
            "feed": {"received": f.received if f else 0, "malformed": f.malformed if f else 0,
                     "last_error": f.last_error if f else None} if f else None,
            "kill_switch": {"global": self.engine.global_killed},
        }

    async def _restore(self) -> None:
        eng = self.engine
        assigned: dict[int, list] = {}
        async with self.pool.acquire() as conn:
            for inst in await store.load_instruments(conn):
                eng.add_instrument(inst)
            for r in await conn.fetch("SELECT * FROM trading_accounts"):
                a = store.account_from_row(r)
                acct = eng.add_account(a["id"], a["name"], a["starting_cash"], a["currency"],
                                       RiskLimits.from_dict(a["limits"]), cash=a["cash"], killed=a["kill_switch"])
                if a["risk_limit_set_id"] is not None:
                    assigned.setdefault(a["risk_limit_set_id"], []).append(acct)
            for set_id, ls in (await store.load_limit_sets(conn, list(assigned))).items():
                for acct in assigned[set_id]:
                    acct.risk.limit_set = ls
            for r in await conn.fetch("SELECT scope, reason FROM trading_kill_switch WHERE active AND scope = '*'"):
                eng.global_killed = True
                eng.kill_reasons["*"] = r["reason"]
            for p in await store.load_positions(conn):
                eng.ledger.put(p)
            for r in await conn.fetch("SELECT account_id, client_order_id, id FROM trading_orders"):
                eng.by_client[(r["account_id"], r["client_order_id"])] = r["id"]
            for o in await store.load_open_orders(conn):
                if o.account_id in eng.accounts:
                    eng.restore_order(o)
            rows = await conn.fetch("SELECT * FROM trading_algos WHERE status = ANY($1::text[]) ORDER BY created_ns",
                                    list(algo_mod.ACTIVE))
        for r in rows:
            async with self.pool.acquire() as conn:  # the children are the truth for progress
                agg = await conn.fetchrow(
                    "SELECT count(*) n, coalesce(sum(qty), 0) sent, coalesce(sum(filled_qty), 0) filled, "
                    "coalesce(sum(filled_qty * avg_fill_price), 0) notional, coalesce(sum(fees), 0) fees "
                    "FROM trading_orders WHERE algo_id = $1", r["id"])
            state = store.orjson.loads(r["state"])
            state.update(sent_qty=agg["sent"], filled_qty=agg["filled"], notional=agg["notional"], fees=agg["fees"],
                         child_count=max(state["child_count"], agg["n"]))
            st = algo_mod.AlgoState(r["id"], r["account_id"], r["strategy"], r["kind"], r["symbol"], r["side"],
                                    r["qty"], store.orjson.loads(r["params"]), r["status"],
                                    created_ns=r["created_ns"], updated_ns=r["updated_ns"],
                                    **state)
            self._make_runner(st)

    # ---- persistence ---------------------------------------------------------
    async def _commit(self, eff: Effects | None, statements: list[tuple[str, tuple]] | None = None) -> None:
        batch = store.Batch.from_effects(eff) if eff else store.Batch()
        if statements:
            batch.statements += statements
        if batch.orders or batch.fills or batch.statements or batch.decisions or batch.outbox:
            await self.writer.commit(batch)

    # ---- accounts ------------------------------------------------------------
    async def create_account(self, req: CreateAccount) -> dict[str, Any]:
        if req.id in self.engine.accounts:
            raise Conflict(f"account {req.id!r} exists", field="id")
        limits = RiskLimits.from_dict(req.limits.model_dump())
        limit_set = await self._limit_set(req.risk_limit_set_id)
        acct = self.engine.add_account(req.id, req.name, req.starting_cash, req.currency, limits)
        acct.risk.limit_set = limit_set
        try:
            await self._commit(None, [(
                "INSERT INTO trading_accounts (id, name, currency, starting_cash, cash, limits, risk_limit_set_id) "
                "VALUES ($1,$2,$3,$4,$4,$5::jsonb,$6)",
                (req.id, req.name, req.currency, req.starting_cash, store.dumps(limits.as_dict()),
                 req.risk_limit_set_id))])
        except Exception:
            self.engine.accounts.pop(req.id, None)
            raise
        return self.engine.account_view(acct)

    async def set_limits(self, account_id: str, limits: dict[str, Any]) -> dict[str, Any]:
        acct = self.engine.account(account_id)
        acct.risk.limits = RiskLimits.from_dict(limits)
        await self._commit(None, [("UPDATE trading_accounts SET limits = $2::jsonb, updated_at = now() WHERE id = $1",
                                   (account_id, store.dumps(acct.risk.limits.as_dict())))])
        return self.engine.account_view(acct)

    # ---- the risk engine's limit sets ---------------------------------------------
    async def _limit_set(self, set_id: int | None) -> LimitSet | None:
        if set_id is None:
            return None
        ls = (await store.load_limit_sets(self.pool, [set_id])).get(set_id)
        if ls is None:
            raise InvalidInput(f"no risk limit set with id {set_id}", field="risk_limit_set_id")
        return ls

    async def assign_limit_set(self, account_id: str, set_id: int | None) -> dict[str, Any]:
        """Make the account follow a risk engine limit set (None: its own limits again)."""
        acct = self.engine.account(account_id)
        ls = await self._limit_set(set_id)
        await self._commit(None, [("UPDATE trading_accounts SET risk_limit_set_id = $2, updated_at = now() "
                                   "WHERE id = $1", (account_id, set_id))])
        acct.risk.limit_set = ls
        return self.engine.account_view(acct)

    async def refresh_limit_sets(self) -> int:
        """Reload assigned sets the risk engine has edited; drop deleted ones (the account's own limits
        apply again; the foreign key has already cleared the assignment). Returns how many changed."""
        held: dict[int, list] = {}
        for acct in self.engine.accounts.values():
            if acct.risk.limit_set is not None:
                held.setdefault(acct.risk.limit_set.id, []).append(acct)
        if not held:
            return 0
        versions = await store.limit_set_versions(self.pool, list(held))
        stale = [i for i, accts in held.items() if versions.get(i) != accts[0].risk.limit_set.version]
        if not stale:
            return 0
        fresh = await store.load_limit_sets(self.pool, stale)
        for set_id in stale:
            for acct in held[set_id]:
                acct.risk.limit_set = fresh.get(set_id)
        return len(stale)

    async def _limit_set_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.limit_set_refresh_s)
            try:
                changed = await self.refresh_limit_sets()
                if changed:
                    log.info("trading: %d risk limit set(s) reloaded", changed)
            except Exception:  # noqa: BLE001 - keep the last known sets; retry on the next tick
                log.exception("risk limit set refresh failed")

    # ---- orders --------------------------------------------------------------
    async def _instrument(self, symbol: str) -> None:
        if symbol not in self.engine.instruments:
            async with self.pool.acquire() as conn:
                for inst in await store.load_instruments(conn, symbol):
                    self.engine.add_instrument(inst)

    async def _existing(self, account_id: str, cid: str) -> dict[str, Any] | None:
        oid = self.engine.find_client(account_id, cid)
        if oid is None:  # every client id ever stored is loaded at start: memory is authoritative
            return None
        if oid in self.engine.orders:
            return store.order_dict(self.engine.orders[oid])
        o = await store.fetch_order(self.pool, oid)
        if o is None:
            return None
        self.engine.by_client[(account_id, cid)] = o.id
        if o.status is OrderStatus.DENIED:
            raise denied_error(o)
        return store.order_dict(self.engine.orders.get(o.id, o))

    async def submit(self, req: SubmitOrder, algo_id: str | None = None,
                     statements: list[tuple[str, tuple]] | None = None) -> dict[str, Any]:
        """Check, execute and durably record one order; idempotent on (account, client order id)."""
        self.engine.account(req.account_id)
        if req.client_order_id:
            found = await self._existing(req.account_id, req.client_order_id)
            if found is not None:
                return found
        await self._instrument(req.symbol)
        if req.client_order_id and self.engine.find_client(req.account_id, req.client_order_id):
            found = await self._existing(req.account_id, req.client_order_id)  # raced with a twin request
            if found is not None:
                return found
        o, eff = self.engine.submit(
            account_id=req.account_id, symbol=req.symbol, side=req.side, type=req.type, qty=req.qty, tif=req.tif,
            limit_price=req.limit_price, stop_price=req.stop_price, client_order_id=req.client_order_id,
            strategy=req.strategy, venue=req.venue, algo_id=algo_id)
        view = store.order_dict(o)
        await self._commit(eff, statements)
        if o.status is OrderStatus.DENIED:
            raise denied_error(o)
        return view

    async def cancel(self, order_id: str) -> dict[str, Any]:
        if order_id not in self.engine.orders:
            await self._not_open(order_id)
        o, eff = self.engine.cancel(order_id)
        view = store.order_dict(o)
        await self._commit(eff)
        return view

    async def amend(self, order_id: str, qty: float | None, limit_price: float | None,
                    stop_price: float | None) -> dict[str, Any]:
        if order_id not in self.engine.orders:
            await self._not_open(order_id)
        o, eff = self.engine.amend(order_id, qty=qty, limit_price=limit_price, stop_price=stop_price)
        view = store.order_dict(o)
        await self._commit(eff)
        return view

    async def _not_open(self, order_id: str) -> None:
        o = await store.fetch_order(self.pool, order_id)
        if o is None:
            raise NotFound(f"no order {order_id!r}", field="order_id")
        raise Conflict(f"order {order_id!r} is {o.status.value}", field="order_id", status_now=o.status.value)

    async def get_order(self, order_id: str) -> dict[str, Any]:
        o = self.engine.orders.get(order_id) or await store.fetch_order(self.pool, order_id)
        if o is None:
            raise NotFound(f"no order {order_id!r}", field="order_id")
        return store.order_dict(o)

    # ---- market data ---------------------------------------------------------
    async def _on_quote_payload(self, p: dict[str, Any]) -> None:
        sym = str(p["symbol"])
        await self._instrument(sym)
        eff = self.engine.on_quote(sym, float(p["bid"]), float(p["ask"]), float(p["bid_size"]),
                                   float(p["ask_size"]), int(p.get("ts_ns") or 0))
        await self._commit(eff)

    async def _on_trade_payload(self, p: dict[str, Any]) -> None:
        sym = str(p["symbol"])
        await self._instrument(sym)
        eff = self.engine.on_trade(sym, float(p["price"]), float(p["size"]), int(p.get("ts_ns") or 0))
        await self._commit(eff)

    async def _expiry_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.expiry_interval_s)
            try:
                eff = self.engine.expire_due()
                if eff:
                    await self._commit(eff)
            except Exception:  # noqa: BLE001 - keep expiring; the writer reports its own failure
                log.exception("expiry sweep failed")

    # ---- kill switch ---------------------------------------------------------
    async def set_kill(self, active: bool, account_id: str | None, reason: str) -> dict[str, Any]:
        if account_id is not None:
            self.engine.account(account_id)
        eff = self.engine.set_kill(active, account_id, reason)
        stmts = [("INSERT INTO trading_kill_switch (scope, active, reason, updated_at) VALUES ($1,$2,$3,now()) "
                  "ON CONFLICT (scope) DO UPDATE SET active = EXCLUDED.active, reason = EXCLUDED.reason, "
                  "updated_at = now()", (account_id or "*", active, reason))]
        if account_id is not None:
            stmts.append(("UPDATE trading_accounts SET kill_switch = $2 WHERE id = $1", (account_id, active)))
        stopped = []
        if active:
            for runner in self.algos.values():
                s = runner.s
                if s.status in algo_mod.ACTIVE and (account_id is None or s.account_id == account_id):
                    runner.cancel()
                    s.last_error = "kill switch"
                    stmts.append(self._algo_stmt(s))
                    stopped.append(s.id)
        batch = store.Batch.from_effects(eff)
        batch.statements += stmts
        batch.event("events.risk", "kill_switch", {"scope": account_id or "global", "active": active,
                                                   "reason": reason, "orders_cancelled": len(eff.transitions)})
        await self.writer.commit(batch)
        return {"scope": account_id or "global", "active": active, "reason": reason,
                "orders_cancelled": [o.id for o, _ in eff.transitions], "algorithms_cancelled": stopped}

    def kill_state(self) -> dict[str, Any]:
        return {"global": {"active": self.engine.global_killed, "reason": self.engine.kill_reasons.get("*")},
                "accounts": {a.id: {"active": True, "reason": self.engine.kill_reasons.get(a.id)}
                             for a in self.engine.accounts.values() if a.risk.killed}}

    # ---- algorithms ----------------------------------------------------------
    def _algo_stmt(self, s: algo_mod.AlgoState) -> tuple[str, tuple]:
        s.updated_ns = time.time_ns()
        return (UPSERT_ALGO, (s.id, s.account_id, s.strategy, s.kind, s.symbol, s.side, s.qty,
                              store.dumps(s.params), s.status, store.dumps(s.state_dict()), s.created_ns,
                              s.updated_ns))

    async def _persist_algo(self, s: algo_mod.AlgoState) -> None:
        await self._commit(None, [self._algo_stmt(s)])

    async def _submit_child(self, s: algo_mod.AlgoState, cid: str, qty: float) -> tuple[float, float, float,
                                                                                          str | None]:
        lot = self.engine.instruments[s.symbol].lot_size
        qty = round(qty / lot) * lot
        limit = s.params.get("limit_price")
        req = SubmitOrder(account_id=s.account_id, symbol=s.symbol, side=Side(s.side),
                          type=OrderType.LIMIT if limit else OrderType.MARKET, qty=qty, tif=TimeInForce.IOC,
                          limit_price=limit, client_order_id=cid, strategy=s.strategy,
                          venue=s.params.get("venue", SMART))
        try:  # the parent's schedule position is written in the child's transaction
            o = await self.submit(req, algo_id=s.id, statements=[self._algo_stmt(s)])
        except Denied as e:
            await self._persist_algo(s)
            return 0.0, 0.0, 0.0, e.detail
        filled = o["filled_qty"]
        result = (filled, filled * (o["avg_fill_price"] or 0.0), o["fees"], o["reason"] if filled < qty else None)
        return result

    def _make_runner(self, st: algo_mod.AlgoState) -> algo_mod.AlgoRunner:
        lot = self.engine.instruments[st.symbol].lot_size if st.symbol in self.engine.instruments else 1.0
        runner = algo_mod.AlgoRunner(st, self._submit_child, lambda sym: self.engine.volume.get(sym, 0.0), lot,
                                     self._after_algo_step, tick_s=self.config.algo_tick_s)
        self.algos[st.id] = runner
        return runner

    async def _after_algo_step(self, s: algo_mod.AlgoState) -> None:
        await self._persist_algo(s)

    async def create_algo(self, req: CreateAlgo) -> dict[str, Any]:
        self.engine.account(req.account_id)
        await self._instrument(req.symbol)
        inst = self.engine.instruments.get(req.symbol)
        if inst is None:
            raise InvalidInput(f"no instrument {req.symbol!r}", field="symbol")
        if req.side is Side.SELL and req.qty > self.engine.ledger.net_qty(req.account_id, req.symbol) + 1e-9:
            raise InvalidInput("sell quantity exceeds the long position; use side 'short'", field="qty")
        now = time.time_ns()
        params: dict[str, Any] = {"duration_s": req.duration_s, "slices": req.slices,
                                  "participation": req.participation, "limit_price": req.limit_price,
                                  "venue": req.venue}
        st = algo_mod.AlgoState(uuid.uuid4().hex[:20], req.account_id, req.strategy, req.kind, req.symbol,
                                req.side.value, req.qty, params, started_ns=now, created_ns=now, updated_ns=now,
                                volume_start=self.engine.volume.get(req.symbol, 0.0))
        if req.kind == "twap":
            st.schedule = algo_mod.twap_schedule(req.qty, req.slices, inst.lot_size)
        elif req.kind == "vwap":
            since = datetime.now(UTC) - timedelta(days=req.lookback_days)
            rows = await self.pool.fetch("SELECT ts, volume FROM bars WHERE symbol = $1 AND timeframe = $2 "
                                         "AND ts >= $3", req.symbol, req.bars_timeframe, since)
            if not rows:
                raise InvalidInput(f"no stored {req.bars_timeframe} bars for {req.symbol} in the last "
                                   f"{req.lookback_days} days to build a volume profile", field="symbol")
            profile = algo_mod.volume_profile([(r["ts"], r["volume"]) for r in rows])
            st.schedule = algo_mod.vwap_schedule(req.qty, profile, now, req.duration_s, req.slices, inst.lot_size)
            params["bars_used"] = len(rows)
        if not is_lot(req.qty, inst.lot_size):
            raise InvalidInput(f"quantity {req.qty} is not a multiple of lot {inst.lot_size}", field="qty")
        await self._persist_algo(st)
        runner = self._make_runner(st)
        runner.start()
        return st.view(time.time_ns())

    def algo(self, algo_id: str) -> algo_mod.AlgoRunner:
        r = self.algos.get(algo_id)
        if r is None:
            raise NotFound(f"no algorithm {algo_id!r}", field="algo_id")
        return r

    async def control_algo(self, algo_id: str, action: str) -> dict[str, Any]:
        r = self.algo(algo_id)
        getattr(r, action)()
        await self._persist_algo(r.s)
        return r.s.view(time.time_ns())

    # ---- reconciliation ------------------------------------------------------
    async def reconcile(self) -> dict[str, Any]:
        """Positions and cash as stored and as held in memory, against a replay of every stored fill."""
        await self.writer.commit(store.Batch())  # everything acknowledged so far is on disk
        async with self.pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            fills = await store.fills_for_replay(conn)
            stored = {(p.account_id, p.strategy, p.symbol): p for p in await store.load_positions(conn)}
            accounts = {r["id"]: (r["starting_cash"], r["cash"]) for r in
                        await conn.fetch("SELECT id, starting_cash, cash FROM trading_accounts")}
            orders = await conn.fetchval("SELECT count(*) FROM trading_orders")
            filled_sum = await conn.fetchval("SELECT coalesce(sum(filled_qty), 0) FROM trading_orders")
        replayed, cash_delta = replay(fills)
        mismatches: list[dict[str, Any]] = []

        def close(a: float, b: float) -> bool:
            return abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b))

        for key in set(replayed) | set(stored):
            r, s = replayed.get(key), stored.get(key)
            mem = self.engine.ledger.positions.get(key)
            for name, src in (("stored", s), ("memory", mem)):
                if r is None or src is None:
                    if (r and abs(r.qty) > 1e-9) or (src and abs(src.qty) > 1e-9):
                        mismatches.append({"key": list(key), "source": name, "issue": "missing"})
                    continue
                for attr in ("qty", "avg_cost", "realised_pnl", "fees"):
                    if not close(getattr(r, attr), getattr(src, attr)):
                        mismatches.append({"key": list(key), "source": name, "field": attr,
                                           "replayed": getattr(r, attr), "actual": getattr(src, attr)})
        for acct_id, (start, cash) in accounts.items():
            expect = start + cash_delta.get(acct_id, 0.0)
            if not close(expect, cash):
                mismatches.append({"account_id": acct_id, "field": "cash", "replayed": expect, "actual": cash})
        fill_qty = sum(abs(f[3]) for f in fills)
        if not close(fill_qty, float(filled_sum)):
            mismatches.append({"field": "orders.filled_qty", "replayed": fill_qty, "actual": float(filled_sum)})
        return {"ok": not mismatches, "fills": len(fills), "orders": orders, "positions": len(replayed),
                "accounts": len(accounts), "filled_qty": fill_qty, "mismatches": mismatches[:100],
                "mismatch_count": len(mismatches)}


def is_lot(qty: float, lot: float) -> bool:
    from backend.trading.domain import is_multiple

    return is_multiple(qty, lot)
