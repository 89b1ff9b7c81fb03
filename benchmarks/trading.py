"""Trading core benchmark. One command: ``.venv/bin/python benchmarks/trading.py``.

1. in-process: orders/s through pre-trade checks + SOR + matching (no persistence), and
   pre-trade checks/s alone;
2. REST with durable commit (uvicorn in a subprocess, httpx over TCP, real PostgreSQL and Redis):
   submit latency p50/p99 (one client) and sustained orders/s (many clients);
3. load test: 1,000 concurrent clients; orders and fills counted in the database, on the event
   stream (de-duplicated by event id) and in positions must reconcile exactly.
Results: benchmarks/results/trading.json and .md. Needs PostgreSQL on DATABASE_URL or localhost:5432
(a scratch database is created and dropped); Redis is an embedded redis-server started for the run.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "benchmarks" / "results"
ADMIN = "bench-admin-key-trading"


# ---- 1. in-process -------------------------------------------------------------
def bench_in_process(n_orders: int = 100_000, n_checks: int = 300_000, repeats: int = 3) -> dict:
    """Orders/s is the median of ``repeats`` runs of the same ``n_orders`` plan, each on a fresh
    engine (every run is listed): the 2-core machine is shared, and one run swings by a third."""
    from backend.trading.domain import Instrument, Order, OrderType, Side, TimeInForce
    from backend.trading.engine import TradingEngine
    from backend.trading.pre_trade import CheckContext, RiskLimits, run_checks
    from backend.trading.state import OrderStatus

    rng = random.Random(1)
    sides = (Side.BUY, Side.SHORT)
    plan = []
    for i in range(n_orders):
        marketable = i % 2 == 0
        side = sides[rng.randrange(2)]
        off = rng.randint(0, 3) * 0.01
        if side is Side.BUY:
            px = round(100.02 + off, 2) if marketable else round(99.99 - off, 2)
        else:
            px = round(100.00 - off, 2) if marketable else round(100.03 + off, 2)
        plan.append((side, px, TimeInForce.IOC if marketable else TimeInForce.GTC, float(rng.randint(1, 20))))

    def run_once() -> tuple[float, int, int, TradingEngine]:
        limits = RiskLimits(max_orders_per_window=None, duplicate_window_s=None, max_open_orders=None,
                            max_gross_exposure=None, max_position_qty=None)  # None: off
        eng = TradingEngine()
        eng.add_instrument(Instrument("BENCH", 0.01, 1.0))
        eng.add_account("bench", "bench", 1e12, limits=limits)
        eng.on_quote("BENCH", 100.00, 100.02, 1e9, 1e9)
        accepted = filled = 0
        t0 = time.perf_counter()
        for i, (side, px, tif, qty) in enumerate(plan):
            o, _ = eng.submit(account_id="bench", symbol="BENCH", side=side, type=OrderType.LIMIT, qty=qty,
                              tif=tif, limit_price=px)
            accepted += o.status is not OrderStatus.DENIED
            filled += o.status is OrderStatus.FILLED
            if o.id in eng.orders and i % 2 == 1:
                eng.cancel(o.id)  # keeps the book at a realistic size
            if i % 1000 == 0:
                eng.on_quote("BENCH", 100.00, 100.02, 1e9, 1e9)
        return time.perf_counter() - t0, accepted, filled, eng

    runs = [run_once() for _ in range(repeats)]
    if len({(a, f) for _, a, f, _ in runs}) != 1:
        raise AssertionError(f"runs of the same plan disagree: {[(a, f) for _, a, f, _ in runs]}")
    _, accepted, filled, eng = runs[-1]
    dt = statistics.median(r[0] for r in runs)

    o = Order("x", "bench", "s", "c", "BENCH", Side.BUY, OrderType.LIMIT, TimeInForce.GTC, 10.0, 100.0, None,
              "SMART", OrderStatus.INITIALISED, 0, 0)
    acct = eng.accounts["bench"]
    acct.risk.limits = RiskLimits()  # every check active
    ctx = CheckContext(eng.instruments["BENCH"], acct.risk, 100.01, 0.0, 0.0, 1e12, 0.0, False, time.time_ns())
    t1 = time.perf_counter()
    for _ in range(n_checks):
        run_checks(o, ctx)
        acct.risk.recent.clear()
    dt_checks = time.perf_counter() - t1
    return {"orders": n_orders, "seconds": dt, "orders_per_s": n_orders / dt, "repeats": repeats,
            "runs_orders_per_s": [round(n_orders / r[0]) for r in runs], "accepted": accepted,
            "filled": filled, "mix": "50% marketable limit IOC, 50% passive limit GTC (rested, then cancelled), "
                                     "SMART routing over 3 venues", "pre_trade_checks": n_checks,
            "pre_trade_seconds": dt_checks, "pre_trade_checks_per_s": n_checks / dt_checks,
            "checks_in_chain": 15}


# ---- REST server (subprocess) -------------------------------------------------------
def serve(port: int, database_url: str, redis_url: str) -> None:
    from contextlib import asynccontextmanager

    import uvicorn
    from fastapi import FastAPI

    from backend.auth import keys
    from backend.bus import Bus
    from backend.core.scopes import Scope
    from backend.core.settings import Settings
    from backend.service.app import install_problem_handlers
    from backend.storage.db import create_pool
    from backend.trading.config import TradingConfig
    from backend.trading.routes import build_router
    from backend.trading.service import TradingService

    svc = TradingService(Settings(database_url=database_url, redis_url=redis_url),
                         TradingConfig(admin_api_key=ADMIN, relay_poll_s=0.05))

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # noqa: ANN202
        pool = await create_pool(database_url, max_size=8)
        await keys.create_key(pool, "bench", [Scope.ADMIN.value], key=ADMIN)  # the load generator's key
        bus = Bus.from_url(redis_url, prefix="bench:")
        await svc.start(pool, bus)
        yield
        await svc.stop()
        await bus.close()
        await pool.close()

    app = FastAPI(lifespan=lifespan)
    install_problem_handlers(app)
    app.include_router(build_router(svc))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def prepare_db(server_url: str) -> str:
    import asyncpg

    from backend.storage.db import with_database
    from backend.storage.migrate import migrate_url

    name = f"nautilus_bench_trading_{os.getpid()}"
    conn = await asyncpg.connect(server_url)
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    url = with_database(server_url, name)
    await migrate_url(url)
    conn = await asyncpg.connect(url)
    await conn.execute("INSERT INTO instruments (symbol, tick_size, lot_size) VALUES ('BENCH', 0.01, 1)")
    await conn.close()
    return url


async def drop_db(server_url: str, url: str) -> None:
    import asyncpg

    from backend.storage.db import database_name

    conn = await asyncpg.connect(server_url)
    await conn.execute(f'DROP DATABASE IF EXISTS "{database_name(url)}" WITH (FORCE)')
    await conn.close()


async def drain(conn) -> None:  # noqa: ANN001 - wait (bounded) until the relay has emptied the outbox
    for _ in range(300):
        if await conn.fetchval("SELECT count(*) FROM trading_outbox") == 0:
            return
        await asyncio.sleep(0.1)


async def rest_and_load(base: str, db_url: str, redis_url: str, n_latency: int, sustained_s: float,
                        n_clients: int, per_client: int) -> dict:
    import aiohttp
    import asyncpg

    from backend.bus import Bus
    from backend.bus.envelope import decode

    bus = Bus.from_url(redis_url, prefix="bench:")
    limits = {"max_orders_per_window": None, "duplicate_window_s": None, "max_open_orders": None,  # None: off
              "max_position_qty": None, "max_gross_exposure": None, "max_order_notional": None}
    # aiohttp as the load generator: one httpx.AsyncClient shared by 64+ tasks serialises in its own
    # connection pool (measured: ~160 orders/s with groups of ~1.3 orders per commit, i.e. the server idle)
    connector = aiohttp.TCPConnector(limit=n_clients, limit_per_host=n_clients)
    async with aiohttp.ClientSession(base, headers={"X-API-Key": ADMIN}, connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=120)) as c:
        async def post(path: str, body: dict | None = None) -> tuple[int, dict]:
            async with c.post(path, json=body) as r:
                return r.status, await r.json(content_type=None)

        async def get(path: str) -> dict:
            async with c.get(path) as r:
                return await r.json(content_type=None)

        async def quote() -> None:
            await bus.append("md.quotes", "data.quotes.SIM.BENCH", "quote",
                             {"symbol": "BENCH", "bid": 100.0, "ask": 100.02, "bid_size": 1e9, "ask_size": 1e9,
                              "ts_ns": time.time_ns()})
        n_accounts = 50
        for a in range(n_accounts):
            st, r = await post("/api/v1/trading/accounts", {"id": f"B{a}", "name": "bench", "starting_cash": 1e12,
                                                             "limits": limits})
            assert st == 201, r
        await quote()
        for _ in range(100):
            if (await get("/api/v1/trading/venues/ATLAS/books/BENCH"))["asks"]:
                break
            await asyncio.sleep(0.05)

        def body(i: int, acct: str) -> dict:
            side = "buy" if i % 2 == 0 else "short"
            return {"account_id": acct, "symbol": "BENCH", "side": side, "type": "market", "qty": 1 + i % 5,
                    "client_order_id": f"c{i}"}

        async def commits() -> int:
            return (await get("/api/v1/trading/health"))["writer"]["commits"]

        seq = 0
        lat = []
        for _ in range(n_latency):
            t = time.perf_counter()
            st, r = await post("/api/v1/trading/orders", body(seq, "B0"))
            lat.append(time.perf_counter() - t)
            assert st == 201, r
            seq += 1
        lat.sort()

        async def quoter(stop: asyncio.Event) -> None:
            while not stop.is_set():
                await quote()
                await asyncio.sleep(0.2)

        # sustained: 64 clients for sustained_s seconds
        stop = asyncio.Event()
        qt = asyncio.create_task(quoter(stop))
        done = 0
        sus_lat: list[float] = []
        t_end = time.perf_counter() + sustained_s

        async def worker(w: int) -> None:
            nonlocal done
            k = 0
            while time.perf_counter() < t_end:
                t = time.perf_counter()
                st, r = await post("/api/v1/trading/orders", body(10_000_000 + w * 100_000 + k, f"B{w % 50}"))
                sus_lat.append(time.perf_counter() - t)
                assert st == 201, r
                done += 1
                k += 1
        c0 = await commits()
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(64)))
        sustained = done / (time.perf_counter() - t0)
        sus_commits = await commits() - c0  # writer transactions: each holds a group of orders
        sus_lat.sort()

        # load test: n_clients concurrent clients
        acks: dict[str, dict] = {}
        statuses: dict[int, int] = {}

        async def client(ci: int) -> None:
            for k in range(per_client):
                cid = 50_000_000 + ci * 1000 + k
                st, r = await post("/api/v1/trading/orders", body(cid, f"B{ci % n_accounts}"))
                statuses[st] = statuses.get(st, 0) + 1
                if st == 201:
                    acks[r["id"]] = r
        # the event stream is capped (~100k entries), so the load test is reconciled against the events
        # after a marker taken once everything before it has been relayed
        conn = await asyncpg.connect(db_url)
        await drain(conn)
        tail = await bus.redis.xrevrange("events.trading", count=1)
        marker = (tail[0][0].decode() if isinstance(tail[0][0], bytes) else tail[0][0]) if tail else "0-0"
        c1 = await commits()
        t0 = time.perf_counter()
        await asyncio.gather(*(client(ci) for ci in range(n_clients)))
        load_s = time.perf_counter() - t0
        load_commits = await commits() - c1
        stop.set()
        await qt
        _, rec = await post("/api/v1/trading/reconciliation")
        positions = (await get("/api/v1/trading/positions"))["items"]

    await drain(conn)
    load_filter = "client_order_id >= 'c50000000' AND length(client_order_id) = 9"
    db_orders = await conn.fetchval("SELECT count(*) FROM trading_orders")
    db_signed = await conn.fetchval("SELECT coalesce(sum(CASE WHEN side='buy' THEN qty ELSE -qty END), 0) "
                                    "FROM trading_fills")
    db_load_orders = await conn.fetchval(f"SELECT count(*) FROM trading_orders WHERE {load_filter}")
    db_load_fills = await conn.fetchval("SELECT count(*) FROM trading_fills f JOIN trading_orders o ON o.id = "
                                        "f.order_id WHERE o.client_order_id >= 'c50000000' "
                                        "AND length(o.client_order_id) = 9")
    outbox_left = await conn.fetchval("SELECT count(*) FROM trading_outbox")
    await conn.close()
    seen_ids: set[int] = set()
    order_ids: set[str] = set()
    fill_events = 0
    duplicates = 0
    last = "(" + marker
    while True:
        entries = await bus.redis.xrange("events.trading", min=last, max="+", count=10_000)
        if not entries:
            break
        for _eid, fields in entries:
            e = decode(fields[b"e"])
            ev = e.payload["event_id"]
            if ev in seen_ids:
                duplicates += 1
                continue
            seen_ids.add(ev)
            if e.type.startswith("order."):
                order_ids.add(e.payload["id"])
            elif e.type == "fill":
                fill_events += 1
        last = "(" + (entries[-1][0].decode() if isinstance(entries[-1][0], bytes) else entries[-1][0])
    await bus.close()
    pos_net = sum(p["qty"] for p in positions)
    load_ok = (len(acks) == n_clients * per_client == db_load_orders and order_ids == set(acks)
               and db_load_fills == fill_events and duplicates == 0 and abs(pos_net - db_signed) < 1e-6 and rec["ok"]
               and outbox_left == 0)
    return {
        "rest": {"latency_samples": n_latency, "submit_p50_ms": lat[len(lat) // 2] * 1e3,
                 "submit_p99_ms": lat[int(len(lat) * 0.99) - 1] * 1e3, "submit_mean_ms": statistics.mean(lat) * 1e3,
                 "sustained_clients": 64, "sustained_seconds": sustained_s, "sustained_orders_per_s": sustained,
                 "sustained_orders": done, "sustained_commits": sus_commits,
                 "sustained_orders_per_commit": done / max(sus_commits, 1),
                 "sustained_p50_ms": sus_lat[len(sus_lat) // 2] * 1e3,
                 "sustained_p99_ms": sus_lat[int(len(sus_lat) * 0.99) - 1] * 1e3,
                 "load_generator": "aiohttp (same machine)",
                 "order": "market order, SMART-routed, filled; order + fills + positions + cash + outbox committed"
                          " before the 201"},
        "load": {"clients": n_clients, "orders_per_client": per_client, "seconds": load_s,
                 "orders_per_s": n_clients * per_client / load_s, "http_status_counts": statuses,
                 "commits": load_commits, "orders_per_commit": n_clients * per_client / max(load_commits, 1),
                 "acknowledged": len(acks), "db_orders_from_load": db_load_orders, "db_orders_total": db_orders,
                 "stream_distinct_orders": len(order_ids), "stream_orders_equal_acknowledged": order_ids == set(acks),
                 "db_fills": db_load_fills, "stream_fill_events": fill_events,
                 "stream_duplicate_events": duplicates, "outbox_left": outbox_left,
                 "positions_net_qty": pos_net, "fills_net_qty": db_signed,
                 "reconciliation": {k: rec[k] for k in ("ok", "fills", "orders", "positions", "mismatch_count")},
                 "reconciles_exactly": load_ok},
    }


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller runs (smoke test)")
    ap.add_argument("--only", choices=("in_process",),
                    help="run only this section; its figures replace that section in the existing results "
                         "files, the other sections are kept as they were (the .md says so)")
    args = ap.parse_args()
    quick = args.quick
    out: dict = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                             "platform": platform.platform()}, "quick": quick}
    print("in-process ...", flush=True)
    out["in_process"] = bench_in_process(20_000 if quick else 100_000, 60_000 if quick else 300_000)
    print(json.dumps(out["in_process"], indent=1), flush=True)
    if args.only == "in_process":
        write_in_process_only(out)
        return

    server_url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    from backend.storage.db import with_database

    server_url = with_database(server_url, "postgres")
    import tempfile

    from backend.launcher import infra

    # a Redis of our own: nobody else's flush or trim can touch the event stream we count
    redis_dir = Path(tempfile.mkdtemp(prefix="bench-trading-redis-"))
    redis_url, redis_pid = infra.start_embedded_redis(redis_dir, port=free_port())
    db_url = asyncio.run(prepare_db(server_url))
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(port), db_url, redis_url], cwd=ROOT)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        print("REST + load ...", flush=True)
        res = asyncio.run(rest_and_load(f"http://127.0.0.1:{port}", db_url, redis_url,
                                        n_latency=200 if quick else 1000, sustained_s=5 if quick else 15,
                                        n_clients=1000, per_client=2 if quick else 5))
        out.update(res)
    finally:
        proc.terminate()
        proc.wait(20)
        asyncio.run(drop_db(server_url, db_url))
        infra.stop_pid(redis_pid)
    from benchmarks.common import Report, results_dir

    report = Report("trading")
    ip, rest, load = out["in_process"], out["rest"], out["load"]
    report.figure("trading core", "orders/s through pre-trade + SOR + matching, in-process", ip["orders_per_s"],
                  "orders/s")
    report.figure("trading core", "REST submit p50, durable commit, 1 client", rest["submit_p50_ms"], "ms")
    report.figure("trading core", f"sustained REST orders/s, {rest['sustained_clients']} clients, durable",
                  rest["sustained_orders_per_s"], "orders/s")
    report.figure("trading core", f"load test {load['clients']:,} clients: reconciliation mismatches "
                  "(acknowledged vs stored vs events)", float(load["reconciliation"]["mismatch_count"]), "mismatches")
    out["report"] = report.as_dict()
    results = results_dir()
    (results / "trading.json").write_text(json.dumps(out, indent=2))
    (results / "trading.md").write_text(render_md(out))
    print(json.dumps(out, indent=1))


def write_in_process_only(fresh: dict) -> None:
    """Replace the in-process section of the existing results; the REST and load sections stay
    as measured by the last full run, and the .md names which run each section comes from."""
    path = RESULTS / "trading.json"
    if not path.exists():
        print("no earlier full results to merge into; in-process figures printed above only", flush=True)
        return
    prev = json.loads(path.read_text())
    prev["in_process"] = fresh["in_process"]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip() or None
    prev["in_process"]["run"] = {"quick": fresh["quick"], "machine": fresh["machine"], "git_commit": commit,
                                 "command": ".venv/bin/python benchmarks/trading.py --only in_process"
                                            + (" --quick" if fresh["quick"] else "")}
    path.write_text(json.dumps(prev, indent=2))
    (RESULTS / "trading.md").write_text(render_md(prev))


def render_md(r: dict) -> str:
    ip, rest, load = r["in_process"], r["rest"], r["load"]
    return f"""# Trading core benchmark

