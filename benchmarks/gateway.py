"""Gateway overhead: a small analytics call made directly to the engine and through the gateway.

Run: ``.venv/bin/python benchmarks/gateway.py [--seconds 5] [--concurrency 1 8 64]``
Starts its own analytics engine and gateway on free ports, then, for each concurrency
level, alternates direct and routed rounds (so both see the same machine state) and
reports p50/p99 latency and requests/s. Results: benchmarks/results/gateway.{json,md}.
The load generator runs on the same machine as the servers (2 cores here): it competes
with them for CPU, which depresses both columns alike; compare the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import aiohttp
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import Report, Servers, results_dir  # noqa: E402
from tests.support.access import ADMIN_KEY, INTERNAL_HEADERS  # noqa: E402
from tests.support.procs import Proc, base_env, free_port  # noqa: E402

BODY = json.dumps({"returns": [0.01, -0.02, 0.015, 0.003, 0.007, -0.004, 0.012, -0.001]}).encode()
ROUTE = "/api/v1/analytics/performance"


async def _round(url: str, concurrency: int, seconds: float, auth: dict[str, str]) -> dict:
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds
    conn = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    async with aiohttp.ClientSession(connector=conn) as session:

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < stop_at:
                t0 = time.perf_counter()
                async with session.post(url, data=BODY, headers={"content-type": "application/json", **auth}) as r:
                    await r.read()
                    if r.status != 200:
                        errors += 1
                latencies.append(time.perf_counter() - t0)

        # warm the connections first
        await asyncio.gather(*(session.post(url, data=BODY, headers={"content-type": "application/json", **auth})
                               for _ in range(concurrency)))
        latencies.clear()
        t_start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t_start
    lat = np.array(latencies) * 1e3
    return {"requests": len(lat), "errors": errors, "rps": len(lat) / elapsed,
            "p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99)),
            "samples_ms": [float(x) for x in lat[:: max(1, lat.size // 2000)]]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=4.0, help="length of one measured round")
    ap.add_argument("--rounds", type=int, default=3, help="alternating direct/gateway rounds per level")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 64])
    ap.add_argument("--quick", action="store_true", help="0.5 s rounds, one each, 1 and 8 clients")
    args = ap.parse_args()
    if args.quick:
        args.seconds, args.rounds, args.concurrency = 0.5, 1, [1, 8]

    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix="bench-gw-"))
    eng_port, gw_port = free_port(), free_port()
    servers = Servers(tmp).__enter__()  # the gateway checks API keys in PostgreSQL
    env = base_env(tmp, NAUTILUS_PORT_ANALYTICS=str(eng_port), NAUTILUS_PORT_GATEWAY=str(gw_port),
                   DATABASE_URL=servers.database_url, REDIS_URL=servers.redis_url,
                   # the hop is measured, not the per-key rate limit (1,200/minute by default would answer
                   # most calls with 429); the limiter still runs on every call at this limit
                   NAUTILUS_RATE_LIMIT_COMPUTE="1000000000/minute")
    engine = Proc("analytics", "engines.analytics", env, eng_port, tmp / "engine.log").start()
    gateway = Proc("gateway", "backend.gateway", env, gw_port, tmp / "gateway.log").start()
    auth = {"direct": INTERNAL_HEADERS, "gateway": {"X-API-Key": ADMIN_KEY}}
    direct_url, gw_url = f"http://127.0.0.1:{eng_port}{ROUTE}", f"http://127.0.0.1:{gw_port}{ROUTE}"
    rows = []
    try:
        for c in args.concurrency:
            results: dict[str, list[dict]] = {"direct": [], "gateway": []}
            for _ in range(args.rounds):
                results["direct"].append(asyncio.run(_round(direct_url, c, args.seconds, auth["direct"])))
                results["gateway"].append(asyncio.run(_round(gw_url, c, args.seconds, auth["gateway"])))
            row = {"concurrency": c}
            for kind, rs in results.items():
                row[kind] = {k: statistics.median(r[k] for r in rs) for k in ("p50_ms", "p99_ms", "rps")}
                row[kind]["requests"] = sum(r["requests"] for r in rs)
                row[kind]["errors"] = sum(r["errors"] for r in rs)
                row[kind]["samples_ms"] = [x for r in rs for x in r["samples_ms"]]
            row["hop_p50_ms"] = row["gateway"]["p50_ms"] - row["direct"]["p50_ms"]
            row["throughput_ratio"] = row["gateway"]["rps"] / row["direct"]["rps"]
            rows.append(row)
            print(json.dumps(row), flush=True)
    finally:
        gateway.stop()
        engine.stop()
        servers.__exit__()

    if any(r[k]["errors"] for r in rows for k in ("direct", "gateway")):
        raise SystemExit(f"calls failed: {[(r['concurrency'], r['direct']['errors'], r['gateway']['errors']) for r in rows]}")
    out = results_dir()
    report = Report("gateway")
    for r in rows:
        report.compare("gateway hop", f"small analytics call, {r['concurrency']} client(s), p50 latency",
                       "through the gateway", r["gateway"]["p50_ms"] / 1e3, "direct to the engine",
                       r["direct"]["p50_ms"] / 1e3, True, "the same engine answers both")
        for kind in ("direct", "gateway"):
            report.samples(f"{kind}, {r['concurrency']} client(s)", [x / 1e3 for x in r[kind]["samples_ms"]])
    for kind in ("direct", "gateway"):
        report.rate(kind, [r["concurrency"] for r in rows], [r[kind]["rps"] for r in rows])
    meta = {"machine": platform.platform(), "python": platform.python_version(), "cpus": _cpus(),
            "seconds_per_round": args.seconds, "rounds": args.rounds,
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    (out / "gateway.json").write_text(json.dumps({"meta": meta, "rows": rows, "report": report.as_dict()}, indent=2))
    lines = [
        "# Gateway benchmark", "",
        f"`{report.command}` on {meta['machine']}, {meta['cpus']} CPUs, {meta['date']}.",
        f"Median of {args.rounds} alternating rounds of {args.seconds:.0f} s; client on the same machine.", "",
        "| clients | direct p50 ms | direct p99 ms | direct req/s | gateway p50 ms | gateway p99 ms | gateway req/s "
        "| hop p50 ms | gateway/direct req/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        d, g = r["direct"], r["gateway"]
        lines.append(f"| {r['concurrency']} | {d['p50_ms']:.2f} | {d['p99_ms']:.2f} | {d['rps']:.0f} | "
                     f"{g['p50_ms']:.2f} | {g['p99_ms']:.2f} | {g['rps']:.0f} | {r['hop_p50_ms']:.2f} | "
                     f"{r['throughput_ratio']:.2f} |")
    (out / "gateway.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0


if __name__ == "__main__":
    main()
