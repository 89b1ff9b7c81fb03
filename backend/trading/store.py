"""PostgreSQL persistence of the trading core.

``Batch.from_effects`` snapshots an engine call's effects into rows *synchronously* (before the
next engine call can mutate the objects); ``Writer`` commits batches in arrival order, several
per transaction (group commit), each batch's orders, fills, positions, cash and outbox events
atomically. A caller awaits ``Writer.commit`` before it acknowledges anything. Transient
database failures are retried with back-off for ``retry_s``.

When a batch finally fails, memory is ahead of the database: that batch, and every batch queued
after it (each was built on the memory the failed one changed), fail with ``TradingRecovering``; the
writer then refuses every new batch until ``resume()``, and calls ``on_halt`` so the service can
rebuild its memory from the database (the restart path) before it resumes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential
from uuid6 import uuid7

from backend.bus.streams import EVENTS_TRADING
from backend.core import metrics
from backend.core.errors import TradingRecovering
from backend.trading.domain import Denial, Fill, Instrument, Order, OrderType, Side, TimeInForce
from backend.trading.engine import Account, Effects
from backend.trading.positions import Position
from backend.trading.pre_trade import LimitSet
from backend.trading.router import decision_record
from backend.trading.state import OrderStatus

log = logging.getLogger(__name__)

OPEN_STATUSES = ("submitted", "accepted", "triggered", "partially_filled")
TRANSIENT = (OSError, asyncio.TimeoutError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
             asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError)

ORDER_COLS = ("id", "account_id", "strategy", "client_order_id", "symbol", "side", "type", "tif", "qty",
              "limit_price", "stop_price", "venue", "status", "filled_qty", "avg_fill_price", "fees",
              "resting_venue", "expire_ns", "algo_id", "denial", "reason", "fill_count", "version", "created_ns",
              "updated_ns")
_MUTABLE = ("qty", "limit_price", "stop_price", "status", "filled_qty", "avg_fill_price", "fees", "resting_venue",
            "reason", "fill_count", "version", "updated_ns")
UPSERT_ORDER = (
    f"INSERT INTO trading_orders ({', '.join(ORDER_COLS)}) VALUES "
    f"({', '.join(f'${i + 1}' + ('::jsonb' if c == 'denial' else '') for i, c in enumerate(ORDER_COLS))}) "
    f"ON CONFLICT (id) DO UPDATE SET {', '.join(f'{c} = EXCLUDED.{c}' for c in _MUTABLE)} "
    "WHERE trading_orders.version <= EXCLUDED.version"
)
INSERT_FILL = (
    "INSERT INTO trading_fills (id, order_id, account_id, strategy, symbol, side, venue, price, qty, fee, liquidity,"
    " ts_ns, venue_ts_ns) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13) ON CONFLICT (id) DO NOTHING"
)
UPSERT_POSITION = (
    "INSERT INTO trading_positions (account_id, strategy, symbol, qty, avg_cost, realised_pnl, fees, fill_count,"
    " updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8, now()) ON CONFLICT (account_id, strategy, symbol) DO UPDATE SET"
    " qty = EXCLUDED.qty, avg_cost = EXCLUDED.avg_cost, realised_pnl = EXCLUDED.realised_pnl, fees = EXCLUDED.fees,"
    " fill_count = EXCLUDED.fill_count, updated_at = now()"
)
UPDATE_CASH = "UPDATE trading_accounts SET cash = $2, updated_at = now() WHERE id = $1"
INSERT_DECISION = ("INSERT INTO trading_router_decisions (order_id, account_id, symbol, side, decision, ts_ns)"
                   " VALUES ($1,$2,$3,$4,$5::jsonb,$6)")
INSERT_OUTBOX = ("INSERT INTO trading_outbox (event_id, stream, topic, type, payload) "
                 "VALUES ($1,$2,$3,$4,$5::jsonb)")


def dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


def order_dict(o: Order, status: OrderStatus | None = None) -> dict[str, Any]:
    return {
        "id": o.id, "account_id": o.account_id, "strategy": o.strategy, "client_order_id": o.client_order_id,
        "symbol": o.symbol, "side": o.side.value, "type": o.type.value, "tif": o.tif.value, "qty": o.qty,
        "limit_price": o.limit_price, "stop_price": o.stop_price, "venue": o.venue,
        "status": (status or o.status).value, "filled_qty": o.filled_qty, "leaves_qty": o.leaves_qty,
        "avg_fill_price": o.avg_fill_price if o.filled_qty else None, "fees": o.fees,
        "resting_venue": o.resting_venue, "expire_ns": o.expire_ns, "algo_id": o.algo_id,
        "denial": o.denial.as_dict() if o.denial else None, "reason": o.reason, "version": o.version,
        "created_ns": o.created_ns, "updated_ns": o.updated_ns,
    }


def _order_row(o: Order) -> tuple:
    return (o.id, o.account_id, o.strategy, o.client_order_id, o.symbol, o.side.value, o.type.value, o.tif.value,
            o.qty, o.limit_price, o.stop_price, o.venue, o.status.value, o.filled_qty, o.avg_fill_price, o.fees,
            o.resting_venue, o.expire_ns, o.algo_id, dumps(o.denial.as_dict()) if o.denial else None, o.reason,
            o.fill_count, o.version, o.created_ns, o.updated_ns)


def _position_row(p: Position) -> tuple:
    return (p.account_id, p.strategy, p.symbol, p.qty, p.avg_cost, p.realised_pnl, p.fees, p.fill_count)


@dataclass(slots=True)
class Batch:
    """Rows to commit atomically. Build with ``from_effects`` right after the engine call."""

    orders: dict[str, tuple] = field(default_factory=dict)
    fills: list[tuple] = field(default_factory=list)
    positions: dict[tuple, tuple] = field(default_factory=dict)
    cash: dict[str, tuple] = field(default_factory=dict)
    decisions: list[tuple] = field(default_factory=list)
    outbox: list[tuple] = field(default_factory=list)
    statements: list[tuple[str, tuple]] = field(default_factory=list)  # extra (sql, args), run first

    @classmethod
    def from_effects(cls, eff: Effects) -> Batch:
        b = cls()
        b.add(eff)
        return b

    def add(self, eff: Effects) -> None:
        for o, status in eff.transitions:
            self.orders[o.id] = _order_row(o)
            self.event(f"events.order.{o.strategy}", f"order.{status.value}", order_dict(o, status))
        for f in eff.fills:
            self.fills.append((f.id, f.order_id, f.account_id, f.strategy, f.symbol, f.side.value, f.venue, f.price,
                               f.qty, f.fee, f.liquidity.value, f.ts_ns, f.venue_ts_ns))
            self.event(f"events.fill.{f.account_id}", "fill", f.as_dict())
        seen: set[tuple] = set()
        for p in eff.positions:
            key = (p.account_id, p.strategy, p.symbol)
            self.positions[key] = _position_row(p)
            if key not in seen:
                seen.add(key)
                self.event(f"events.position.{p.account_id}", "position", p.as_dict())
        for a in eff.accounts:
            self.cash[a.id] = (a.id, a.cash)
        for o, decision, fills, ts_ns in eff.decisions:
            d = decision_record(o, decision, fills, ts_ns)
            self.decisions.append((d["order_id"], d["account_id"], d["symbol"], d["side"], dumps(d), ts_ns))

    def event(self, topic: str, type_: str, payload: dict[str, Any]) -> None:
        # UUIDv7: unique across database resets (a new database restarts sequences; the stream keeps old
        # events) and ordered by creation time
        self.outbox.append((uuid7(), EVENTS_TRADING, topic, type_, dumps(payload)))

    def merge(self, other: Batch) -> None:
        self.statements += other.statements
        self.orders.update(other.orders)
        self.fills += other.fills
        self.positions.update(other.positions)
        self.cash.update(other.cash)
        self.decisions += other.decisions
        self.outbox += other.outbox

    async def write(self, conn: asyncpg.Connection) -> None:
        for sql, args in self.statements:
            await conn.execute(sql, *args)
        if self.orders:
            await conn.executemany(UPSERT_ORDER, list(self.orders.values()))
        if self.fills:
            await conn.executemany(INSERT_FILL, self.fills)
        if self.positions:
            await conn.executemany(UPSERT_POSITION, list(self.positions.values()))
        if self.cash:
            await conn.executemany(UPDATE_CASH, list(self.cash.values()))
        if self.decisions:
            await conn.executemany(INSERT_DECISION, self.decisions)
        if self.outbox:
            await conn.executemany(INSERT_OUTBOX, self.outbox)


#: A queued barrier: settled once every batch queued before it is settled.
_BARRIER = None


class Writer:
    """Single ordered writer with group commit and halt-on-failure (see module docstring)."""

    def __init__(self, pool: asyncpg.Pool, *, max_batches: int = 256, retry_s: float = 10.0,
                 on_halt: Callable[[str], None] | None = None) -> None:
        self.pool = pool
        self.max_batches = max_batches
        self.retry_s = retry_s
        self.on_halt = on_halt
        self.queue: asyncio.Queue[tuple[Batch | None, asyncio.Future]] = asyncio.Queue()
        self.committed = asyncio.Event()  # set after every commit (wakes the outbox relay)
        #: why the last failure halted the writer; None while writes succeed
        self.failed: str | None = None
        self.halted = False
        self.commits = 0
        self.halts = 0
        self._busy = False
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="trading-writer")

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Drain what is queued (bounded), then stop."""
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self._drain(), timeout_s)
        except TimeoutError:
            log.warning("trading writer stopped with %d batches queued", self.queue.qsize())
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None

    async def _drain(self) -> None:
        while not self.queue.empty():
            await asyncio.sleep(0.01)
        await asyncio.sleep(0)

    async def commit(self, batch: Batch) -> None:
        """Enqueue now (order is fixed at this call) and wait until it is durable.
        Raises TradingRecovering if it (or a batch before it) could not be made durable."""
        if self.halted:
            raise TradingRecovering(f"order intake halted while state is rebuilt from the database: {self.failed}")
        fut = asyncio.get_running_loop().create_future()
        self.queue.put_nowait((batch, fut))
        await fut

    async def barrier(self) -> None:
        """Wait until everything queued before this call is durable (no transaction of its own)."""
        if self.halted:
            raise TradingRecovering(f"trading state is being rebuilt from the database: {self.failed}")
        fut = asyncio.get_running_loop().create_future()
        self.queue.put_nowait((_BARRIER, fut))
        await fut

    def resume(self) -> None:
        """Accept batches again (the caller has rebuilt memory from the database)."""
        self.halted = False
        self.failed = None

    async def idle(self) -> None:
        """Wait until nothing is queued or being written (while halted, the queue only drains)."""
        while self._busy or not self.queue.empty():
            await asyncio.sleep(0.005)

    async def _run(self) -> None:
        while True:
            items = [await self.queue.get()]
            self._busy = True
            try:
                await self._process(items)
            finally:
                self._busy = False

    async def _process(self, items: list[tuple[Batch | None, asyncio.Future]]) -> None:
        while len(items) < self.max_batches and not self.queue.empty():
            items.append(self.queue.get_nowait())
        if self.halted:
            self._reject(items)
            return
        try:
            await self._write_group(items)
        except Exception as e:  # noqa: BLE001 - find the batch that fails; those before it are fine
            if len(items) > 1 and not isinstance(e, TRANSIENT):
                for k, item in enumerate(items):
                    try:
                        await self._write_group([item])
                    except Exception as e1:  # noqa: BLE001
                        self._halt(items[k:], e1)
                        break
            else:
                self._halt(items, e)

    async def _write_group(self, items: list[tuple[Batch | None, asyncio.Future]]) -> None:
        batches = [b for b, _ in items if b is not None]
        if batches:
            t0 = time.perf_counter()
            merged = Batch()
            for b in batches:
                merged.merge(b)
            async for attempt in AsyncRetrying(stop=stop_after_delay(self.retry_s), reraise=True,
                                               wait=wait_exponential(multiplier=0.05, max=1.0),
                                               retry=retry_if_exception_type(TRANSIENT)):
                with attempt:
                    async with self.pool.acquire() as conn, conn.transaction():
                        await merged.write(conn)
            self.commits += 1
            metrics.TRADING_COMMIT_SECONDS.observe(time.perf_counter() - t0)
            metrics.TRADING_COMMIT_BATCHES.observe(len(batches))
        for _, fut in items:
            if not fut.done():
                fut.set_result(None)
        if batches:
            self.committed.set()

    def _halt(self, items: list[tuple[Batch | None, asyncio.Future]], e: BaseException) -> None:
        self.failed = f"{type(e).__name__}: {e}"
        self.halted = True
        self.halts += 1
        log.error("trading writer halted: %d batches not durable: %s", len(items), self.failed)
        self._reject(items)
        # everything queued behind the failed batch was built on the memory it changed
        while not self.queue.empty():
            self._reject([self.queue.get_nowait()])
        if self.on_halt is not None:
            self.on_halt(self.failed)

    def _reject(self, items: list[tuple[Batch | None, asyncio.Future]]) -> None:
        err = TradingRecovering(f"not stored: order intake halted while state is rebuilt from the database "
                            f"({self.failed})")
        for _, fut in items:
            if not fut.done():
                fut.set_exception(err)
                fut.exception()  # retrieved here too: a caller that went away must not log a warning


