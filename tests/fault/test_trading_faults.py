"""The trading core under real faults (issue 9's fault suite). After each, what was acknowledged is
stored, nothing is duplicated, and positions and cash equal the replay of the stored fills.

* kill -9 of the gateway while N concurrent submissions (20 client ids sent twice) are in flight,
  then a restart;
* PostgreSQL (an embedded server of the test's own) killed -9 for 10 s under order flow: intake
  answers 503 TRADING_RECOVERING, memory is rebuilt when the database is back, intake resumes.
(Redis killed under order flow: tests/integration/test_trading_durability.py, outbox test.)
Bounded by default (N = 300); NAUTILUS_SLOW=1 sends N = 1,000.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest

from backend.bus import Bus
from backend.bus.redis_bus import instance_prefix
from backend.launcher import infra
from backend.storage.db import with_database
from backend.storage.migrate import migrate_url
from tests.support.access import ADMIN_HEADERS, TEST_INSTANCE
from tests.support.procs import Proc, base_env, free_port

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]
N = 1000 if os.environ.get("NAUTILUS_SLOW") == "1" else 300
DUPLICATED = 20


def order(acct: str, sym: str, cid: str, qty: int) -> dict:
    return {"account_id": acct, "client_order_id": cid, "symbol": sym, "side": "buy" if qty % 2 else "short",
            "type": "market", "qty": qty}


async def market(gw: str, redis_url: str, db_url: str) -> tuple[str, str]:
    """An instrument with quotes on the feed and a well-funded account with wide limits."""
    sym, acct = "F" + uuid.uuid4().hex[:7].upper(), "FA" + uuid.uuid4().hex[:6]
    conn = await asyncpg.connect(db_url)
    await conn.execute("INSERT INTO instruments (symbol, tick_size, lot_size) VALUES ($1, 0.01, 1)", sym)
    await conn.close()
    async with httpx.AsyncClient(headers=ADMIN_HEADERS, timeout=30) as c:
        r = await c.post(gw + "/api/v1/trading/accounts", json={
            "id": acct, "name": "fault", "starting_cash": 1e12,
            "limits": {"duplicate_window_s": 0, "max_orders_per_window": 10_000_000, "max_open_orders": 1_000_000,
                       "max_order_qty": 1e9, "max_order_notional": 1e12, "max_position_qty": 1e12,
                       "max_gross_exposure": 1e15}})
        assert r.status_code == 201, r.text
    bus = Bus.from_url(redis_url, prefix=instance_prefix(TEST_INSTANCE))
    try:
        for _ in range(100):  # the core's feed group starts at "$": quote until it has seen one
            await bus.append("md.quotes", f"data.quotes.SIM.{sym}", "quote", {
                "symbol": sym, "bid": 100.0, "ask": 100.02, "bid_size": 1e7, "ask_size": 1e7, "ts_ns": time.time_ns()})
            async with httpx.AsyncClient(headers=ADMIN_HEADERS, timeout=5) as c:
                book = (await c.get(f"{gw}/api/v1/trading/venues/ATLAS/books/{sym}")).json()
            if book["asks"]:
                break
            await asyncio.sleep(0.05)
    finally:
        await bus.close()
    return sym, acct


async def submit_all(gw: str, bodies: list[dict], on_ack) -> dict[str, dict]:  # noqa: ANN001
    """Fire every body (64 at a time); returns client id -> acknowledged order (201 only)."""
    acked: dict[str, dict] = {}
    sem = asyncio.Semaphore(64)
    async with httpx.AsyncClient(headers=ADMIN_HEADERS, timeout=30,
                                 limits=httpx.Limits(max_connections=64)) as c:
        async def one(b: dict) -> None:
            async with sem:
                try:
                    r = await c.post(gw + "/api/v1/trading/orders", json=b)
                except httpx.HTTPError:
                    return
                if r.status_code == 201:
                    o = r.json()
                    prev = acked.setdefault(b["client_order_id"], o)
                    assert prev["id"] == o["id"], "two acknowledged orders for one client id"
                    on_ack(len(acked))

        await asyncio.gather(*(one(b) for b in bodies))
    return acked


async def verify(gw: str, db_url: str, acct: str, acked: dict[str, dict]) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        rows = {r["client_order_id"]: r for r in await conn.fetch(
            "SELECT id, client_order_id, status, filled_qty FROM trading_orders WHERE account_id = $1", acct)}
    finally:
        await conn.close()
    missing = [cid for cid in acked if cid not in rows]
    assert missing == [], f"acknowledged but not stored: {missing[:5]}"
    for cid, o in acked.items():
        assert rows[cid]["id"] == o["id"] and rows[cid]["filled_qty"] == o["filled_qty"], cid
    async with httpx.AsyncClient(headers=ADMIN_HEADERS, timeout=60) as c:
        rec = (await c.post(gw + "/api/v1/trading/reconciliation")).json()
    assert rec["ok"], rec["mismatches"][:5]


def test_gateway_killed_during_concurrent_submissions_then_acknowledged_equals_stored(tmp_path, database_url,
                                                                                      redis_url):
    port = free_port()
    env = base_env(tmp_path, DATABASE_URL=database_url, REDIS_URL=redis_url, NAUTILUS_PORT_GATEWAY=str(port),
                   NAUTILUS_RATE_LIMIT_TRADE="")
    gw = f"http://127.0.0.1:{port}"
    proc = Proc("gateway", "backend.gateway", env, port, tmp_path / "gw.log").start()
    try:
        sym, acct = asyncio.run(market(gw, redis_url, database_url))
        bodies = [order(acct, sym, f"k{i}", 1 + i % 7) for i in range(N)]
        bodies += [dict(b) for b in bodies[:DUPLICATED]]  # twins, fired in the same burst
        bodies.sort(key=lambda b: int(b["client_order_id"][1:]))
        killed = {}

        def on_ack(n: int) -> None:
            if n >= N * 0.4 and not killed:
                killed["at"] = n
                proc.popen.send_signal(signal.SIGKILL)

        acked = asyncio.run(submit_all(gw, bodies, on_ack))
        assert killed, "the gateway was not killed mid-flow"
        proc.popen.wait(10)
        proc = Proc("gateway", "backend.gateway", env, port, tmp_path / "gw2.log").start()
        asyncio.run(verify(gw, database_url, acct, acked))
    finally:
        proc.stop()


def _postmaster_pid(data: Path) -> int:
    return int((data / "postmaster.pid").read_text().splitlines()[0])


def test_postgres_killed_for_10s_under_order_flow_then_503_rebuilt_and_acknowledged_equals_stored(tmp_path,
                                                                                                 redis_url):
    pg_port, port = free_port(), free_port()
    # not under pytest's temporary tree: another pytest session resets /tmp/pytest-of-<user> to 0700, and the
    # postgres system user (when we run as root) must traverse every parent of the data directory
    run = Path(tempfile.mkdtemp(prefix="nautilus-pgfault-"))
    url = with_database(infra.start_embedded_postgres(run, pg_port), "nautilus_fault")
    asyncio.run(migrate_url(url))
    env = base_env(tmp_path, DATABASE_URL=url, REDIS_URL=redis_url, NAUTILUS_PORT_GATEWAY=str(port),
                   NAUTILUS_RATE_LIMIT_TRADE="", NAUTILUS_TRADING_WRITER_RETRY_S="2")
    gw = f"http://127.0.0.1:{port}"
    proc = Proc("gateway", "backend.gateway", env, port, tmp_path / "gw.log").start()
    try:
        sym, acct = asyncio.run(market(gw, redis_url, url))

        async def flow() -> tuple[dict[str, dict], dict[int, int], float]:
            acked: dict[str, dict] = {}
            statuses: dict[int, int] = {}
            t_back = 0.0
            async with httpx.AsyncClient(headers=ADMIN_HEADERS, timeout=30) as c:
                async def client(k: int) -> None:
                    i = 0
                    while time.monotonic() < t_end:
                        cid = f"p{k}-{i}"
                        i += 1
                        try:
                            r = await c.post(gw + "/api/v1/trading/orders", json=order(acct, sym, cid, 1 + i % 5))
                        except httpx.HTTPError:
                            continue
                        statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                        if r.status_code == 201:
                            acked[cid] = r.json()
                        elif r.status_code == 503:
                            assert r.json()["code"] in ("TRADING_RECOVERING", "ENGINE_UNAVAILABLE"), r.text
                            await asyncio.sleep(0.1)

                t_end = time.monotonic() + 22
                flows = asyncio.gather(*(client(k) for k in range(4)))
                await asyncio.sleep(3)
                os.kill(_postmaster_pid(run / "pgdata"), signal.SIGKILL)  # the database dies mid-flow
                await asyncio.sleep(10)
                infra.start_embedded_postgres(run, pg_port)  # back after 10 s (crash recovery on start)
                t_back = time.monotonic()
                await flows
            return acked, statuses, t_back

        acked, statuses, t_back = asyncio.run(flow())
        assert statuses.get(503, 0) > 0, statuses  # the outage was seen and refused, not hidden
        assert statuses.get(201, 0) > 0
        health = httpx.get(gw + "/api/v1/trading/health", headers=ADMIN_HEADERS, timeout=10).json()
        assert health["halted"] is None and health["rebuilds"] >= 1, health
        late = [o for o in acked.values() if o["created_ns"] / 1e9 > time.time() - (time.monotonic() - t_back)]
        assert late, "no order was acknowledged after the database came back"
        asyncio.run(verify(gw, url, acct, acked))
    finally:
        proc.stop()
        infra.stop_embedded_postgres(run / "pgdata")
        shutil.rmtree(run, ignore_errors=True)
