"""Portfolio optimisation as users call it: the engine's optimize_portfolio operation (in-process and through
the API) against skfolio and PyPortfolioOpt, on the problems benchmarks/portfolio.py does not cover.

    .venv/bin/python benchmarks/optimisation.py            # 20 repeats in-process, 10 through the API
    .venv/bin/python benchmarks/optimisation.py --quick    # 3 and 2 (keeps the script runnable)

benchmarks/portfolio.py times the fast path's solver kernel (engines/portfolio/compute/fast.py) against the
peers for long-only minimum variance and maximum Sharpe. This one times the whole operation (request
validation, covariance, solve, risk contributions, response) on six problems:
  min variance, max Sharpe               long-only, fully invested (the engine takes its fast path);
  min variance, max weight 10%           bounded (fast path);
  max utility                            mean - lambda w'Σw, lambda 5 (PyPortfolioOpt's delta/2: delta 10);
  min variance, return >= 15% a year     a target return (the engine solves with skfolio);
  min CVaR 95%                           historical CVaR, a linear programme (skfolio; PyPortfolioOpt's
                                         EfficientCVaR), agreement judged on the CVaR reached and the weights.
Data: skfolio's S&P 500 dataset, 20 stocks, the last 2,500 daily returns. Each peer estimates its own
moments from the same returns (the sample mean and covariance, as the engine does); skfolio runs at the
engine's Clarabel tolerances (CLARABEL_PARAMS), PyPortfolioOpt with its default solvers (they agree here; at
100+ assets its default OSQP does not: see benchmarks/scaling.py). Where the engine solves with skfolio, "ours vs skfolio" is the
cost of our layer around it, stated as such. Every answer is checked before timing: max |w - w_ours| <= 1e-4
(for CVaR: the CVaR reached within 1e-6 relative as well). HRP is not paired: PyPortfolioOpt bisects the
seriated list (Lopez de Prado 2016), skfolio (ours) splits at the dendrogram's branches; the weights differ
by ~2e-2, a different algorithm, so no ratio is reported. Results: benchmarks/results/optimisation.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backend.contract.operation import OpContext  # noqa: E402
from benchmarks.common import Report, Servers, machine, results_dir, timed  # noqa: E402
from engines.portfolio.compute.estimators import CLARABEL_PARAMS  # noqa: E402
from engines.portfolio.compute.optimize import optimize  # noqa: E402
from engines.portfolio.models.optimize import OptimizeRequest  # noqa: E402

warnings.filterwarnings("ignore")
WEIGHT_TOL = 1e-4
LAMBDA = 5.0
TARGET = 0.15
BETA = 0.95


def returns() -> pd.DataFrame:
    from skfolio.datasets import load_sp500_dataset
    from skfolio.preprocessing import prices_to_returns

    return prices_to_returns(load_sp500_dataset()).iloc[-2500:]


def cvar(R: np.ndarray, w: np.ndarray) -> float:
    """Historical CVaR at BETA of the portfolio's per-period loss (the linear programme's objective)."""
    loss = -(R @ w)
    q = np.quantile(loss, BETA)
    return float(q + np.maximum(loss - q, 0.0).mean() / (1 - BETA))


def _weights(opt) -> np.ndarray:  # noqa: ANN001 - a PyPortfolioOpt optimiser
    return np.array(list(opt.clean_weights(rounding=None).values()))


def cases(X: pd.DataFrame) -> list[dict]:
    """Each problem: the request's options, and each peer as a function returning weights."""
    from pypfopt import EfficientCVaR, EfficientFrontier
    from skfolio import RiskMeasure
    from skfolio.optimization import MeanRisk, ObjectiveFunction

    R = X.to_numpy()

    def skf(**kw) -> Callable[[], np.ndarray]:  # noqa: ANN003
        return lambda: np.asarray(MeanRisk(solver_params=CLARABEL_PARAMS, **kw).fit(X).weights_)

    def ef(run: Callable, mean: bool, bounds: tuple = (0, 1), scale: float = 1.0) -> Callable[[], np.ndarray]:
        def go() -> np.ndarray:
            mu = R.mean(axis=0) * scale if mean else None
            opt = EfficientFrontier(mu, np.cov(R, rowvar=False) * scale, weight_bounds=bounds)
            run(opt)
            return _weights(opt)
        return go

    def pf_cvar() -> np.ndarray:
        opt = EfficientCVaR(None, X, beta=BETA, weight_bounds=(0, 1))
        opt.min_cvar()
        return _weights(opt)

    mr, ms, mu_ = ObjectiveFunction.MINIMIZE_RISK, ObjectiveFunction.MAXIMIZE_RATIO, ObjectiveFunction.MAXIMIZE_UTILITY
    return [
        {"work": "min variance", "request": {},
         "peers": {"skfolio": skf(objective_function=mr),
                   "PyPortfolioOpt": ef(lambda o: o.min_volatility(), False)}},
        {"work": "max Sharpe", "request": {"objective": "max_sharpe"},
         "peers": {"skfolio": skf(objective_function=ms),
                   "PyPortfolioOpt": ef(lambda o: o.max_sharpe(risk_free_rate=0.0), True)}},
        {"work": "min variance, max weight 10%", "request": {"constraints": {"max_weight": 0.1}},
         "peers": {"skfolio": skf(objective_function=mr, max_weights=0.1),
                   "PyPortfolioOpt": ef(lambda o: o.min_volatility(), False, (0, 0.1))}},
        {"work": f"max utility, lambda {LAMBDA:g}", "request": {"objective": "max_utility", "risk_aversion": LAMBDA},
         "peers": {"skfolio": skf(objective_function=mu_, risk_aversion=LAMBDA),
                   "PyPortfolioOpt": ef(lambda o: o.max_quadratic_utility(risk_aversion=2 * LAMBDA), True)}},
        {"work": f"min variance, return >= {TARGET:.0%} a year", "request": {"min_return_annual": TARGET},
         "peers": {"skfolio": skf(objective_function=mr, min_return=TARGET / 252),
                   "PyPortfolioOpt": ef(lambda o: o.efficient_return(TARGET), True, scale=252.0)}},
        {"work": f"min CVaR {BETA:.0%}", "request": {"risk_measure": "cvar", "confidence": BETA},
         "peers": {"skfolio": skf(objective_function=mr, risk_measure=RiskMeasure.CVAR, cvar_beta=BETA),
                   "PyPortfolioOpt": pf_cvar}},
    ]


