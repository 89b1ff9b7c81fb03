"""ML engine benchmark: volatility fits against arch called directly, walk-forward evaluation, and direction
inference throughput (torch MLP on 30 features) in-process on the CPU, measured in one run.

    .venv/bin/python benchmarks/ml.py            # the full run
    .venv/bin/python benchmarks/ml.py --quick    # small sizes (CI keeps the script from rotting)

Like with like:
  GARCH fit     the engine's ``forecast_volatility`` (request validation, arch fit, 1..10-step forecast) against
                ``arch_model(100 * r, ...).fit(disp="off")`` + ``forecast(horizon=10)`` (EGARCH: simulated, 2,000
                paths, as the engine does) on the same 5,000 daily
                NASDAQ log returns (arch's sample), both warm, same repeats, medians: the difference is the
                engine's overhead. Agreement: parameters equal within 1e-6 relative, checked before timing.
  inference     ``predict_direction`` in-process (request validation, resident model lookup, torch forward on the
                CPU, response model) against the same torch MLP called directly on a tensor, for 1, 100 and
                10,000 rows of 30 features: rows/s and p50/p99 latency. Agreement: identical probabilities.
  gateway       ``predict_direction`` by registry name (the gateway resolves the version in PostgreSQL, then
                calls the native ML process, or the HTTP ML engine with the native path switched off), rows sent
                as typed binary arrays (nautilus_client, msgpack), one client, sequential calls: p50/p99 and
                rows/s for 1, 100 and 10,000 rows. Agreement: equal to the in-process probabilities.
GPU figures: run on a CUDA machine (the native process then serves on the GPU); none on this machine.
Writes benchmarks/results/ml.{json,md} (or $NAUTILUS_BENCH_OUT).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.contract.operation import OpContext, load_engine  # noqa: E402
from benchmarks.common import Report, machine, results_dir, timed  # noqa: E402
from engines.ml.compute import nets  # noqa: E402
from engines.ml.models.direction import MlpSpec  # noqa: E402

warnings.filterwarnings("ignore")
CTX = OpContext(engine="ml")
ARCH_ARGS = {"garch": ("GARCH", 0), "gjr_garch": ("GARCH", 1), "egarch": ("EGARCH", 1)}


def nasdaq_returns(n: int) -> np.ndarray:
    from arch.data import nasdaq

    close = nasdaq.load()["Close"].to_numpy(dtype=np.float64)
    return np.diff(np.log(close))[-n:]


def garch(report: Report, n: int, repeats: int) -> list[dict]:
    from arch import arch_model

    op = load_engine("ml").operation("forecast_volatility")
    fn = op.load()
    r = nasdaq_returns(n)
    rows = []
    for kind, (vol, o) in ARCH_ARGS.items():
        body = {"data": {"returns": r}, "model": {"model_type": kind}, "horizon_days": 10}

        def ours(body: dict = body) -> object:
            return fn(op.request.model_validate(body), CTX)

        def peer(vol: str = vol, o: int = o) -> object:
            res = arch_model(100 * r, vol=vol, p=1, o=o, q=1, dist="t").fit(disp="off", show_warning=False)
            if vol == "EGARCH":  # no closed form beyond one step: simulated, as the engine does
                res.forecast(horizon=10, reindex=False, method="simulation", simulations=2000,
                             random_state=np.random.RandomState(0))
            else:
                res.forecast(horizon=10, reindex=False)
            return res

        a, b = ours(), peer()
        agree = bool(np.allclose(list(a.params.values()), b.params.to_numpy(), rtol=1e-6, atol=1e-9))
        t_ours, _ = timed(ours, repeats)
        t_peer, _ = timed(peer, repeats)
        work = f"{kind} Student-t fit + 10-step forecast, {r.size:,} daily returns"
        report.compare("volatility", work, "forecast_volatility (engine)", t_ours, "arch called directly", t_peer,
                       agree, "parameters equal within 1e-6 relative")
        rows.append({"model": kind, "n": int(r.size), "ours_ms": t_ours * 1e3, "arch_ms": t_peer * 1e3,
                     "overhead_ms": (t_ours - t_peer) * 1e3, "agree": agree})
        print(rows[-1], flush=True)
    return rows


def walk_forward(report: Report, n: int) -> dict:
    op = load_engine("ml").operation("evaluate_volatility")
    req = op.request.model_validate({"data": {"returns": nasdaq_returns(n)}, "model": {"model_type": "gjr_garch"},
                                     "refit_every": 20})
    t0 = time.perf_counter()
    res = op.load()(req, CTX)
    dt = time.perf_counter() - t0
    report.figure("volatility", f"walk-forward GJR-GARCH: {res.window.refits} fits, {res.window.n_forecasts:,} "
                  "one-day forecasts", dt, "s")
    out = {"n": n, "refits": res.window.refits, "forecasts": res.window.n_forecasts, "seconds": dt,
           "qlike": res.model.qlike, "baseline_qlike": res.baseline.qlike}
    print(out, flush=True)
    return out


def mlp_state(n_features: int, seed: int = 0) -> tuple[torch.nn.Module, dict]:
    net = nets.build(MlpSpec(model_type="mlp", hidden=[64, 32]), n_features)
    rng = np.random.default_rng(seed)
    state = {k: (np.ones(v.numel()) if k == "sd" else rng.normal(0, 0.3, v.numel())).astype(np.float32)
             for k, v in net.state_dict().items()}
    net.load_state_dict({k: torch.from_numpy(a).reshape(net.state_dict()[k].shape) for k, a in state.items()})
    return net.eval(), {k: a.astype(np.float64) for k, a in state.items()}


def inference(report: Report, sizes: list[int], seconds_each: float) -> list[dict]:
    op = load_engine("ml").operation("predict_direction")
    fn = op.load()
    net, state = mlp_state(30)
    inline = {"spec": {"model_type": "mlp", "hidden": [64, 32]}, "n_features": 30, "state": state}
    rng = np.random.default_rng(1)
    rows = []
    for n in sizes:
        X = rng.normal(size=(n, 30))
        body = {"inline": inline, "rows": X}

        def ours(body: dict = body) -> np.ndarray:
            return fn(op.request.model_validate(body), CTX).probability_up

        def direct(X: np.ndarray = X) -> np.ndarray:
            return nets.predict_proba(net, X)

        agree = bool(np.array_equal(ours(), direct()))
        out = {"rows": n, "agree": agree}
        for name, f in (("in-process operation", ours), ("torch directly", direct)):
            samples, t_end = [], time.perf_counter() + seconds_each
            f()
            while time.perf_counter() < t_end or len(samples) < 5:
                t0 = time.perf_counter()
                f()
                samples.append(time.perf_counter() - t0)
            p50 = statistics.median(samples)
            p99 = float(np.quantile(samples, 0.99))
            out[name] = {"p50_ms": p50 * 1e3, "p99_ms": p99 * 1e3, "rows_per_s": n / p50, "calls": len(samples)}
            if name == "in-process operation":
                report.samples(f"predict_direction MLP 30 features, {n:,} rows, in-process (CPU)",
                               samples[:: max(1, len(samples) // 300)])
                report.figure("inference", f"MLP 30 features, {n:,} rows per call, in-process (CPU)", n / p50,
                              "rows/s")
        report.compare("inference", f"MLP 30->64->32->1, {n:,} rows, CPU", "predict_direction (in-process)",
                       out["in-process operation"]["p50_ms"] / 1e3, "torch directly",
                       out["torch directly"]["p50_ms"] / 1e3, agree, "identical probabilities")
        rows.append(out)
        print(out, flush=True)
    return rows


def through_gateway(report: Report, sizes: list[int], seconds_each: float) -> list[dict]:
    """predict_direction by name through a gateway with the native path, and one without it."""
    import asyncio
    import tempfile

    import asyncpg

    from benchmarks.common import Servers
    from engines.ml.compute import serving
    from engines.ml.registry import artifacts, store
    from nautilus_client import Client
    from tests.support.access import ADMIN_KEY
    from tests.support.native import instance_env, start_module, stop, wait_socket
    from tests.support.procs import Proc, base_env, free_port

    tmp = Path(tempfile.mkdtemp(prefix="bench-ml-"))
    servers = Servers(tmp).__enter__()
    net, _ = mlp_state(30)
    path = artifacts.models_dir(tmp) / "bench-mlp" / "bench.safetensors"
    spec = MlpSpec(model_type="mlp", hidden=[64, 32])
    digest = serving.save_torch(path, net, {"spec": spec.model_dump(mode="json"), "n_features": 30})

    async def register() -> None:
        pool = await asyncpg.create_pool(servers.database_url, min_size=1, max_size=2)
        try:
            await pool.execute("DELETE FROM ml_models WHERE name = 'bench-mlp'")
            v = await store.register(pool, name="bench-mlp", task="direction", description="benchmark", row={
                "model_type": "mlp", "hyperparams": spec.model_dump(mode="json"), "dataset": {"inline": True},
                "data_hash": "0" * 64, "n_train": 0, "train_start": None, "train_end": None, "metrics": {},
                "artifact_path": str(path), "artifact_hash": digest, "job_id": None})
            await store.set_stage(pool, "bench-mlp", v, "production", "benchmark")
        finally:
            await pool.close()

    asyncio.run(register())
    ml_port, gw_port, gw_http_port = free_port(), free_port(), free_port()
    env = instance_env(base_env(tmp, NAUTILUS_PORT_ML=str(ml_port), DATABASE_URL=servers.database_url,
                                REDIS_URL=servers.redis_url, NAUTILUS_JOB_WORKERS="1",
                                NAUTILUS_RATE_LIMIT_COMPUTE=""))  # measuring throughput, not the per-key limit
    procs: list[Proc] = []
    native = None
    rows: list[dict] = []
    try:
        native = start_module("native_engines.ml", env, tmp / "native-ml.log")
        procs = [Proc("ml", "engines.ml", env, ml_port, tmp / "ml.log"),
                 Proc("gateway", "backend.gateway", {**env, "NAUTILUS_PORT_GATEWAY": str(gw_port)}, gw_port,
                      tmp / "gw.log"),
                 Proc("gateway-http", "backend.gateway", {**env, "NAUTILUS_PORT_GATEWAY": str(gw_http_port),
                                                          "NAUTILUS_NATIVE_ENABLED": "false"}, gw_http_port,
                      tmp / "gw-http.log")]
        for p in procs:
            p.start()
        wait_socket(tmp / "ml.sock", proc=native)
        rng = np.random.default_rng(3)
        for n in sizes:
            X = rng.normal(size=(n, 30))
            want = nets.predict_proba(net, X)
            row: dict = {"rows": n}
            for backend, port in (("native", gw_port), ("http", gw_http_port)):
                with Client(f"http://127.0.0.1:{port}", ADMIN_KEY, binary=True, timeout_s=120) as c:
                    body = {"name": "bench-mlp", "rows": X}
                    got = np.asarray(c.call("ml", "predict_direction", body)["probability_up"])
                    assert c.last_backend and c.last_backend.startswith(f"{backend}:"), c.last_backend
                    agree = bool(np.array_equal(got, want))
                    samples, t_end = [], time.perf_counter() + seconds_each
                    while time.perf_counter() < t_end or len(samples) < 5:
                        t0 = time.perf_counter()
                        c.call("ml", "predict_direction", body)
                        samples.append(time.perf_counter() - t0)
                p50 = statistics.median(samples)
                row[backend] = {"p50_ms": p50 * 1e3, "p99_ms": float(np.quantile(samples, 0.99)) * 1e3,
                                "rows_per_s": n / p50, "calls": len(samples), "agree": agree}
                report.samples(f"predict_direction MLP 30 features, {n:,} rows, gateway -> {backend} (CPU)",
                               samples[:: max(1, len(samples) // 300)])
                report.figure("inference", f"MLP 30 features, {n:,} rows per call, gateway -> {backend} (CPU)",
                              n / p50, "rows/s")
            rows.append(row)
            print(row, flush=True)
    finally:
        for p in procs:
            p.stop()
        if native is not None:
            stop(native)
        servers.__exit__()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes")
    ap.add_argument("--repeats", type=int, default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)  # a shared 2-core machine: one thread, the same for ours and the peer
    report = Report("ml")
    repeats = args.repeats or (2 if args.quick else 7)
    n = 1_000 if args.quick else 5_000
    result = {"meta": machine(), "torch_threads": 1,
              "garch": garch(report, n, repeats),
              "walk_forward": walk_forward(report, 1_500 if args.quick else 5_000),
              "inference": inference(report, [1, 100] if args.quick else [1, 100, 10_000],
                                     0.2 if args.quick else 2.0),
              "gateway": through_gateway(report, [1, 100] if args.quick else [1, 100, 10_000],
                                         0.3 if args.quick else 3.0)}
    result["report"] = report.as_dict()
    out = results_dir() / "ml"
    out.with_suffix(".json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    md = ["# ML engine benchmark", "", f"`{report.command}`", "", "## Volatility fit: engine vs arch called directly",
          "", "| model | returns | engine ms | arch ms | overhead ms | params agree |", "|---|---|---|---|---|---|"]
    md += [f"| {g['model']} | {g['n']:,} | {g['ours_ms']:.1f} | {g['arch_ms']:.1f} | {g['overhead_ms']:.1f} | "
           f"{'yes' if g['agree'] else 'NO'} |" for g in result["garch"]]
    w = result["walk_forward"]
    md += ["", f"Walk-forward GJR-GARCH on {w['n']:,} returns: {w['refits']} fits, {w['forecasts']:,} forecasts in "
           f"{w['seconds']:.2f} s (QLIKE {w['qlike']:.4f} vs EWMA {w['baseline_qlike']:.4f}).", "",
           "## Inference: MLP 30 -> 64 -> 32 -> 1 on the CPU (1 torch thread)", "",
           "| rows per call | path | p50 ms | p99 ms | rows/s | agree |", "|---|---|---|---|---|---|"]
    for r in result["inference"]:
        for name in ("in-process operation", "torch directly"):
            x = r[name]
            md.append(f"| {r['rows']:,} | {name} | {x['p50_ms']:.3f} | {x['p99_ms']:.3f} | {x['rows_per_s']:,.0f} | "
                      f"{'yes' if r['agree'] else 'NO'} |")
    md += ["", "## Inference through the gateway (by registry name, binary arrays, one sequential client, CPU)", "",
           "| rows per call | gateway -> | p50 ms | p99 ms | rows/s | equal to in-process |", "|---|---|---|---|---|---|"]
    for r in result["gateway"]:
        for backend in ("native", "http"):
            x = r[backend]
            md.append(f"| {r['rows']:,} | {backend} | {x['p50_ms']:.2f} | {x['p99_ms']:.2f} | {x['rows_per_s']:,.0f} | "
                      f"{'yes' if x['agree'] else 'NO'} |")
    md += ["", "GPU figures: none (no GPU on this machine); run this script on a CUDA machine for them."]
    out.with_suffix(".md").write_text("\n".join(md) + "\n")
    print(f"wrote {out}.json and {out}.md")
    if not all(g["agree"] for g in result["garch"]) or not all(r["agree"] for r in result["inference"]) or not all(
            r[b]["agree"] for r in result["gateway"] for b in ("native", "http")):
        sys.exit("answers disagree: see the report")


if __name__ == "__main__":
    main()