# ---- reading back ------------------------------------------------------------
def order_from_row(r: asyncpg.Record) -> Order:
    den = orjson.loads(r["denial"]) if r["denial"] else None
    return Order(
        r["id"], r["account_id"], r["strategy"], r["client_order_id"], r["symbol"], Side(r["side"]),
        OrderType(r["type"]), TimeInForce(r["tif"]), r["qty"], r["limit_price"], r["stop_price"], r["venue"],
        OrderStatus(r["status"]), r["created_ns"], r["updated_ns"], filled_qty=r["filled_qty"],
        avg_fill_price=r["avg_fill_price"], fees=r["fees"], resting_venue=r["resting_venue"],
        expire_ns=r["expire_ns"], algo_id=r["algo_id"], denial=Denial(**den) if den else None, reason=r["reason"],
        fill_count=r["fill_count"], version=r["version"],
    )


async def load_instruments(conn: asyncpg.Connection, symbol: str | None = None) -> list[Instrument]:
    rows = await conn.fetch("SELECT symbol, tick_size, lot_size, tradable FROM instruments"
                            + (" WHERE symbol = $1" if symbol else ""), *([symbol] if symbol else []))
    return [Instrument(r["symbol"], float(r["tick_size"]), float(r["lot_size"]), r["tradable"]) for r in rows]