def body(X: pd.DataFrame, extra: dict) -> dict:
    return {"market": {"symbols": list(X.columns), "returns": X.to_numpy()}, **extra}


def agreement(R: np.ndarray, work: str, w: np.ndarray, ref: np.ndarray) -> tuple[bool, str]:
    diff = float(np.abs(w - ref).max())
    if "CVaR" in work:
        rel = abs(cvar(R, w) - cvar(R, ref)) / cvar(R, ref)
        return diff <= WEIGHT_TOL and rel <= 1e-6, f"max weight difference {diff:.1e}, CVaR within {rel:.1e}"
    return diff <= WEIGHT_TOL, f"max weight difference {diff:.1e}"


def in_process(X: pd.DataFrame, reps: int) -> list[dict]:
    R = X.to_numpy()
    ctx = OpContext(engine="portfolio")
    rows = []
    for case in cases(X):
        b = body(X, case["request"])
        out = optimize(OptimizeRequest.model_validate(b), ctx)
        ours = np.asarray(out.weights)
        t_ours, _ = timed(lambda b=b: optimize(OptimizeRequest.model_validate(b), ctx), reps)
        row = {"work": case["work"], "solver": f"{out.solver.engine} ({out.solver.solver})", "ours_s": t_ours,
               "weights": ours.tolist(), "peers": {}}
        for name, fn in case["peers"].items():
            ok, how = agreement(R, case["work"], np.asarray(fn(), dtype=float), ours)
            if not ok:
                raise SystemExit(f"{case['work']}: {name} disagrees with the engine: {how}")
            t_peer, _ = timed(fn, reps)
            row["peers"][name] = {"s": t_peer, "agreement": how}
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "weights"}), flush=True)
    return rows


