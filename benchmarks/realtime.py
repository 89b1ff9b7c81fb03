"""Real-time delivery: websocket fan-out latency and throughput against the number of clients.

Run: ``.venv/bin/python benchmarks/realtime.py [--quick]``
Starts a websocket engine (its own process, as in production) on PostgreSQL and Redis, connects N
clients that each subscribe to the quotes of 20 symbols and to order events, and publishes quotes at
a fixed total rate (2,000/s in the full profile) plus order events on the ``events.trading`` stream
(as the trading core's outbox writes them). Each client records, for every message it receives,
receipt time minus the envelope's publish stamp (one host clock). Reported per N: p50/p99 of that
latency, messages delivered per second, quotes conflated (a slow client gets the latest quote per
symbol instead of a backlog, by design) and order events lost (must be 0), and the engine
process's CPU and memory. The clients and the publisher share this process, and the machine's
cores with the engine: on a small machine they compete, which inflates the latency measured.
The issue's target (from the original design): p99 fan-out <= 50 ms for 1,000 clients at
2,000 quotes/s; and for notifications, event -> webhook delivered < 1 s, measured here through a
limit-breach rule and a local HTTP receiver. Results: ``<results>/realtime.{json,md}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import orjson
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import Report, Servers, machine, results_dir  # noqa: E402
from tests.support.access import ADMIN_KEY, TEST_INSTANCE  # noqa: E402
from tests.support.procs import Proc, base_env, free_port  # noqa: E402

SYMBOLS = [f"S{i:02d}" for i in range(20)]
ORDER_TOPIC = "events.order.bench"


class Client:
    """One subscriber. When the server closes it (4008 slow consumer, 4002 heartbeat), it reconnects and
    resumes order events from the last stream id it saw, as a real client must; closes are counted."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.latencies_ns: list[int] = []
        self.quotes = 0
        self.orders: set[str] = set()
        self.last_id: str | None = None
        self.closes: dict[int, int] = {}
        self.ws = None
        self.task: asyncio.Task | None = None
        self.stopping = False

    async def open(self) -> None:
        from websockets.asyncio.client import connect

        self.ws = await connect(self.url, additional_headers={"X-API-Key": ADMIN_KEY}, open_timeout=120,
                                max_size=None, ping_interval=None)
        sub = {"action": "subscribe", "topics": ["data.quotes.BENCH.*", ORDER_TOPIC]}
        if self.last_id:
            sub["since"] = self.last_id
        await self.ws.send(json.dumps(sub))
        while json.loads(await self.ws.recv()).get("type") != "subscribed":
            pass

    async def run(self) -> None:
        from websockets.exceptions import ConnectionClosed

        while True:
            try:
                async for frame in self.ws:
                    now = time.time_ns()
                    body = orjson.loads(frame)
                    for m in body if isinstance(body, list) else [body]:
                        t = m.get("type")
                        if t == "quote":
                            self.quotes += 1
                            self.latencies_ns.append(now - m["ts_ns"])
                        elif t == "order.filled":
                            self.orders.add(m["payload"]["event_id"])
                            self.last_id = m["id"]
                            self.latencies_ns.append(now - m["ts_ns"])
                        elif t == "ping":
                            await self.ws.send('{"action": "pong"}')
            except ConnectionClosed:
                pass
            if self.stopping:
                return
            code = self.ws.close_code or 1006
            self.closes[code] = self.closes.get(code, 0) + 1
            await self.open()


async def connect_clients(url: str, n: int) -> list[Client]:
    clients = [Client(url) for _ in range(n)]
    for lo in range(0, n, 50):
        await asyncio.gather(*(c.open() for c in clients[lo:lo + 50]))
    for c in clients:
        c.task = asyncio.create_task(c.run())
    return clients