async def load_open_orders(conn: asyncpg.Connection) -> list[Order]:
    rows = await conn.fetch("SELECT * FROM trading_orders WHERE status = ANY($1::text[]) ORDER BY created_ns, id",
                            list(OPEN_STATUSES))
    return [order_from_row(r) for r in rows]


async def load_positions(conn: asyncpg.Connection) -> list[Position]:
    rows = await conn.fetch("SELECT * FROM trading_positions")
    return [Position(r["account_id"], r["strategy"], r["symbol"], r["qty"], r["avg_cost"], r["realised_pnl"],
                     r["fees"], r["fill_count"]) for r in rows]


async def fetch_order(pool: asyncpg.Pool, order_id: str) -> Order | None:
    r = await pool.fetchrow("SELECT * FROM trading_orders WHERE id = $1", order_id)
    return order_from_row(r) if r else None


def _where(filters: dict[str, Any]) -> tuple[str, list[Any]]:
    parts, args = [], []
    for col, val in filters.items():
        if val is None:
            continue
        args.append(val)
        parts.append(f"{col} = ANY(${len(args)}::text[])" if isinstance(val, list) else f"{col} = ${len(args)}")
    return (" WHERE " + " AND ".join(parts)) if parts else "", args


async def list_orders(pool: asyncpg.Pool, filters: dict[str, Any], limit: int, offset: int) -> list[Order]:
    where, args = _where(filters)
    rows = await pool.fetch(f"SELECT * FROM trading_orders{where} ORDER BY created_ns DESC, id "
                            f"LIMIT {int(limit)} OFFSET {int(offset)}", *args)
    return [order_from_row(r) for r in rows]


