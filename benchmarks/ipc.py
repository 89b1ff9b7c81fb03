"""Native IPC benchmark: small-call round trip, pipelined calls/s, and a 100 MB array
through the socket alone versus through shared memory.

Run: ``.venv/bin/python benchmarks/ipc.py``. The server runs in its own process (as a
native engine does). Results: benchmarks/results/ipc.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from native_engines.ipc.client import NativeClient  # noqa: E402
from native_engines.ipc.server import NativeServer  # noqa: E402
from native_engines.ipc.shm import ShmPool  # noqa: E402

INSTANCE = f"bench{os.getpid()}"


def _handlers() -> dict:
    return {
        "echo": lambda body: {"v": body["v"]},
        "checksum": lambda body: {"n": int(np.asarray(body["x"]).size), "first": float(np.asarray(body["x"])[0])},
    }


async def _serve(path: str) -> None:
    import signal

    srv = NativeServer("bench", Path(path), _handlers(), instance=INSTANCE, error_mapper=lambda e, op: {
        "status": 500, "detail": repr(e)}, info=dict)
    await srv.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await srv.drain_and_close(2)


def _pct(lat: list[float]) -> dict:
    a = np.array(lat) * 1e6
    return {"p50_us": float(np.percentile(a, 50)), "p99_us": float(np.percentile(a, 99)), "n": len(a)}


async def _bench(path: str, n_small: int, mb: int) -> dict:
    out: dict = {}
    client = NativeClient(path, connections=1)
    await client.ping()
    for _ in range(500):  # warm-up
        await client.ping()
    lat = []
    for _ in range(n_small):
        t0 = time.perf_counter()
        await client.ping()
        lat.append(time.perf_counter() - t0)
    out["ping_sequential"] = _pct(lat)
    lat = []
    for i in range(n_small):
        t0 = time.perf_counter()
        await client.call("echo", {"v": i})
        lat.append(time.perf_counter() - t0)
    out["call_sequential"] = _pct(lat)
    out["call_sequential"]["calls_per_s"] = n_small / sum(lat)
    # pipelined: a window of calls in flight on one connection
    window, total = 256, n_small * 4
    t0 = time.perf_counter()
    for start in range(0, total, window):
        await asyncio.gather(*(client.call("echo", {"v": i}) for i in range(start, min(total, start + window))))
    out["call_pipelined"] = {"window": window, "calls": total, "calls_per_s": total / (time.perf_counter() - t0)}
    await client.close()

    x = np.random.default_rng(0).normal(size=mb * 1024 * 1024 // 8)
    for label, pool in (("socket_only", None), ("shared_memory", ShmPool(INSTANCE, "bench", segment_bytes=x.nbytes))):
        c = NativeClient(path, connections=1, pool=pool)
        await c.call("checksum", {"x": x})  # warm: connection, segment creation, server attach
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            r = await c.call("checksum", {"x": x})
            times.append(time.perf_counter() - t0)
            assert r["n"] == x.size and r["first"] == x[0]
        med = float(np.median(times))
        out[f"array_{label}"] = {"mb": mb, "median_s": med, "mb_per_s": mb / med}
        await c.close()
    out["shm_speedup"] = out["array_socket_only"]["median_s"] / out["array_shared_memory"]["median_s"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--serve")
    ap.add_argument("--calls", type=int, default=5000)
    ap.add_argument("--mb", type=int, default=100)
    args = ap.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    if args.serve:
        asyncio.run(_serve(args.serve))
        return
    path = str(Path(tempfile.mkdtemp(prefix="bench-ipc-")) / "b.sock")
    server = subprocess.Popen([sys.executable, __file__, "--serve", path], cwd=ROOT)
    try:
        for _ in range(100):
            if Path(path).exists():
                break
            time.sleep(0.05)
        res = asyncio.run(_bench(path, args.calls, args.mb))
    finally:
        server.terminate()
        server.wait(10)
    meta = {"machine": platform.platform(), "cpu_count": os.cpu_count(), "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    outdir = ROOT / "benchmarks" / "results"
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / "ipc.json").write_text(json.dumps({"meta": meta, "results": res}, indent=2))
    r = res
    md = [
        "# Native IPC benchmark", "",
        f"`.venv/bin/python benchmarks/ipc.py` on {meta['machine']}, {meta['cpu_count']} CPUs, {meta['date']}; "
        "server in its own process, uvloop on both sides.", "",
        "| measure | value |", "|---|---|",
        f"| ping round trip p50 / p99 | {r['ping_sequential']['p50_us']:.1f} / {r['ping_sequential']['p99_us']:.1f} µs |",
        f"| small call (op dispatch + worker thread) p50 / p99 | {r['call_sequential']['p50_us']:.1f} / "
        f"{r['call_sequential']['p99_us']:.1f} µs |",
        f"| small calls sequential | {r['call_sequential']['calls_per_s']:.0f} calls/s |",
        f"| small calls pipelined (window {r['call_pipelined']['window']}) | {r['call_pipelined']['calls_per_s']:.0f} calls/s |",
        f"| {args.mb} MB array, socket only | {r['array_socket_only']['median_s'] * 1e3:.1f} ms "
        f"({r['array_socket_only']['mb_per_s']:.0f} MB/s) |",
        f"| {args.mb} MB array, shared memory | {r['array_shared_memory']['median_s'] * 1e3:.1f} ms "
        f"({r['array_shared_memory']['mb_per_s']:.0f} MB/s) |",
        f"| shared-memory speed-up | {r['shm_speedup']:.1f}x |",
    ]
    (outdir / "ipc.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