Command: `.venv/bin/python benchmarks/trading.py` ({'quick' if r['quick'] else 'full'} run;
Python {r['machine']['python']}, {r['machine']['cpus']} CPUs, {r['machine']['platform']}).

## In-process (no persistence)
{_in_process_note(r)}
| measure | value | target |
|---|---|---|
| orders/s through pre-trade + SOR + matching{_runs(ip)} | {ip['orders_per_s']:,.0f} | >= 50,000 |
| pre-trade check chains/s ({ip['checks_in_chain']} checks each) | {ip['pre_trade_checks_per_s']:,.0f} | >= 100,000 |

{ip['orders']:,} orders: {ip['mix']}; {ip['filled']:,} filled.

## REST API with durable commit (uvicorn, TCP, PostgreSQL, Redis)

| measure | value |
|---|---|
| submit latency p50 (1 client) | {rest['submit_p50_ms']:.2f} ms |
| submit latency p99 (1 client) | {rest['submit_p99_ms']:.2f} ms |
| sustained orders/s ({rest['sustained_clients']} clients, {rest['sustained_seconds']} s) | {rest['sustained_orders_per_s']:,.0f} |
| submit latency p50 / p99 under that load | {rest['sustained_p50_ms']:.1f} / {rest['sustained_p99_ms']:.1f} ms |
| orders per writer transaction (group commit, sustained) | {rest['sustained_orders_per_commit']:.1f} |

