"""Monte Carlo VaR served natively versus by the HTTP risk engine, through the gateway.

Run: ``.venv/bin/python benchmarks/native.py [--scenarios 1000000] [--assets 20 100 500]``
(on a GPU machine from source: ``PYTHONPATH=. python benchmarks/native.py``).
Starts a native risk process (device: CUDA, then MPS, then CPU; NAUTILUS_DEVICE overrides),
the HTTP risk engine and the gateway, on free ports. For each size it reports:
  compute      the operation's function alone, in-process, on the native device (median);
  native ipc   a call straight to the native socket (no gateway);
  gateway→native / gateway→http   end to end through the gateway (p50, p99).
Results: benchmarks/results/native.{json,md}, with the device name.
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
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backend.contract.operation import OpContext  # noqa: E402
from engines.risk.ops import ENGINE  # noqa: E402
from native_engines.device import select_device  # noqa: E402
from native_engines.ipc.client import NativeClient  # noqa: E402
from tests.support.native import start_module, stop, wait_socket  # noqa: E402
from tests.support.procs import Proc, base_env, free_port  # noqa: E402

OP = ENGINE.operation("simulate_monte_carlo_var")


def request(n_assets: int, scenarios: int, distribution: str) -> dict:
    rng = np.random.default_rng(n_assets)
    a = rng.normal(size=(n_assets, n_assets)) * 0.01
    cov = a @ a.T / n_assets + np.eye(n_assets) * 1e-4
    symbols = [f"S{i:03d}" for i in range(n_assets)]
    body = {"positions": [{"symbol": s, "value": float(v)} for s, v in zip(symbols, rng.uniform(-1e6, 2e6, n_assets), strict=True)],
            "market": {"symbols": symbols, "covariance": cov.tolist()},
            "confidence_levels": [0.99], "n_scenarios": scenarios, "distribution": distribution, "seed": 1}
    if distribution == "student_t":
        body["dof"] = 5.0
    return body


def _stats(samples: list[float]) -> dict:
    a = np.array(samples) * 1e3
    return {"p50_ms": float(np.percentile(a, 50)), "p99_ms": float(np.percentile(a, 99)), "n": len(a)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenarios", type=int, default=1_000_000)
    ap.add_argument("--assets", type=int, nargs="+", default=[20, 100, 500])
    ap.add_argument("--distributions", nargs="+", default=["gaussian", "student_t"])
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()

    device = select_device()
    fn = OP.load()
    tmp = Path(tempfile.mkdtemp(prefix="bench-native-"))
    risk_port, gw_port, gw_http_port = free_port(), free_port(), free_port()
    env = base_env(tmp, NAUTILUS_PORT_RISK=str(risk_port), NAUTILUS_INSTANCE_ID=f"bench{os.getpid()}")
    # the gateway hosts the trading core, which needs PostgreSQL: use the given or the local servers
    env.setdefault("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/nautilus")
    env.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
    procs: list = []
    rows = []
    try:
        native = start_module("native_engines.risk", env, tmp / "native-risk.log")
        engine = Proc("risk", "engines.risk", env, risk_port, tmp / "risk.log")
        gw_native = Proc("gateway", "backend.gateway", {**env, "NAUTILUS_PORT_GATEWAY": str(gw_port)}, gw_port,
                         tmp / "gw.log")
        gw_http = Proc("gateway-http", "backend.gateway", {**env, "NAUTILUS_PORT_GATEWAY": str(gw_http_port),
                                                           "NAUTILUS_NATIVE_ENABLED": "false"}, gw_http_port,
                       tmp / "gw-http.log")
        procs = [gw_native, gw_http, engine]
        for p in reversed(procs):
            p.start()
        wait_socket(tmp / "risk.sock", proc=native)
        import httpx

        client = httpx.Client(timeout=300)
        for dist in args.distributions:
            for n in args.assets:
                body = request(n, args.scenarios, dist)
                req = OP.request.model_validate(body)
                ctx = OpContext(engine="risk", device=device.device)
                fn(req, ctx)  # warm-up (kernels, allocator)
                compute = []
                for _ in range(args.repeat):
                    if device.type == "cuda":
                        import torch

                        torch.cuda.synchronize()
                    t0 = time.perf_counter()
                    res = fn(req, ctx)
                    compute.append(time.perf_counter() - t0)  # the function returns host floats: synced

                async def ipc_calls(body: dict = body) -> list[float]:
                    c = NativeClient(tmp / "risk.sock", connections=1)
                    await c.call(OP.name, body)
                    out = []
                    for _ in range(args.repeat):
                        t0 = time.perf_counter()
                        await c.call(OP.name, body, timeout_s=300)
                        out.append(time.perf_counter() - t0)
                    await c.close()
                    return out

                ipc = asyncio.run(ipc_calls())
                e2e: dict[str, list[float]] = {}
                for label, port in (("gateway_native", gw_port), ("gateway_http", gw_http_port)):
                    url = f"http://127.0.0.1:{port}{OP.route}"
                    r = client.post(url, json=body)
                    assert r.status_code == 200, r.text
                    served = r.headers["x-backend"]
                    assert served.startswith("native:" if label == "gateway_native" else "http:"), served
                    times = []
                    for _ in range(args.repeat):
                        t0 = time.perf_counter()
                        r = client.post(url, json=body)
                        times.append(time.perf_counter() - t0)
                    e2e[label] = times
                row = {"distribution": dist, "assets": n, "scenarios": args.scenarios,
                       "var_99": res.levels[0].var, "compute": _stats(compute), "native_ipc": _stats(ipc),
                       "gateway_native": _stats(e2e["gateway_native"]), "gateway_http": _stats(e2e["gateway_http"])}
                rows.append(row)
                print(json.dumps(row), flush=True)
    finally:
        for p in procs:
            p.stop()
        stop(native)

    meta = {"device": device.as_dict(), "machine": platform.platform(), "cpu_count": os.cpu_count(),
            "python": platform.python_version(), "repeat": args.repeat,
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    suffix = "" if device.type == "cpu" else f"-{device.type}"
    (out / f"native{suffix}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    md = [f"# Native vs HTTP: Monte Carlo VaR ({device.type}: {device.name})", "",
          f"`python benchmarks/native.py` on {meta['machine']}, {meta['cpu_count']} CPUs, torch "
          f"{device.torch_version}, {meta['date']}. {args.repeat} calls each; 99% VaR.", "",
          "| distribution | assets | scenarios | compute p50 ms | native IPC p50 ms | gateway→native p50 / p99 ms "
          "| gateway→HTTP p50 / p99 ms | speed-up (p50) |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['distribution']} | {r['assets']} | {r['scenarios']:,} | {r['compute']['p50_ms']:.2f} | "
                  f"{r['native_ipc']['p50_ms']:.2f} | {r['gateway_native']['p50_ms']:.2f} / "
                  f"{r['gateway_native']['p99_ms']:.2f} | {r['gateway_http']['p50_ms']:.2f} / "
                  f"{r['gateway_http']['p99_ms']:.2f} | "
                  f"{r['gateway_http']['p50_ms'] / r['gateway_native']['p50_ms']:.2f}x |")
    (out / f"native{suffix}.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