async def list_fills(pool: asyncpg.Pool, filters: dict[str, Any], limit: int, offset: int) -> list[dict[str, Any]]:
    where, args = _where(filters)
    rows = await pool.fetch(f"SELECT * FROM trading_fills{where} ORDER BY seq DESC LIMIT {int(limit)} "
                            f"OFFSET {int(offset)}", *args)
    return [dict(r) for r in rows]


async def list_decisions(pool: asyncpg.Pool, filters: dict[str, Any], limit: int) -> list[dict[str, Any]]:
    where, args = _where(filters)
    rows = await pool.fetch(f"SELECT id, decision FROM trading_router_decisions{where} ORDER BY id DESC "
                            f"LIMIT {int(limit)}", *args)
    return [{"id": r["id"], **orjson.loads(r["decision"])} for r in rows]


async def fills_for_replay(conn: asyncpg.Connection) -> list[tuple[str, str, str, float, float, float]]:
    """(account, strategy, symbol, signed qty, price, fee) in commit order."""
    rows = await conn.fetch(
        "SELECT account_id, strategy, symbol, side, qty, price, fee FROM trading_fills ORDER BY seq")
    return [(r["account_id"], r["strategy"], r["symbol"], r["qty"] if r["side"] == "buy" else -r["qty"], r["price"],
             r["fee"]) for r in rows]


