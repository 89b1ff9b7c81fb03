"""Native IPC benchmark: small-call round trip, pipelined calls/s, a 100 MB array through the socket
alone versus through shared memory, and the same comparison through a real operation handler.

Run: ``.venv/bin/python benchmarks/ipc.py`` (``--quick``: fewer calls, smaller arrays). The servers run in
their own processes (as a native engine does). The real-operation case serves the features engine's
``compute_indicators_gpu`` with the native server's own handler (request model validation, the torch
compute on the selected device, the response model; arrays as arrays both ways) on a panel of close
prices (100 symbols x 100,000 bars by default: 80 MB in, 80 MB of SMA out), and times, medians:
  compute       validation + the function in this process (no transport);
  socket only   the call with the arrays inline in the socket frames;
  shared memory the call with the arrays placed in shared memory both ways.
Results: benchmarks/results/ipc.{json,md}.
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

INSTANCE = os.environ.get("BENCH_IPC_INSTANCE") or f"bench{os.getpid()}"  # the servers share the client's


def _handlers() -> dict:
    return {
        "echo": lambda body: {"v": body["v"]},
        "checksum": lambda body: {"n": int(np.asarray(body["x"]).size), "first": float(np.asarray(body["x"])[0])},
    }


REAL_OP = ("features", "compute_indicators_gpu")


def _real_request(symbols: int, bars: int) -> dict:
    rng = np.random.default_rng(0)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (symbols, bars)), axis=1))
    return {"series": [{"symbol": f"S{i}", "close": close[i]} for i in range(symbols)],
            "indicators": [{"name": "sma", "params": {"timeperiod": 20}}]}


async def _serve_real(path: str) -> None:
    """A native server whose one handler is the real operation's, built as native_engines.serve builds it."""
    import signal

    from backend.contract.operation import load_engine
    from backend.core.settings import get_settings
    from native_engines.device import select_device
    from native_engines.serve import make_handler, map_error

    op = load_engine(REAL_OP[0]).operation(REAL_OP[1])
    handlers = {op.native_key: make_handler(op, select_device(), get_settings())}
    srv = NativeServer("bench", Path(path), handlers, instance=INSTANCE, error_mapper=map_error, info=dict)
    await srv.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await srv.drain_and_close(2)


