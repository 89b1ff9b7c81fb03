"""Wire -> compute -> wire: Monte Carlo VaR through the gateway, native and HTTP, JSON and binary.

    .venv/bin/python benchmarks/native.py                 # the full run (several minutes on 2 cores)
    .venv/bin/python benchmarks/native.py --quick         # small sizes, a few calls (keeps the script runnable)
    PYTHONPATH=. python benchmarks/native.py              # from a source checkout (benchmarks/gpu_suite.sh)

Starts, on free ports and with their own run directory, a native risk process (device: CUDA, then MPS, then
CPU; NAUTILUS_DEVICE overrides), the HTTP risk engine and two gateways (one routes to the native process, one
has native routing switched off), on the local PostgreSQL and Redis or embedded ones (backend/launcher/infra.py).
Per request size it reports, as medians (p99 beside) of the same number of warm calls:
  compute          the operation's function alone, in-process, on the native device, request already validated;
  gateway→native   end to end through the gateway to the native process, JSON and binary (application/msgpack);
  gateway→HTTP     end to end through the gateway to the HTTP risk engine, JSON and binary;
each end to end call made by nautilus_client (the request encoded, the response decoded: wire to wire).
The transport's share is end-to-end / compute. Results: benchmarks/results/native[-<device>].{json,md}.
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
from backend.core.settings import Settings  # noqa: E402
from backend.launcher import infra  # noqa: E402
from backend.storage.migrate import migrate_url  # noqa: E402
from engines.risk.ops import ENGINE  # noqa: E402
from native_engines.device import select_device  # noqa: E402
from nautilus_client import Client  # noqa: E402
from tests.support.access import ADMIN_KEY  # noqa: E402
from tests.support.native import start_module, stop, wait_socket  # noqa: E402
from tests.support.procs import Proc, base_env, free_port  # noqa: E402

OP = ENGINE.operation("simulate_monte_carlo_var")
RESULTS = ROOT / "benchmarks" / "results"


def request(n_assets: int, scenarios: int, distribution: str, method: str) -> dict:
    """A linear book on inline market data; the covariance a numpy array (JSON turns it into lists)."""
    rng = np.random.default_rng(n_assets)
    a = rng.normal(size=(n_assets, n_assets)) * 0.01
    cov = a @ a.T / n_assets + np.eye(n_assets) * 1e-4
    symbols = [f"S{i:03d}" for i in range(n_assets)]
    body = {"positions": [{"symbol": s, "value": float(v)}
                          for s, v in zip(symbols, rng.uniform(-1e6, 2e6, n_assets), strict=True)],
            "market": {"symbols": symbols, "covariance": cov}, "method": method,
            "confidence_levels": [0.99], "n_scenarios": scenarios, "distribution": distribution, "seed": 1}
    if distribution == "student_t":
        body["dof"] = 5.0
    return body


def _stats(samples: list[float]) -> dict:
    a = np.array(samples) * 1e3
    return {"p50_ms": float(np.percentile(a, 50)), "p99_ms": float(np.percentile(a, 99)), "n": len(a)}


def _sync(device_type: str) -> None:
    if device_type == "cuda":
        import torch

        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenarios", type=int, default=1_000_000, help="scenarios of the linear-shortcut cases")
    ap.add_argument("--asset-scenarios", type=int, default=None,
                    help="scenarios of the asset-level case (default 1,000,000 on a GPU, 200,000 on a CPU)")
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--quick", action="store_true", help="20,000 scenarios, 3 calls each")
    ap.add_argument("--out", default=None, help="results path without extension")
    args = ap.parse_args()

    device = select_device()
    gpu = device.type != "cpu"
    n_lin = 20_000 if args.quick else args.scenarios
    n_asset = 20_000 if args.quick else (args.asset_scenarios or (1_000_000 if gpu else 200_000))
    reps = 3 if args.quick else args.repeat
    cases = [("linear_shortcut", "gaussian", n, n_lin) for n in (20, 100, 500)]
    cases += [("linear_shortcut", "student_t", 500, n_lin), ("asset_level", "gaussian", 100, n_asset)]

    fn = OP.load()
    tmp = Path(tempfile.mkdtemp(prefix="bench-native-"))
    servers = infra.ensure(Settings(run_dir=tmp, instance_id="bench"))  # database nautilus_bench, reused
    asyncio.run(migrate_url(servers.database_url))
    risk_port, gw_port, gw_http_port = free_port(), free_port(), free_port()
    env = base_env(tmp, NAUTILUS_PORT_RISK=str(risk_port), DATABASE_URL=servers.database_url,
                   REDIS_URL=servers.redis_url)
    procs: list[Proc] = []
    native = None
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
        clients = {(backend, enc): Client(f"http://127.0.0.1:{port}", ADMIN_KEY, binary=enc == "binary",
                                          timeout_s=600)
                   for backend, port in (("native", gw_port), ("http", gw_http_port)) for enc in ("json", "binary")}
        for method, dist, n, scenarios in cases:
            body = request(n, scenarios, dist, method)
            req = OP.request.model_validate(body)
            ctx = OpContext(engine="risk", device=device.device)
            res = fn(req, ctx)  # warm: kernels, allocator
            compute = []
            for _ in range(reps):
                _sync(device.type)
                t0 = time.perf_counter()
                fn(req, ctx)  # returns host floats: synchronised
                compute.append(time.perf_counter() - t0)
            row = {"method": method, "distribution": dist, "assets": n, "scenarios": scenarios,
                   "var_99": res.levels[0].var, "compute": _stats(compute)}
            for (backend, enc), client in clients.items():
                out = client.call("risk", OP.name, body)  # warm, and checked
                assert client.last_backend and client.last_backend.startswith(f"{backend}:"), client.last_backend
                assert abs(out["levels"][0]["var"] - res.levels[0].var) <= 1e-9 * abs(res.levels[0].var) or gpu
                times = []
                for _ in range(reps):
                    t0 = time.perf_counter()
                    client.call("risk", OP.name, body)
                    times.append(time.perf_counter() - t0)
                row[f"gateway_{backend}_{enc}"] = _stats(times)
            rows.append(row)
            print(json.dumps(row), flush=True)
        for c in clients.values():
            c.close()
    finally:
        for p in procs:
            p.stop()
        if native is not None:
            stop(native)
        infra.release(tmp)

    meta = {"device": device.as_dict(), "machine": platform.platform(), "cpu_count": os.cpu_count(),
            "python": platform.python_version(), "repeat": reps,
            "command": "benchmarks/native.py " + " ".join(sys.argv[1:]),
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    suffix = "" if device.type == "cpu" else f"-{device.type}"
    out = Path(args.out) if args.out else RESULTS / f"native{suffix}"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    md = [f"# Wire to wire: Monte Carlo VaR through the gateway ({device.type}: {device.name})", "",
          f"`{meta['command']}` on {meta['machine']}, {meta['cpu_count']} CPUs, torch {device.torch_version}, "
          f"{meta['date']}. Medians of {reps} warm calls (p99 in the JSON); 99% VaR; the covariance inline. "
          "End to end = nautilus_client encodes, the gateway validates and routes, the engine computes, the "
          "response is decoded. The ratio column is gateway→native binary over compute alone.", "",
          "| method | distribution | assets | scenarios | compute ms | →native binary ms | →native JSON ms | "
          "→HTTP binary ms | →HTTP JSON ms | native binary / compute |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        c = r["compute"]["p50_ms"]
        md.append(f"| {r['method']} | {r['distribution']} | {r['assets']} | {r['scenarios']:,} | {c:.2f} | "
                  f"{r['gateway_native_binary']['p50_ms']:.2f} | {r['gateway_native_json']['p50_ms']:.2f} | "
                  f"{r['gateway_http_binary']['p50_ms']:.2f} | {r['gateway_http_json']['p50_ms']:.2f} | "
                  f"{r['gateway_native_binary']['p50_ms'] / c:.2f}x |")
    out.with_suffix(".md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