def account_from_row(r: asyncpg.Record) -> dict[str, Any]:
    return {"id": r["id"], "name": r["name"], "currency": r["currency"], "starting_cash": r["starting_cash"],
            "cash": r["cash"], "limits": orjson.loads(r["limits"]), "kill_switch": r["kill_switch"],
            "risk_limit_set_id": r["risk_limit_set_id"]}


async def load_limit_sets(conn: asyncpg.Connection | asyncpg.Pool, ids: list[int]) -> dict[int, LimitSet]:
    """The risk engine's limit sets ``ids`` (those that exist), reduced for the pre-trade checks."""
    if not ids:
        return {}
    rows = await conn.fetch(
        "SELECT s.id, s.name, s.version::text AS version, l.limit_type, l.threshold, l.scope "
        "FROM risk_limit_sets s LEFT JOIN risk_limits l ON l.set_id = s.id WHERE s.id = ANY($1::bigint[]) "
        "ORDER BY s.id, l.position, l.id", list(ids))
    grouped: dict[int, tuple[str, str, list[tuple[str, float, str | None]]]] = {}
    for r in rows:
        g = grouped.setdefault(r["id"], (r["name"], r["version"], []))
        if r["limit_type"] is not None:
            g[2].append((r["limit_type"], r["threshold"], r["scope"]))
    return {i: LimitSet.from_rows(i, name, version, lims) for i, (name, version, lims) in grouped.items()}


async def limit_set_versions(conn: asyncpg.Connection | asyncpg.Pool, ids: list[int]) -> dict[int, str]:
    rows = await conn.fetch("SELECT id, version::text AS version FROM risk_limit_sets WHERE id = ANY($1::bigint[])",
                            list(ids))
    return {r["id"]: r["version"] for r in rows}


__all__ = ["Account", "Batch", "Fill", "Writer"]