async def _bench_real(path: str, body: dict, repeats: int) -> dict:
    from backend.contract.operation import OpContext, load_engine
    from native_engines.device import select_device

    op = load_engine(REAL_OP[0]).operation(REAL_OP[1])
    fn, device = op.load(), select_device()
    nbytes = sum(s["close"].nbytes for s in body["series"])

    def local() -> None:
        fn(op.request.model_validate(body), OpContext(engine=op.engine, device=device.device)).model_dump()

    local()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        local()
        times.append(time.perf_counter() - t0)
    out: dict = {"op": op.native_key, "mb_in": nbytes / 2**20, "compute_s": float(np.median(times))}
    for label, pool in (("socket_only", None),
                        ("shared_memory", ShmPool(INSTANCE, "benchreal", segment_bytes=nbytes + (1 << 20)))):
        c = NativeClient(path, connections=1, pool=pool)
        res = await c.call(op.native_key, body, timeout_s=600, want="tree")  # warm: segments, server attach
        col = res["results"][0]["values"]["sma_20"]
        assert isinstance(col, np.ndarray) and col.size == body["series"][0]["close"].size
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            await c.call(op.native_key, body, timeout_s=600, want="tree")
            times.append(time.perf_counter() - t0)
        out[f"{label}_s"] = float(np.median(times))
        await c.close()
    out["shm_speedup"] = out["socket_only_s"] / out["shared_memory_s"]
    out["shm_transport_s"] = out["shared_memory_s"] - out["compute_s"]
    out["socket_transport_s"] = out["socket_only_s"] - out["compute_s"]
    return out


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
    ap.add_argument("--serve-real")
    ap.add_argument("--calls", type=int, default=5000)
    ap.add_argument("--mb", type=int, default=100)
    ap.add_argument("--symbols", type=int, default=100)
    ap.add_argument("--bars", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="500 calls, 10 MB, 10 x 100,000 bars, 2 repeats")
    args = ap.parse_args()
    if args.quick:
        args.calls, args.mb, args.symbols, args.repeat = 500, 10, 10, 2
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    if args.serve:
        asyncio.run(_serve(args.serve))
        return
    if args.serve_real:
        asyncio.run(_serve_real(args.serve_real))
        return
    tmp = Path(tempfile.mkdtemp(prefix="bench-ipc-"))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NAUTILUS_RUN_DIR": str(tmp), "NAUTILUS_LOG_LEVEL": "WARNING",
           "BENCH_IPC_INSTANCE": INSTANCE}
    res: dict = {}
    for flag, sock, run in (("--serve", tmp / "b.sock", lambda p: _bench(p, args.calls, args.mb)),
                            ("--serve-real", tmp / "real.sock",
                             lambda p: _bench_real(p, _real_request(args.symbols, args.bars), args.repeat))):
        server = subprocess.Popen([sys.executable, __file__, flag, str(sock)], cwd=ROOT, env=env)
        try:
            for _ in range(1200):  # the real server imports torch and the engines first
                if sock.exists() or server.poll() is not None:
                    break
                time.sleep(0.05)
            out = asyncio.run(run(str(sock)))
            res.update(out if flag == "--serve" else {"real_op": out})
        finally:
            server.terminate()
            server.wait(10)
    meta = {"machine": platform.platform(), "cpu_count": os.cpu_count(), "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    from benchmarks.common import Report, results_dir

    outdir = results_dir()
    report = Report("ipc")
    ro = res["real_op"]
    report.compare("native IPC", f"{ro['op']} (SMA 20), {ro['mb_in']:.0f} MB in and out", "shared memory",
                   ro["shared_memory_s"], "socket only", ro["socket_only_s"], True,
                   "same result column checked on both paths")
    report.compare("native IPC", f"{args.mb} MB array, bare handler", "shared memory",
                   res["array_shared_memory"]["median_s"], "socket only", res["array_socket_only"]["median_s"],
                   True, "size and first value checked on every call")
    report.figure("native IPC", "ping round trip p50", res["ping_sequential"]["p50_us"], "µs")
    report.figure("native IPC", "small calls pipelined", res["call_pipelined"]["calls_per_s"], "calls/s")
    (outdir / "ipc.json").write_text(json.dumps({"meta": meta, "results": res, "report": report.as_dict()},
                                                indent=2))
    r = res
    md = [
        "# Native IPC benchmark", "",
        f"`{report.command}` on {meta['machine']}, {meta['cpu_count']} CPUs, {meta['date']}; "
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
        "", f"Through a real operation handler: `{r['real_op']['op']}` (SMA 20) on {args.symbols} symbols x "
        f"{args.bars:,} bars ({r['real_op']['mb_in']:.0f} MB in, as much out), medians of {args.repeat}:", "",
        "| path | call ms | transport ms (call - compute) |", "|---|---|---|",
        f"| compute alone (validation + function + response model, in-process) | "
        f"{r['real_op']['compute_s'] * 1e3:.1f} | - |",
        f"| native call, socket only | {r['real_op']['socket_only_s'] * 1e3:.1f} | "
        f"{r['real_op']['socket_transport_s'] * 1e3:.1f} |",
        f"| native call, shared memory | {r['real_op']['shared_memory_s'] * 1e3:.1f} | "
        f"{r['real_op']['shm_transport_s'] * 1e3:.1f} |",
        f"| shared-memory speed-up of the whole call | {r['real_op']['shm_speedup']:.1f}x | |",
    ]
    (outdir / "ipc.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
