"""Performance metrics: the analytics engine (in-process and through the API) against empyrical, on real data.

    .venv/bin/python benchmarks/analytics.py            # lengths 252, 1,260, 2,520 and 8,312 daily returns
    .venv/bin/python benchmarks/analytics.py --quick    # 252 and 2,520, a few repeats (keeps the script runnable)

Data: skfolio's S&P 500 dataset (daily prices of 20 stocks, 1990-2022, shipped in the package): Apple's daily
returns against the S&P 500 index's, the last n days for each length n. Risk-free rate 2% a year (empyrical
takes it per period: (1.02)^(1/252) - 1, the engine's own conversion).

The work: the ten metrics both compute (total return, CAGR, annualised volatility, Sharpe, Sortino, maximum
drawdown, Calmar, alpha, beta, information ratio). empyrical makes one call per metric on numpy arrays (its
fastest input); the engine computes them in one ``performance`` call, which also gives the drawdown's
peak/trough/recovery, hit rate, best and worst period, correlation and tracking error (a little more work on
our side, not less). Before anything is timed every metric is checked equal to empyrical's to 1e-9 relative
(empyrical's information ratio, ``excess_sharpe``, is per period: ours is it times sqrt(252)).
Timed, medians of the same number of warm calls:
  compute       engines.analytics.compute.performance in this process, the request already validated;
  validate      the same with the request validated from numpy arrays first (what a service does);
  API binary    POST /api/v1/analytics/performance through the gateway, msgpack with typed arrays;
  API JSON      the same in JSON (every number printed and parsed);
each API call by nautilus_client, wire to wire (the gateway and the analytics engine started on free ports,
on the local PostgreSQL and Redis or embedded ones). Results: benchmarks/results/analytics.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backend.contract.operation import OpContext  # noqa: E402
from benchmarks.common import Report, Servers, machine, results_dir, timed  # noqa: E402
from engines.analytics.compute import performance  # noqa: E402
from engines.analytics.models import PerformanceRequest  # noqa: E402

RF = 0.02
P = 252
STOCK = "AAPL"
LENGTHS = (252, 1260, 2520, 8312)
RTOL = 1e-9


def data() -> tuple[np.ndarray, np.ndarray]:
    """Apple's and the S&P 500 index's daily simple returns, 1990-2022 (8,312 each)."""
    from skfolio.datasets import load_sp500_dataset, load_sp500_index

    prices = load_sp500_dataset()[STOCK].to_numpy(dtype=np.float64)
    index = load_sp500_index().iloc[:, 0].to_numpy(dtype=np.float64)
    return prices[1:] / prices[:-1] - 1.0, index[1:] / index[:-1] - 1.0


def empyrical_metrics(r: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """The ten metrics, one empyrical call each, on numpy arrays."""
    import empyrical as ep

    rf_p = (1.0 + RF) ** (1.0 / P) - 1.0
    alpha, beta = ep.alpha_beta(r, b, risk_free=rf_p)
    return {"total_return": float(ep.cum_returns_final(r)), "cagr": float(ep.annual_return(r)),
            "annualized_volatility": float(ep.annual_volatility(r)),
            "sharpe": float(ep.sharpe_ratio(r, risk_free=rf_p)),
            "sortino": float(ep.sortino_ratio(r, required_return=rf_p)),
            "max_drawdown": float(ep.max_drawdown(r)), "calmar": float(ep.calmar_ratio(r)),
            "alpha": float(alpha), "beta": float(beta),
            "information_ratio": float(ep.excess_sharpe(r, b)) * math.sqrt(P)}


def our_metrics(out: dict) -> dict[str, float]:
    """The same ten from a PerformanceResponse (as a dict: in-process model_dump or the API's answer)."""
    bench = out["benchmark"]
    return {"total_return": out["total_return"], "cagr": out["cagr"],
            "annualized_volatility": out["annualized_volatility"], "sharpe": out["sharpe"],
            "sortino": out["sortino"], "max_drawdown": out["drawdown"]["max_drawdown"], "calmar": out["calmar"],
            "alpha": bench["alpha"], "beta": bench["beta"], "information_ratio": bench["information_ratio"]}


def max_rel_diff(ours: dict[str, float], peer: dict[str, float]) -> tuple[float, str]:
    worst, name = 0.0, ""
    for k, v in peer.items():
        d = abs(float(ours[k]) - v) / max(abs(v), 1e-12)
        if d > worst or not name:
            worst, name = d, k
    return worst, name


def body(r: np.ndarray, b: np.ndarray) -> dict:
    return {"returns": r, "benchmark_returns": b, "risk_free_rate": RF, "periods_per_year": P}


def in_process(lengths: tuple[int, ...], reps: int) -> list[dict]:
    r_all, b_all = data()
    ctx = OpContext(engine="analytics")
    rows = []
    for n in lengths:
        r, b = r_all[-n:], b_all[-n:]
        req = PerformanceRequest(**body(r, b))
        ours, peer = our_metrics(performance(req, ctx).model_dump()), empyrical_metrics(r, b)
        diff, worst = max_rel_diff(ours, peer)
        if diff > RTOL:
            raise SystemExit(f"{n} returns: {worst} differs from empyrical's by {diff:.2e} relative")
        t_ours, s_ours = timed(lambda req=req: performance(req, ctx), reps)
        t_val, _ = timed(lambda r=r, b=b: performance(PerformanceRequest(**body(r, b)), ctx), reps)
        t_peer, s_peer = timed(lambda r=r, b=b: empyrical_metrics(r, b), reps)
        rows.append({"n": n, "compute_s": t_ours, "validate_s": t_val, "empyrical_s": t_peer,
                     "max_rel_diff": diff, "worst_metric": worst, "samples_compute": s_ours,
                     "samples_empyrical": s_peer, "metrics": ours})
        print(json.dumps({k: v for k, v in rows[-1].items() if not k.startswith("samples")}), flush=True)
    return rows


def through_api(lengths: tuple[int, ...], reps: int) -> dict[tuple[int, str], float]:
    """Median seconds per API call by (length, encoding), each answer checked against empyrical first."""
    from nautilus_client import Client
    from tests.support.access import ADMIN_KEY
    from tests.support.procs import Proc, base_env, free_port

    r_all, b_all = data()
    tmp = Path(tempfile.mkdtemp(prefix="bench-analytics-"))
    servers = Servers(tmp).__enter__()  # the gateway checks API keys in PostgreSQL
    ports = {"analytics": free_port(), "gateway": free_port()}
    env = base_env(tmp, DATABASE_URL=servers.database_url, REDIS_URL=servers.redis_url,
                   **{f"NAUTILUS_PORT_{e.upper()}": str(p) for e, p in ports.items()})
    procs = [Proc(e, "engines.analytics" if e == "analytics" else "backend.gateway", env, p, tmp / f"{e}.log")
             for e, p in ports.items()]
    out: dict[tuple[int, str], float] = {}
    try:
        for p in procs:
            p.start()
        base = f"http://127.0.0.1:{ports['gateway']}"
        for enc in ("binary", "json"):
            with Client(base, ADMIN_KEY, binary=enc == "binary", timeout_s=120) as client:
                for n in lengths:
                    r, b = r_all[-n:], b_all[-n:]
                    diff, worst = max_rel_diff(our_metrics(client.call("analytics", "performance", body(r, b))),
                                               empyrical_metrics(r, b))
                    if diff > RTOL:
                        raise SystemExit(f"API, {n} returns: {worst} differs from empyrical's by {diff:.2e}")
                    out[(n, enc)], _ = timed(
                        lambda c=client, r=r, b=b: c.call("analytics", "performance", body(r, b)), reps)
                    print(json.dumps({"n": n, "api": enc, "median_s": out[(n, enc)]}), flush=True)
    finally:
        for p in reversed(procs):
            p.stop()
        servers.__exit__()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--api-repeats", type=int, default=20)
    ap.add_argument("--quick", action="store_true", help="252 and 2,520 returns, 5 repeats")
    args = ap.parse_args()
    lengths = (252, 2520) if args.quick else LENGTHS
    reps, api_reps = (5, 3) if args.quick else (args.repeats, args.api_repeats)

    rows = in_process(lengths, reps)
    api = through_api(lengths, api_reps)

    rep = Report("analytics")
    agreement = "ten metrics equal to empyrical's to 1e-9 relative (checked before timing)"
    for row in rows:
        n = row["n"]
        work = f"10 performance metrics, {n:,} daily returns (AAPL vs S&P 500)"
        for label, t in (("engine function (validated request)", row["compute_s"]),
                         ("engine function + request validation", row["validate_s"]),
                         ("API performance, binary", api[(n, "binary")]),
                         ("API performance, JSON", api[(n, "json")])):
            rep.compare("performance metrics", work, label, t, "empyrical (10 calls, numpy)", row["empyrical_s"],
                        row["max_rel_diff"] <= RTOL, agreement)
    xs = [row["n"] for row in rows]
    rep.scale("performance metrics", "engine function", "daily returns", xs, [row["compute_s"] for row in rows])
    rep.scale("performance metrics", "empyrical", "daily returns", xs, [row["empyrical_s"] for row in rows])
    rep.scale("performance metrics", "API, binary", "daily returns", xs, [api[(n, "binary")] for n in xs])
    longest = rows[-1]
    rep.samples(f"engine performance, {longest['n']:,} returns", longest["samples_compute"])
    rep.samples(f"empyrical, {longest['n']:,} returns", longest["samples_empyrical"])

    out = results_dir()
    meta = {"machine": machine(), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "repeats": reps,
            "api_repeats": api_reps, "risk_free_rate": RF, "series": f"{STOCK} vs S&P 500 index (skfolio)"}
    (out / "analytics.json").write_text(json.dumps(
        {"meta": meta, "rows": [{k: v for k, v in r.items() if not k.startswith("samples")} for r in rows],
         "api": [{"n": n, "encoding": e, "median_s": t} for (n, e), t in api.items()], "report": rep.as_dict()},
        indent=2) + "\n")
    md = ["# Performance metrics: the analytics engine against empyrical", "",
          f"`{rep.command}`, {meta['date']}, on {meta['machine']['cpu']} ({meta['machine']['logical_cpus']} CPUs). "
          f"{STOCK}'s daily returns against the S&P 500 index (skfolio's dataset), risk-free 2%; medians of {reps} "
          f"warm calls in-process and {api_reps} through the API. Ten metrics, equal to empyrical's to 1e-9 "
          "relative before timing (see the script's docstring for what each side computes).", "",
          "| returns | engine function ms | + validation ms | API binary ms | API JSON ms | empyrical ms | "
          "empyrical / engine | max relative diff |", "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    md += [f"| {r['n']:,} | {r['compute_s'] * 1e3:.3f} | {r['validate_s'] * 1e3:.3f} | "
           f"{api[(r['n'], 'binary')] * 1e3:.2f} | {api[(r['n'], 'json')] * 1e3:.2f} | {r['empyrical_s'] * 1e3:.3f} | "
           f"{r['empyrical_s'] / r['compute_s']:.2f}x | {r['max_rel_diff']:.1e} ({r['worst_metric']}) |" for r in rows]
    (out / "analytics.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