async def send_delay(http_base: str) -> dict[float, float]:
    """The engine's ``nautilus_ws_send_delay_seconds`` histogram: cumulative count per bucket bound."""
    import aiohttp
    from prometheus_client.parser import text_string_to_metric_families

    async with aiohttp.ClientSession() as s, s.get(http_base + "/metrics") as r:
        text = await r.text()
    for fam in text_string_to_metric_families(text):
        if fam.name == "nautilus_ws_send_delay_seconds":
            return {float(x.labels["le"]): x.value for x in fam.samples if x.name.endswith("_bucket")}
    return {}


def bucket_quantile(before: dict[float, float], after: dict[float, float], q: float) -> float | None:
    """The upper bound of the bucket holding quantile ``q`` of the observations between two scrapes."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    total = counts[-1] if counts else 0
    if total <= 0:
        return None
    for b, c in zip(bounds, counts, strict=True):
        if c >= q * total:
            return b
    return None


async def publish(bus, rate_per_s: float, seconds: float, orders: int) -> tuple[int, list[str]]:  # noqa: ANN001
    """Quotes at ``rate_per_s`` (round robin over the symbols, on an absolute schedule) and ``orders``
    order events spread over the run; returns (quotes published, order event ids)."""
    from backend.bus.envelope import encode
    from backend.bus.redis_bus import FIELD
    from backend.bus.streams import EVENTS_TRADING

    t0 = time.perf_counter()
    sent = 0
    order_ids: list[str] = []
    order_every = max(1, int(rate_per_s * seconds / max(orders, 1)))
    while (elapsed := time.perf_counter() - t0) < seconds:
        due = int(elapsed * rate_per_s) - sent
        if due > 0:
            pipe = bus.redis.pipeline(transaction=False)
            for i in range(sent, sent + due):
                sym = SYMBOLS[i % len(SYMBOLS)]
                topic = f"data.quotes.BENCH.{sym}"
                pipe.publish(bus.key(topic), encode(topic, "quote", {"symbol": sym, "bid": 100.0 + i % 7,
                                                                      "ask": 100.1, "bid_size": 1, "ask_size": 1,
                                                                      "ts_ns": time.time_ns()}))
                if i % order_every == 0 and len(order_ids) < orders:
                    eid = uuid.uuid4().hex
                    order_ids.append(eid)
                    pipe.xadd(bus.key(EVENTS_TRADING), {FIELD: encode(ORDER_TOPIC, "order.filled",
                                                                      {"event_id": eid, "id": f"o{i}"})})
            await pipe.execute()
            sent += due
        await asyncio.sleep(0.005)
    return sent, order_ids


async def round_(url: str, bus, n: int, rate: float, seconds: float, orders: int, engine_pid: int) -> dict:  # noqa: ANN001
    http_base = url.replace("ws://", "http://").removesuffix("/ws")
    clients = await connect_clients(url, n)
    before = await send_delay(http_base)
    proc, me = psutil.Process(engine_pid), psutil.Process()
    await asyncio.sleep(0.5)
    proc.cpu_percent(None)
    me.cpu_percent(None)
    t0 = time.perf_counter()
    published, order_ids = await publish(bus, rate, seconds, orders)
    wall = time.perf_counter() - t0
    cpu, client_cpu = proc.cpu_percent(None), me.cpu_percent(None)
    rss_mb = proc.memory_info().rss / 2**20
    for _ in range(600):  # drain: until every client has every order event (or 60 s)
        if all(len(c.orders) >= len(order_ids) for c in clients):
            break
        await asyncio.sleep(0.1)
    after = await send_delay(http_base)
    for c in clients:
        c.stopping = True
        await c.ws.close()
        if c.task:
            c.task.cancel()
    await asyncio.gather(*(c.task for c in clients if c.task), return_exceptions=True)
    lat = np.concatenate([np.asarray(c.latencies_ns, dtype=np.float64) for c in clients]) / 1e6
    delivered = sum(c.quotes + len(c.orders) for c in clients)
    lost_orders = sum(len(set(order_ids) - c.orders) for c in clients)
    return {"clients": n, "rate_per_s": rate, "seconds": seconds, "quotes_published": published,
            "quotes_expected": published * n, "quotes_received": sum(c.quotes for c in clients),
            "conflated_fraction": 1 - sum(c.quotes for c in clients) / max(published * n, 1),
            "order_events": len(order_ids), "order_events_lost": lost_orders,
            "p50_ms": float(np.percentile(lat, 50)) if lat.size else None,
            "p99_ms": float(np.percentile(lat, 99)) if lat.size else None,
            "delivered_per_s": delivered / wall, "engine_cpu_percent": cpu, "engine_rss_mb": rss_mb,
            "load_generator_cpu_percent": client_cpu,
            "server_send_delay_p50_ms": 1e3 * (bucket_quantile(before, after, 0.5) or float("nan")),
            "server_send_delay_p99_ms": 1e3 * (bucket_quantile(before, after, 0.99) or float("nan")),
            "closed_by_server": {str(k): sum(c.closes.get(k, 0) for c in clients)
                                 for k in sorted({k for c in clients for k in c.closes})},
            "samples_ms": np.random.default_rng(0).choice(lat, min(lat.size, 5000), replace=False).tolist()
            if lat.size else []}


async def notification_round(http_base: str, bus, events: int, per_s: float) -> dict:  # noqa: ANN001
    """Limit breaches on ``events.risk`` -> a rule -> a webhook to a local receiver: publish-to-receipt
    latency of each (the notifier's whole path: consumer group, rule match, de-duplication and aggregation
    check in PostgreSQL, the notification row, the signed POST, the delivery row)."""
    import aiohttp
    from aiohttp import web

    from backend.bus.streams import EVENTS_RISK

    got: dict[int, int] = {}
    done = asyncio.Event()

    async def hook(request: web.Request) -> web.Response:
        body = await request.json()
        got[body["event"]["breach_id"]] = time.time_ns() - body["event"]["sent_ns"]
        if len(got) >= events:
            done.set()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    set_id = uuid.uuid4().hex[:8]
    async with aiohttp.ClientSession(headers={"X-API-Key": ADMIN_KEY}) as s:
        async with s.post(f"{http_base}/api/v1/websocket/create_notification_rule", json={
                "name": "bench", "event": "limit_breach", "priority": "critical", "window_s": 0,
                "conditions": [{"field": "set_id", "op": "eq", "value": set_id}],
                "channels": [{"type": "webhook", "url": f"http://127.0.0.1:{port}/hook",
                              "secret": "bench-secret-0123456789"}]}) as r:
            assert r.status == 200, await r.text()
    try:
        for i in range(events):
            await bus.append(EVENTS_RISK, f"events.risk.limits.{set_id}", "limit_breach",
                             {"breach_id": i, "set_id": set_id, "limit_id": "gross", "value": 2.0, "threshold": 1.0,
                              "sent_ns": time.time_ns()})
            await asyncio.sleep(1 / per_s)
        await asyncio.wait_for(done.wait(), 60)
    finally:
        await runner.cleanup()
    lat = np.asarray(list(got.values()), dtype=np.float64) / 1e6
    return {"events": events, "delivered": len(got), "p50_ms": float(np.percentile(lat, 50)),
            "p99_ms": float(np.percentile(lat, 99)), "samples_ms": lat.tolist()}


async def bench(url: str, redis_url: str, levels: list[tuple[int, float]], seconds: float, orders: int,
                pid: int) -> tuple[list[dict], dict]:
    from backend.bus import Bus
    from backend.bus.redis_bus import instance_prefix

    bus = Bus.from_url(redis_url, prefix=instance_prefix(TEST_INSTANCE))
    rows = []
    try:
        note = await notification_round(url.replace("ws://", "http://").removesuffix("/ws"), bus,
                                        50 if len(levels) < 3 else 200, 20.0)
        print(f"notification -> webhook: p50 {note['p50_ms']:.1f} ms, p99 {note['p99_ms']:.1f} ms "
              f"({note['delivered']} of {note['events']})", flush=True)
        for n, rate in levels:
            r = await round_(url, bus, n, rate, seconds, orders, pid)
            print(f"{n:>5} clients, {rate:g} quotes/s: p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, "
                  f"{r['delivered_per_s']:.0f} msg/s, conflated {r['conflated_fraction']:.1%}, "
                  f"orders lost {r['order_events_lost']}, engine CPU {r['engine_cpu_percent']:.0f}%, clients' CPU "
                  f"{r['load_generator_cpu_percent']:.0f}%, server send delay "
                  f"p50 <= {r['server_send_delay_p50_ms']:g} ms p99 <= {r['server_send_delay_p99_ms']:g} ms, "
                  f"closed by server {r['closed_by_server']}", flush=True)
            rows.append(r)
    finally:
        await bus.close()
    return rows, note


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="10 and 50 clients, 200 quotes/s, 3 s each")
    ap.add_argument("--clients", type=int, nargs="+", default=None)
    ap.add_argument("--rate", type=float, default=None, help="quotes per second in total (with --clients)")
    ap.add_argument("--seconds", type=float, default=None)
    args = ap.parse_args()
    if args.clients:
        levels = [(n, args.rate or 2000.0) for n in args.clients]
    elif args.quick:
        levels = [(10, 200.0), (50, 200.0)]
    else:  # the load, then 1,000 clients at a rate this machine's load generator can read
        levels = [(100, 2000.0), (500, 2000.0), (1000, 2000.0), (1000, 20.0)]
    seconds = args.seconds or (3.0 if args.quick else 10.0)
    orders = 20

    import asyncpg

    from backend.auth import keys

    load_before = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="bench-realtime-"))
    servers = Servers(tmp).__enter__()
    port = free_port()
    env = base_env(tmp, DATABASE_URL=servers.database_url, REDIS_URL=servers.redis_url,
                   NAUTILUS_PORT_WEBSOCKET=str(port), NAUTILUS_HEALTH_PROBE_INTERVAL_S="3600",
                   NAUTILUS_WS_HEARTBEAT_S="30", NAUTILUS_LOG_LEVEL="WARNING")

    async def store_key() -> None:
        conn = await asyncpg.connect(servers.database_url)
        await keys.create_key(conn, keys.BOOTSTRAP_NAME, ["admin"], key=ADMIN_KEY)
        await conn.close()

    asyncio.run(store_key())
    eng = Proc("websocket", "engines.websocket", env, port, tmp / "ws.log").start()
    try:
        rows, note = asyncio.run(bench(f"ws://127.0.0.1:{port}/ws", servers.redis_url, levels, seconds, orders,
                                 eng.popen.pid))
    finally:
        eng.stop()
        servers.__exit__()

    rep = Report("realtime")
    top = [r for r in rows if r["rate_per_s"] == rows[0]["rate_per_s"]]
    rep.rate(f"websocket fan-out at {rows[0]['rate_per_s']:g} quotes/s: messages delivered",
             [r["clients"] for r in top], [r["delivered_per_s"] for r in top], unit="messages/s")
    for r in rows[-2:] if len(rows) > 1 else rows:
        rep.samples(f"websocket publish to client receipt, {r['clients']} clients at {r['rate_per_s']:g} quotes/s",
                    [x / 1e3 for x in r["samples_ms"]])
    for r in rows:
        n, rate = r["clients"], r["rate_per_s"]
        rep.figure("realtime", f"fan-out p50, {n} clients, {rate:g} quotes/s", r["p50_ms"], "ms")
        rep.figure("realtime", f"fan-out p99, {n} clients, {rate:g} quotes/s", r["p99_ms"], "ms")
        rep.figure("realtime", f"order events lost, {n} clients, {rate:g} quotes/s", r["order_events_lost"], "events")
        rep.figure("realtime", f"quotes conflated, {n} clients, {rate:g} quotes/s", 100 * r["conflated_fraction"], "%")
        rep.figure("realtime", f"engine CPU, {n} clients, {rate:g} quotes/s", r["engine_cpu_percent"], "% of one core")
        rep.figure("realtime", f"server send delay p99 (bucket bound), {n} clients, {rate:g} quotes/s",
                   r["server_send_delay_p99_ms"], "ms")
        rep.figure("realtime", f"engine memory, {n} clients, {rate:g} quotes/s", r["engine_rss_mb"], "MiB")
    rep.samples("notification: event published to signed webhook received", [x / 1e3 for x in note["samples_ms"]])
    rep.figure("realtime", "notification event -> webhook p50", note["p50_ms"], "ms")
    rep.figure("realtime", "notification event -> webhook p99", note["p99_ms"], "ms")
    out = results_dir()
    load_after = os.getloadavg()
    meta = {"machine": machine(), "platform": platform.platform(), "quick": args.quick,
            "load_average_1m": [load_before[0], load_after[0]],
            "seconds": seconds, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    (out / "realtime.json").write_text(json.dumps(
        {**meta, "rows": [{k: v for k, v in r.items() if k != "samples_ms"} for r in rows],
         "notification": {k: v for k, v in note.items() if k != "samples_ms"},
         "report": rep.as_dict()}, indent=1))
    lines = ["# Real-time delivery (websocket fan-out)", "",
             f"Command: `{rep.command}` ({'quick' if args.quick else 'full'} run, {meta['date']}); machine: "
             f"{meta['machine'].get('cpu')}, {meta['machine'].get('logical_cpus')} logical CPUs, 1-minute load average "
             f"{load_before[0]:.1f} before and {load_after[0]:.1f} after the run (other work on the machine competes). "
             f"Quotes for {len(SYMBOLS)} symbols at the rate of each row (in total) for {seconds:g} s, plus {orders} order "
             "events on the outbox stream; every client subscribes to all of them. Target (original design): "
             "p99 <= 50 ms for 1,000 clients at 2,000 quotes/s.", "",
             "| clients | quotes/s | p50 ms | p99 ms | server send delay p50 / p99 ms (bucket bounds) | delivered/s | "
             "quotes conflated | order events lost | closed by server (code: n), resumed | engine CPU % | clients' CPU % | "
             "engine MiB |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        closed = ", ".join(f"{k}: {v}" for k, v in r["closed_by_server"].items()) or "none"
        lines.append(f"| {r['clients']} | {r['rate_per_s']:g} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['server_send_delay_p50_ms']:g} / "
                     f"{r['server_send_delay_p99_ms']:g} | {r['delivered_per_s']:.0f} | "
                     f"{r['conflated_fraction']:.1%} | {r['order_events_lost']} of {r['order_events'] * r['clients']}"
                     f" | {closed} | {r['engine_cpu_percent']:.0f} | {r['load_generator_cpu_percent']:.0f} | "
                     f"{r['engine_rss_mb']:.0f} |")
    lines += ["", f"Notification path (limit breach on `events.risk` -> rule -> HMAC-signed webhook to a local "
              f"receiver, {note['events']} events at 20/s): p50 {note['p50_ms']:.1f} ms, p99 {note['p99_ms']:.1f} ms, "
              f"{note['delivered']} of {note['events']} delivered. The original design's claim: < 1 s."]
    lines += ["", "CPU % is of one core, over the publishing window. The load average counts the processes competing "
              "for the machine's cores: with it well above the core count, a busy process gets only its share (about "
              "cores / load of one core), so the engine and the clients queue for CPU rather than for each other. "
              "Messages then wait in the engine's send queues (its send delay, the middle column: quotes are "
              "conflated there once a socket stops taking data) and in the kernel's socket buffers, which is most "
              "of the latency measured. Engine work per delivered message is about engine CPU / delivered per "
              "second."]
    (out / "realtime.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
