"""Monte Carlo VaR: our engine against numpy running the same algorithm, measured in one run.

    .venv/bin/python benchmarks/risk.py                     # the full run (a few minutes on 2 cores)
    .venv/bin/python benchmarks/risk.py --quick             # small sizes (CI keeps the script from rotting)

Three cases, each compared like with like (same algorithm, both warm, same repeats, medians):
  linear shortcut  a linear book's one-day P&L drawn at portfolio level: m + s z, s = sqrt(w'Cw), one normal a
                   scenario (Student-t: the same with a chi-square mix). numpy: the same draws and np.partition.
  asset level      every asset simulated: X = mu + Z L' (n x N), P&L = X w. numpy: the same, in blocks.
  option book      asset level with options: 100 underlyings, 1,000 European options revalued by Black-Scholes in
                   every scenario (numpy: scipy's normal CDF on the same (n x options) blocks).
Ours runs on CPU here (and on CUDA too when torch sees a GPU: `benchmarks/gpu_suite.sh`). Agreement of every
pair is checked before its time is reported: |ours - numpy| / sqrt(2 se^2) (different random
streams, so a z-score, not equality; numpy's SE is taken equal to ours: same n, same estimator). Results: benchmarks/results/risk.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy import special

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backend.contract.operation import OpContext  # noqa: E402
from engines.risk.compute.montecarlo import monte_carlo_var  # noqa: E402
from engines.risk.models.var import MonteCarloVarRequest  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
ALPHA = 0.99
DOF = 5.0
BLOCK_ELEMENTS = 1 << 22  # numpy works in blocks of the same size as ours (CHUNK_ELEMENTS)


def book(N: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(N, N))
    C = (A @ A.T / N + np.eye(N)) * 1e-4
    return np.full(N, 2e-4), C, rng.uniform(-1.0, 2.0, size=N) * 1e6


def options_book(N: int, M: int, seed: int = 1) -> dict:
    rng = np.random.default_rng(seed)
    return {"col": rng.integers(0, N, M), "spot": rng.uniform(20, 200, M), "strike_rel": rng.uniform(0.8, 1.2, M),
            "expiry": rng.uniform(0.05, 2.0, M), "iv": rng.uniform(0.1, 0.6, M), "qty": rng.uniform(-50, 50, M),
            "call": rng.random(M) < 0.5}


def tail(losses: np.ndarray) -> tuple[float, float]:
    n = losses.size
    k = math.ceil(ALPHA * n - 1e-9)
    part = np.partition(losses, k - 1)
    var = float(part[k - 1])
    return var, (float(part[k:].sum()) + (k - ALPHA * n) * var) / (n * (1 - ALPHA))


# ---- numpy, the same algorithms ------------------------------------------------------------
def numpy_shortcut(mu, C, w, n, dist, rng):  # noqa: ANN001, ANN201
    np.linalg.cholesky(C)  # the input check ours makes (a covariance must be positive definite)
    m, s = float(w @ mu), math.sqrt(float(w @ C @ w))
    z = rng.standard_normal(n)
    if dist == "student_t":
        z = z * math.sqrt((DOF - 2) / DOF) / np.sqrt(rng.chisquare(DOF, n) / DOF)
    return tail(-(m + s * z))


def numpy_asset(mu, C, w, n, dist, rng, opts=None):  # noqa: ANN001, ANN201
    LT = np.linalg.cholesky(C).T
    N = mu.size
    width = N + (0 if opts is None else opts["spot"].size)
    block = max(16, BLOCK_ELEMENTS // width)
    pnl = np.empty(n)
    if opts is not None:
        K = opts["spot"] * opts["strike_rel"]
        T1 = opts["expiry"] - 1 / 252
        v0 = bs_numpy(opts["spot"], K, opts["expiry"], opts["iv"], opts["call"])
    for lo in range(0, n, block):
        k = min(block, n - lo)
        X = rng.standard_normal((k, N)) @ LT
        if dist == "student_t":
            X *= (math.sqrt((DOF - 2) / DOF) / np.sqrt(rng.chisquare(DOF, k) / DOF))[:, None]
        X += mu
        p = X @ w
        if opts is not None:
            S1 = opts["spot"] * (1 + X[:, opts["col"]])
            p += ((bs_numpy(S1, K, T1, opts["iv"], opts["call"]) - v0) * opts["qty"] * 100.0).sum(axis=1)
        pnl[lo:lo + k] = p
    return tail(-pnl)


def bs_numpy(S, K, T, v, call):  # noqa: ANN001, ANN201
    sq = v * np.sqrt(T)
    d1 = (np.log(S / K) + 0.5 * v * v * T) / sq
    d2 = d1 - sq
    return np.where(call, S * special.ndtr(d1) - K * special.ndtr(d2), K * special.ndtr(-d2) - S * special.ndtr(-d1))


# ---- timing ----------------------------------------------------------------------------------
def timed(fn, repeats: int) -> tuple[float, object]:  # noqa: ANN001
    fn()  # warm: allocator, lazy imports, BLAS threads
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def case(name: str, N: int, n: int, dist: str, method: str, repeats: int, device: str, opts: dict | None = None,
         ) -> dict:
    mu, C, w = book(N)
    symbols = [f"A{i}" for i in range(N)]
    body = {"positions": [{"symbol": s, "value": float(v)} for s, v in zip(symbols, w, strict=True)],
            "market": {"symbols": symbols, "covariance": C, "mean": mu}, "n_scenarios": n,
            "distribution": dist, "confidence_levels": [ALPHA], "seed": 1, "method": method}
    if dist == "student_t":
        body["dof"] = DOF
    if opts is not None:
        body["options"] = [{"underlying": symbols[c], "spot": float(s), "kind": "call" if cl else "put",
                            "strike": float(s * r), "expiry_years": float(t), "implied_vol": float(v),
                            "quantity": float(q)} for c, s, r, t, v, q, cl in zip(
            opts["col"], opts["spot"], opts["strike_rel"], opts["expiry"], opts["iv"], opts["qty"], opts["call"],
            strict=True)]
    req = MonteCarloVarRequest(**body)
    ctx = OpContext(engine="risk", device=device)

    def run_ours():  # noqa: ANN202
        out = monte_carlo_var(req, ctx)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return out

    rng_seed = [0]

    def run_numpy():  # noqa: ANN202
        rng_seed[0] += 1
        rng = np.random.default_rng(rng_seed[0])
        if method == "linear_shortcut":
            return numpy_shortcut(mu, C, w, n, dist, rng)
        return numpy_asset(mu, C, w, n, dist, rng, opts)

    t_ours, out = timed(run_ours, repeats)
    t_np, (var_np, cvar_np) = timed(run_numpy, repeats)
    lvl = out.levels[0]
    # the numpy estimate has the same sampling error as ours (same n, same estimator): SE of the gap = sqrt(2) SE
    z = abs(lvl.var - var_np) / (math.sqrt(2.0) * lvl.var_se)
    row = {"case": name, "assets": N, "options": 0 if opts is None else opts["spot"].size, "scenarios": n,
           "distribution": dist, "method": method, "device": device, "ours_s": t_ours, "numpy_s": t_np,
           "speedup": t_np / t_ours, "var_ours": lvl.var, "var_numpy": var_np, "var_se": lvl.var_se,
           "agreement_z": z, "agrees": z < 4.0}
    print(json.dumps(row), flush=True)
    return row


def machine() -> dict:
    cpu = platform.processor()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "logical_cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__,
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenarios", type=int, default=1_000_000)
    ap.add_argument("--option-scenarios", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="small sizes, one repeat (the scripts stay runnable)")
    ap.add_argument("--out", default=str(RESULTS / "risk"), help="results path without extension")
    args = ap.parse_args()
    n, n_opt, reps = (20_000, 5_000, 1) if args.quick else (args.scenarios, args.option_scenarios, args.repeats)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = []
    for dev in devices:
        for N in (20, 100, 500):
            for dist in ("gaussian", "student_t"):
                rows.append(case("linear shortcut", N, n, dist, "linear_shortcut", reps, dev))
        for dist in ("gaussian", "student_t"):
            rows.append(case("asset level", 100, n, dist, "asset_level", reps, dev))
        rows.append(case("option book", 100, n_opt, "gaussian", "asset_level", reps, dev,
                         options_book(100, 1000)))
    meta = {"machine": machine(), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "command": "benchmarks/risk.py " + " ".join(sys.argv[1:]), "repeats": reps, "confidence": ALPHA}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    md = ["# Monte Carlo VaR: ours vs numpy running the same algorithm", "",
          f"`{meta['command']}` on {meta['machine']['cpu']} ({meta['machine']['logical_cpus']} CPUs), torch "
          f"{meta['machine']['torch']}, {meta['date']}. Median of {reps} warm runs each; 99% VaR. The option book "
          "is 100 underlyings and 1,000 European options revalued by Black-Scholes in every scenario.", "",
          "| case | assets | options | scenarios | distribution | device | ours s | numpy s | numpy/ours | "
          "agreement z |", "|---|---|---|---|---|---|---|---|---|---|"]
    md += [f"| {r['case']} | {r['assets']} | {r['options']} | {r['scenarios']:,} | {r['distribution']} | "
           f"{r['device']} | {r['ours_s']:.4f} | {r['numpy_s']:.4f} | {r['speedup']:.2f}x | {r['agreement_z']:.2f} |"
           for r in rows]
    out.with_suffix(".md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    if not all(r["agrees"] for r in rows):
        raise SystemExit("a pair disagrees beyond 4 standard errors")


if __name__ == "__main__":
    main()
