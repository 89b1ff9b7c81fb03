"""Scaling: cost as the work grows on the main compute paths, ours beside the reference at each size.

    .venv/bin/python benchmarks/scaling.py            # the full curves (a few minutes on 2 cores)
    .venv/bin/python benchmarks/scaling.py --quick    # two small sizes each (keeps the script runnable)

Curves (seconds per call against size; run_all plots each area on log-log axes, where a slope of 1 is linear):
  indicators by bars      the features engine's compute_indicators function (request validated) on one
                          symbol, the 14 indicators of benchmarks/features_api.py, 1,000 to 500,000 bars (21
                          output columns: the engine takes at most 20M output values a call);
                          TA-Lib's 16 calls on the same arrays beside it
  indicators by symbols   the same on 1 to 150 symbols of 5,000 bars (the same cap); TA-Lib symbol by symbol
  VaR by scenarios        the risk engine's monte_carlo_var, asset level, 100 assets, Gaussian, 10,000 to
                          1,000,000 scenarios; numpy running the same algorithm (benchmarks/risk.py's)
  VaR by assets           the same at 100,000 scenarios, 10 to 500 assets
  optimisation by assets  the portfolio engine's optimize_portfolio (long-only minimum variance: its fast path)
                          on 2,500 days of synthetic 5-factor returns (benchmarks/portfolio.py's), 10 to 500
                          assets; skfolio and PyPortfolioOpt (both Clarabel at the engine's tolerances)
Answers are checked at every size before its time counts: indicator columns equal to TA-Lib's (rtol 1e-12),
VaR within 4 standard errors of numpy's; for optimisation each peer's variance no more than 1e-5 (relative)
above ours, its weights summing to 1 (1e-6) and within 1e-3 of ours (a flat minimum: solvers at 1e-10 gap
tolerances still differ by up to ~1e-4 in weight). PyPortfolioOpt runs Clarabel at the engine's
tolerances, as skfolio does: at its default (OSQP) it stops 3e-3 to 8e-3 away in weight and 2e-4 to 7e-4
above in variance at 100 and 500 assets, a less accurate answer (ours meets the KKT conditions to ~1e-15). Bars are a seeded synthetic
random walk (real series are not long enough for the top sizes). Medians of warm repeats.
Results: benchmarks/results/scaling.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backend.contract.operation import OpContext  # noqa: E402
from benchmarks.common import Report, machine, results_dir, timed  # noqa: E402

warnings.filterwarnings("ignore")

FULL = {"bars": [1_000, 10_000, 100_000, 500_000], "symbols": [1, 10, 50, 150],
        "scenarios": [10_000, 100_000, 1_000_000], "var_assets": [10, 50, 100, 250, 500],
        "opt_assets": [10, 50, 100, 250, 500]}
QUICK = {"bars": [1_000, 10_000], "symbols": [1, 10], "scenarios": [10_000, 50_000], "var_assets": [10, 50],
         "opt_assets": [10, 50]}


def ohlc(symbols: int, bars: int, seed: int = 5) -> list[dict]:
    rng = np.random.default_rng(seed)
    c = 100 * np.exp(np.cumsum(rng.normal(0, 0.015, (symbols, bars)), axis=1))
    o = np.concatenate([c[:, :1], c[:, :-1]], axis=1)
    h, lo = np.maximum(o, c) * (1 + rng.uniform(0, 0.01, c.shape)), np.minimum(o, c) * (1 - rng.uniform(0, 0.01, c.shape))
    v = rng.uniform(1e5, 1e6, c.shape)
    return [{"symbol": f"S{i}", "open": o[i], "high": h[i], "low": lo[i], "close": c[i], "volume": v[i]}
            for i in range(symbols)]


def indicators(sizes: dict, reps: int, rep: Report) -> list[dict]:
    from benchmarks.features_api import INDICATORS, talib_all
    from engines.features.ops import ENGINE

    op = ENGINE.operation("compute_indicators")
    fn, ctx = op.load(), OpContext(engine="features")
    specs = [{"name": n} for n in INDICATORS]
    rows = []
    for axis, points in (("bars", [(1, b) for b in sizes["bars"]]), ("symbols", [(s, 5_000) for s in sizes["symbols"]])):
        ours_s, peer_s = [], []
        for symbols, bars in points:
            series = ohlc(symbols, bars)
            req = op.request.model_validate({"series": series, "indicators": specs})
            out = fn(req, ctx)

            def peer(series=series):  # noqa: ANN001, ANN202
                return [talib_all(s["open"], s["high"], s["low"], s["close"]) for s in series]

            for res, s, cols in zip(out.results, series, peer(), strict=True):  # ours = TA-Lib before timing
                want = [a for x in cols for a in (x if isinstance(x, tuple) else (x,))]
                for name, a, b in zip(res.values, res.values.values(), want, strict=True):
                    np.testing.assert_allclose(a, b, rtol=1e-12, equal_nan=True, err_msg=f"{s['symbol']} {name}")
            n_reps = max(1, reps if bars * symbols <= 1_000_000 else reps // 2)
            t_ours, _ = timed(lambda req=req: fn(req, ctx), n_reps)
            t_peer, _ = timed(peer, n_reps)
            ours_s.append(t_ours)
            peer_s.append(t_peer)
            rows.append({"curve": f"indicators by {axis}", "symbols": symbols, "bars": bars, "ours_s": t_ours,
                         "peer_s": t_peer, "peer": "TA-Lib", "agreement": "columns equal to TA-Lib's (rtol 1e-12)"})
            print(json.dumps(rows[-1]), flush=True)
        xs = [b if axis == "bars" else s for s, b in points]
        x_name = "bars (1 symbol)" if axis == "bars" else "symbols (5,000 bars each)"
        rep.scale("indicators (14)", "features engine compute_indicators", x_name, xs, ours_s)
        rep.scale("indicators (14)", "TA-Lib, called per symbol", x_name, xs, peer_s)
    return rows


def var(sizes: dict, reps: int, rep: Report) -> list[dict]:
    from benchmarks.risk import case

    rows = []
    for axis, points in (("scenarios", [(100, n) for n in sizes["scenarios"]]),
                         ("assets", [(a, sizes["scenarios"][1]) for a in sizes["var_assets"]])):
        ours_s, peer_s = [], []
        for assets, n in points:
            r = case("asset level", assets, n, "gaussian", "asset_level", reps, "cpu")
            if not r["agrees"]:
                raise SystemExit(f"VaR, {assets} assets, {n} scenarios: {r['agreement_z']:.1f} standard errors from numpy")
            ours_s.append(r["ours_s"])
            peer_s.append(r["numpy_s"])
            rows.append({"curve": f"VaR by {axis}", "assets": assets, "scenarios": n, "ours_s": r["ours_s"],
                         "peer_s": r["numpy_s"], "peer": "numpy, same algorithm",
                         "agreement": f"VaR within {r['agreement_z']:.2f} standard errors"})
        xs = [n if axis == "scenarios" else a for a, n in points]
        x_name = "scenarios (100 assets)" if axis == "scenarios" else f"assets ({sizes['scenarios'][1]:,} scenarios)"
        rep.scale("Monte Carlo VaR, asset level", "risk engine monte_carlo_var (CPU)", x_name, xs, ours_s)
        rep.scale("Monte Carlo VaR, asset level", "numpy, same algorithm", x_name, xs, peer_s)
    return rows


def variance(S: np.ndarray, w: np.ndarray) -> float:
    return float(w @ S @ w)


def optimisation(sizes: dict, reps: int, rep: Report) -> list[dict]:
    from pypfopt import EfficientFrontier
    from skfolio.optimization import MeanRisk

    from benchmarks.portfolio import synthetic
    from engines.portfolio.compute.estimators import CLARABEL_PARAMS
    from engines.portfolio.compute.optimize import optimize
    from engines.portfolio.models.optimize import OptimizeRequest

    ctx = OpContext(engine="portfolio")
    rows = []
    curves: dict[str, list[float]] = {"ours": [], "skfolio": [], "PyPortfolioOpt": []}
    for n in sizes["opt_assets"]:
        X = synthetic(n, 2500)
        R = X.to_numpy()
        S = np.cov(R, rowvar=False)
        body = {"market": {"symbols": list(X.columns), "returns": R}}

        def ours(body=body):  # noqa: ANN001, ANN202
            return np.asarray(optimize(OptimizeRequest.model_validate(body), ctx).weights)

        def skf(X=X):  # noqa: ANN001, ANN202
            return np.asarray(MeanRisk(solver_params=CLARABEL_PARAMS).fit(X).weights_)

        def pypfopt(R=R):  # noqa: ANN001, ANN202
            ef = EfficientFrontier(None, np.cov(R, rowvar=False), weight_bounds=(0, 1), solver="CLARABEL",
                                   solver_options=CLARABEL_PARAMS)
            ef.min_volatility()
            return np.asarray(ef.weights, dtype=float)  # raw: clean_weights zeroes weights below 1e-4

        w = ours()
        n_reps = max(1, reps if n <= 100 else reps // 3)
        t_ours, _ = timed(ours, n_reps)
        curves["ours"].append(t_ours)
        for name, fn in (("skfolio", skf), ("PyPortfolioOpt", pypfopt)):
            theirs = fn()
            diff = float(np.abs(theirs - w).max())
            gap = float((variance(S, theirs) - variance(S, w)) / variance(S, w))
            if diff > 1e-3 or gap > 1e-5 or abs(theirs.sum() - 1) > 1e-6:
                raise SystemExit(f"optimisation, {n} assets: {name} reaches a variance {gap:+.1e} relative to ours, "
                                 f"weights {diff:.1e} apart, summing to {theirs.sum():.6f}")
            t, _ = timed(fn, n_reps)
            curves[name].append(t)
            rows.append({"curve": "optimisation by assets", "assets": n, "ours_s": t_ours, "peer_s": t, "peer": name,
                         "agreement": f"variance {gap:+.1e} relative to ours, max weight difference {diff:.1e}"})
            print(json.dumps(rows[-1]), flush=True)
    x_name = "assets (2,500 days)"
    rep.scale("min-variance optimisation", "portfolio engine optimize_portfolio", x_name, sizes["opt_assets"],
              curves["ours"])
    rep.scale("min-variance optimisation", "skfolio (Clarabel)", x_name, sizes["opt_assets"], curves["skfolio"])
    rep.scale("min-variance optimisation", "PyPortfolioOpt (Clarabel)", x_name, sizes["opt_assets"], curves["PyPortfolioOpt"])
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="two small sizes per curve, one repeat")
    args = ap.parse_args()
    sizes, reps = (QUICK, 1) if args.quick else (FULL, args.repeats)
    rep = Report("scaling")
    rows = indicators(sizes, reps, rep) + var(sizes, reps, rep) + optimisation(sizes, reps, rep)

    out = results_dir()
    meta = {"machine": machine(), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "repeats": reps,
            "sizes": sizes}
    (out / "scaling.json").write_text(json.dumps({"meta": meta, "rows": rows, "report": rep.as_dict()}, indent=2) + "\n")
    md = ["# Scaling: cost as the work grows", "",
          f"`{rep.command}`, {meta['date']}, on {meta['machine']['cpu']} ({meta['machine']['logical_cpus']} CPUs). "
          f"Medians of {reps} warm calls (fewer at the largest sizes); every answer checked against the peer at "
          "every size before timing. Plots: report.html of benchmarks/run_all.py.", "",
          "| curve | size | ours ms | peer | peer ms | peer / ours | agreement |", "|---|---|---:|---|---:|---:|---|"]
    for r in rows:
        size = ", ".join(f"{r[k]:,} {k[:-1] if r[k] == 1 else k}" for k in ("symbols", "bars", "assets", "scenarios")
                         if k in r)
        md.append(f"| {r['curve']} | {size} | {r['ours_s'] * 1e3:.2f} | {r['peer']} | {r['peer_s'] * 1e3:.2f} | "
                  f"{r['peer_s'] / r['ours_s']:.2f}x | {r['agreement']} |")
    (out / "scaling.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