Each order: {rest['order']}. Load generator: {rest['load_generator']}, sharing the
machine's CPUs with the server, PostgreSQL and Redis.

## Load test: {load['clients']:,} concurrent clients x {load['orders_per_client']} orders

| count | value |
|---|---|
| acknowledged (HTTP 201) | {load['acknowledged']:,} |
| orders in the database from the load test | {load['db_orders_from_load']:,} |
| distinct orders on the event stream during the load test (= the acknowledged ones: {load['stream_orders_equal_acknowledged']}) | {load['stream_distinct_orders']:,} |
| load-test fills in the database / fill events on the stream | {load['db_fills']:,} / {load['stream_fill_events']:,} |
| orders in the database (whole run) | {load['db_orders_total']:,} |
| duplicate events on the stream (same event id) | {load['stream_duplicate_events']} |
| net quantity: positions / replay of fills | {load['positions_net_qty']:,.0f} / {load['fills_net_qty']:,.0f} |
| reconciliation (positions & cash = replay of fills) | ok={load['reconciliation']['ok']}, mismatches={load['reconciliation']['mismatch_count']} |
| outbox rows left | {load['outbox_left']} |
| throughput | {load['orders_per_s']:,.0f} orders/s over {load['seconds']:.1f} s |
| group commit: orders per writer transaction | {load['orders_per_commit']:.1f} |
| **reconciles exactly** | **{load['reconciles_exactly']}** |

HTTP status counts: {load['http_status_counts']}.
"""


def _runs(ip: dict) -> str:
    runs = ip.get("runs_orders_per_s")
    if not runs:
        return ""
    return f" (median of {len(runs)} runs: {', '.join(f'{x:,}' for x in runs)})"


def _in_process_note(r: dict) -> str:
    run = r["in_process"].get("run")
    if not run:
        return ""
    return (f"\nThis section was rerun on its own (`{run['command']}`, "
            f"{'quick' if run['quick'] else 'full'} run, at commit {run.get('git_commit') or 'unknown'}); "
            "the REST and load sections below were not rerun: they are the figures of the last full run "
            "(command at the top), measured on the code as it was then.\n")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    else:
        main()