def through_api(X: pd.DataFrame, rows: list[dict], reps: int) -> dict[tuple[str, str], float]:
    """Median seconds per API call by (work, encoding), each answer checked against the in-process one."""
    from nautilus_client import Client
    from tests.support.access import ADMIN_KEY
    from tests.support.procs import Proc, base_env, free_port

    R = X.to_numpy()
    tmp = Path(tempfile.mkdtemp(prefix="bench-optimisation-"))
    servers = Servers(tmp).__enter__()
    ports = {"portfolio": free_port(), "gateway": free_port()}
    env = base_env(tmp, DATABASE_URL=servers.database_url, REDIS_URL=servers.redis_url,
                   **{f"NAUTILUS_PORT_{e.upper()}": str(p) for e, p in ports.items()})
    procs = [Proc(e, "engines.portfolio" if e == "portfolio" else "backend.gateway", env, p, tmp / f"{e}.log")
             for e, p in ports.items()]
    out: dict[tuple[str, str], float] = {}
    try:
        for p in procs:
            p.start()
        base = f"http://127.0.0.1:{ports['gateway']}"
        for enc in ("binary", "json"):
            with Client(base, ADMIN_KEY, binary=enc == "binary", timeout_s=120) as client:
                for case, row in zip(cases(X), rows, strict=True):
                    b = body(X, case["request"])
                    got = np.asarray(client.call("portfolio", "optimize_portfolio", b)["weights"], dtype=float)
                    ok, how = agreement(R, case["work"], got, np.asarray(row["weights"]))
                    if not ok:
                        raise SystemExit(f"API {enc}, {case['work']}: the answer differs from in-process: {how}")
                    out[(case["work"], enc)], _ = timed(
                        lambda c=client, b=b: c.call("portfolio", "optimize_portfolio", b), reps)
                    print(json.dumps({"work": case["work"], "api": enc, "median_s": out[(case["work"], enc)]}),
                          flush=True)
    finally:
        for p in reversed(procs):
            p.stop()
        servers.__exit__()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--api-repeats", type=int, default=10)
    ap.add_argument("--quick", action="store_true", help="3 repeats in-process, 2 through the API")
    args = ap.parse_args()
    reps, api_reps = (3, 2) if args.quick else (args.repeats, args.api_repeats)
    X = returns()
    rows = in_process(X, reps)
    api = through_api(X, rows, api_reps)

    rep = Report("optimisation")
    shape = f"{X.shape[1]} assets x {X.shape[0]:,} days"
    for row in rows:
        work = f"{row['work']}, {shape}"
        ours = [("optimize_portfolio in-process", row["ours_s"]),
                ("API optimize_portfolio, binary", api[(row["work"], "binary")]),
                ("API optimize_portfolio, JSON", api[(row["work"], "json")])]
        for name, peer in row["peers"].items():
            for label, t in ours:
                rep.compare("portfolio optimisation", work, f"{label} [{row['solver']}]", t, name, peer["s"], True,
                            peer["agreement"] + " (checked before timing)")
    out = results_dir()
    meta = {"machine": machine(), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "repeats": reps,
            "api_repeats": api_reps, "data": f"skfolio S&P 500 dataset, {shape}"}
    (out / "optimisation.json").write_text(json.dumps(
        {"meta": meta, "rows": rows, "api": [{"work": w, "encoding": e, "median_s": t} for (w, e), t in api.items()],
         "report": rep.as_dict()}, indent=2) + "\n")
    md = ["# Portfolio optimisation as users call it: the engine's operation against skfolio and PyPortfolioOpt", "",
          f"`{rep.command}`, {meta['date']}, on {meta['machine']['cpu']} ({meta['machine']['logical_cpus']} CPUs). "
          f"{meta['data']}; medians of {reps} warm calls in-process, {api_reps} through the API; every answer "
          f"checked before timing (weights within {WEIGHT_TOL:g}). See the script's docstring for each problem.", "",
          "| problem | engine solver | ours in-process ms | API binary ms | API JSON ms | skfolio ms | "
          "PyPortfolioOpt ms | agreement (skfolio; PyPortfolioOpt) |", "|---|---|---:|---:|---:|---:|---:|---|"]
    md += [f"| {r['work']} | {r['solver']} | {r['ours_s'] * 1e3:.2f} | {api[(r['work'], 'binary')] * 1e3:.2f} | "
           f"{api[(r['work'], 'json')] * 1e3:.2f} | {r['peers']['skfolio']['s'] * 1e3:.2f} | "
           f"{r['peers']['PyPortfolioOpt']['s'] * 1e3:.2f} | {r['peers']['skfolio']['agreement']}; "
           f"{r['peers']['PyPortfolioOpt']['agreement']} |" for r in rows]
    (out / "optimisation.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
