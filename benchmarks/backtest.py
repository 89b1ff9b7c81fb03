"""Backtests: the event-driven engine's speed through the full trading core, the vectorised sweep against
vectorbt, and a sweep on 2 pool workers against 1, in one run.

    .venv/bin/python benchmarks/backtest.py            # full: 1M bars, 496 pairs x 5,000 bars
    .venv/bin/python benchmarks/backtest.py --quick    # small sizes (CI keeps the script from rotting)

1. Event-driven: ``sma_cross`` (SMA 20/50, all-in, 1 bp taker fee, 1 tick slippage) over synthetic OHLC
   bars (a mean-reverting log price, so a million bars stay realistic) through the whole path (the trading core's ``TradingEngine``: pre-trade checks, venue book,
   router, fees, positions, P&L; incremental SMAs from the features engine), in bars per second on one core.
   NautilusTrader is not installed here (no peer run): the issue cites ~36,000 bars/s for its
   event-driven backtest on this kind of machine.
2. Vectorised sweep against vectorbt: every pair of SMA windows from a list (``MA.run_combs``, r=2;
   496 pairs of windows 2..33 in the full run) on the last 5,000 Adj Closes of arch's S&P 500, long-only
   all-in, 10 bp fees, fills at the signal bar's close. Same data, same work: signals of every pair and
   their portfolios' final values and trade counts. Before timing, every pair's final value is checked
   equal to vectorbt's to 1e-6 relative and its trade count exactly; then both are timed warm, same
   repeats, medians. Ours: torch on the CPU (the same code runs on CUDA).
3. A sweep of the event-driven engine (16 parameter sets) on a warm pool of 2 processes against 1.
   The machine's other load shows in this figure: it is measured, not assumed.
4. Chart patterns: all 14 at every bar of 100 synthetic series x 10,000 bars at once (torch, CPU), in
   windows (series x bars) per second. No peer here: a per-window loop is not run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(tempfile.gettempdir(), "nautilus-numba-cache"))

from benchmarks.common import Report, machine, results_dir, timed  # noqa: E402
from engines.strategy import registry  # noqa: E402
from engines.strategy.backtest import BacktestConfig, BarData, run_event  # noqa: E402
from engines.strategy.handlers import canned_bars  # noqa: E402
from engines.strategy.sweep import param_grid, shutdown_pools, sweep  # noqa: E402
from engines.strategy.vector import signal_matrix, simulate  # noqa: E402

FEES = 0.001
torch.set_num_threads(1)  # one core, like vectorbt (numba, single-threaded); also steady on a loaded machine


def synthetic(n: int, seed: int = 11) -> BarData:
    """OHLC bars whose log price mean-reverts around log(100) (an AR(1) with 1% daily shocks), so a million
    bars stay in a realistic price range and keep crossing."""
    rng = np.random.default_rng(seed)
    shocks = rng.normal(0.0, 0.01, n)
    x = np.empty(n)
    acc = 0.0
    for i in range(n):  # AR(1): x_t = 0.999 x_{t-1} + e_t
        acc = 0.999 * acc + shocks[i]
        x[i] = acc
    close = 100.0 * np.exp(x)
    open_ = np.concatenate([[100.0], close[:-1]])
    wick = np.abs(rng.normal(0, 0.004, n)) * close
    ts = (np.datetime64("1990-01-01", "ns") + np.arange(n) * np.timedelta64(60, "s")).astype(np.int64)
    return BarData(ts, open_, np.maximum(open_, close) + wick, np.minimum(open_, close) - wick, close,
                   np.full(n, 1e5))


def event_speed(sizes: list[int], report: Report) -> list[dict]:
    cls = registry.load("sma_cross").cls
    cfg = BacktestConfig(taker_fee_bps=1.0, slippage_ticks=1, lot_size=1e-6)
    rows = []
    for n in sizes:
        bars = synthetic(n)
        t0 = time.perf_counter()
        r = run_event(cls, {"fast": 20, "slow": 50}, {"SYN": bars}, cfg, "sma_cross")
        s = time.perf_counter() - t0
        rows.append({"bars": n, "seconds": s, "bars_per_s": n / s, "trades": r.metrics["trade_count"]})
        print(json.dumps(rows[-1]), flush=True)
    report.scale("event-driven backtest", "sma_cross through the trading core", "bars", sizes,
                 [r["seconds"] for r in rows])
    report.figure("event-driven backtest", f"sma_cross, {sizes[-1]:,} bars, full trading core path, one core",
                  rows[-1]["bars_per_s"], "bars/s")
    report.missing("NautilusTrader", "not installed here; the issue cites ~36,000 bars/s for its event-driven "
                   "backtest on this kind of machine (not measured in this run)")
    return rows


def vector_vs_vectorbt(windows: list[int], n_bars: int, repeats: int, report: Report) -> dict:
    from arch.data import sp500

    close_s = sp500.load()["Adj Close"].iloc[-n_bars:]
    close = close_s.to_numpy(np.float64)
    bars = BarData.from_close(close_s.index.as_unit("ns").asi8, close)
    s = registry.load("sma_cross")
    pairs = list(itertools.combinations(windows, 2))
    sets = [{"fast": f, "slow": sl} for f, sl in pairs]
    cfg = BacktestConfig(taker_fee_bps=FEES * 1e4)

    def ours() -> tuple[np.ndarray, np.ndarray]:
        ent, ex = signal_matrix(s.cls, bars, sets)
        out = simulate(close, close, ent, ex, cfg)
        return out["equity"][:, -1], out["entry"].sum(axis=1)

    row: dict = {"pairs": len(pairs), "bars": n_bars}
    try:
        import vectorbt as vbt
    except ImportError as e:
        report.missing("vectorbt", f"not importable: {e}")
        t, _ = timed(ours, repeats)
        row["ours_s"] = t
        report.figure("vectorised sweep", f"{len(pairs)} SMA pairs x {n_bars} bars", t, "s")
        return row

    def theirs() -> tuple[np.ndarray, np.ndarray]:
        fast, slow = vbt.MA.run_combs(close_s, window=windows, r=2, short_names=["fast", "slow"])
        pf = vbt.Portfolio.from_signals(close_s, fast.ma_crossed_above(slow), fast.ma_crossed_below(slow),
                                        init_cash=cfg.initial_cash, fees=FEES, freq="1D")
        return pf.final_value().to_numpy(), pf.trades.count().to_numpy()

    (v_ours, n_ours), (v_vbt, n_vbt) = ours(), theirs()  # also the warm-up call of each
    rel = np.abs(v_ours / v_vbt - 1)
    same = (rel <= 1e-6) & (n_ours == n_vbt)
    # A pair whose two SMAs are exactly equal at some bar (prices with two decimals make SMA(2) = SMA(5)
    # happen) is a tie that each library's summation order may break either way (1e-13 apart): such a
    # pair may differ and is reported, not counted as a disagreement; every other pair must agree.
    tied = np.array([_ties(close, f, sl) for f, sl in pairs])
    agree = bool(v_vbt.size == len(pairs) and same[~tied].all())
    worst = float(rel[~tied].max())
    row |= {"tied_pairs": [list(pairs[i]) for i in np.flatnonzero(tied)],
            "tied_pairs_differing": [list(pairs[i]) for i in np.flatnonzero(tied & ~same)]}
    t_ours, _ = timed(ours, repeats, warm=0)
    t_vbt, _ = timed(theirs, repeats, warm=0)
    row |= {"ours_s": t_ours, "vectorbt_s": t_vbt, "agree": agree, "worst_rel_diff_final_value": worst,
            "vectorbt": vbt.__version__}
    print(json.dumps(row), flush=True)
    ties = f"; {len(row['tied_pairs_differing'])} of {int(tied.sum())} pairs with exactly tied SMAs differ" \
        if tied.any() else ""
    report.compare("vectorised sweep", f"{len(pairs)} SMA-cross pairs x {n_bars} bars (arch S&P 500), 10 bp fees",
                   "ours (torch, CPU)", t_ours, f"vectorbt {vbt.__version__}", t_vbt, agree,
                   f"final value of every untied pair within 1e-6 relative (worst {worst:.1e}), trade counts "
                   f"equal{ties}")
    return row


def _ties(close: np.ndarray, fast: int, slow: int) -> bool:
    from engines.strategy.signals import indicator

    m = {"close": close}
    a, b = indicator("sma", m, timeperiod=fast), indicator("sma", m, timeperiod=slow)
    with np.errstate(invalid="ignore"):
        return bool(np.any(np.abs(a - b) <= 1e-9 * np.abs(b)))


def pool_speedup(n_sets: int, n_bars: int, report: Report) -> dict:
    s = registry.load("sma_cross")
    sets, _ = param_grid(s.cls, {"fast": [5, 10, 15, 20], "slow": [30, 60, 90, 120]})
    sets = sets[:n_sets]
    bars = canned_bars(n_bars, seed=5)
    cfg = BacktestConfig(taker_fee_bps=1.0, lot_size=1e-6)
    out = {}
    try:
        sweep(s, sets[:2], bars.slice(0, 200), cfg, "event", workers=2)  # start and warm the pool
        for w in (1, 2):
            t0 = time.perf_counter()
            r = sweep(s, sets, bars, cfg, "event", workers=w)
            out[w] = (time.perf_counter() - t0, [t["metrics"]["final_value"] for t in r["results"]])
    finally:
        shutdown_pools()
    same = out[1][1] == out[2][1]
    row = {"sets": len(sets), "bars": n_bars, "one_worker_s": out[1][0], "two_workers_s": out[2][0],
           "speedup": out[1][0] / out[2][0], "same_results": same, "cpus": os.cpu_count(),
           "load_avg_1m": os.getloadavg()[0]}
    print(json.dumps(row), flush=True)
    report.compare("sweep on a process pool", f"{len(sets)} event-driven sma_cross runs x {n_bars} bars",
                   "2 workers (warm pool)", out[2][0], "1 worker", out[1][0], same,
                   "every trial's final value identical")
    report.figure("sweep on a process pool", "speed-up of 2 workers over 1", row["speedup"], "x")
    return row


def pattern_speed(series: int, bars: int, repeats: int, report: Report) -> dict:
    """All 14 chart patterns at every bar of many synthetic series at once, on the CPU."""
    from engines.strategy.patterns import PATTERNS, detect

    block = np.stack([synthetic(bars, seed=100 + i).close for i in range(series)])
    t, _ = timed(lambda: detect(block), repeats)
    hits = detect(block)
    row = {"series": series, "bars": bars, "windows": series * bars, "seconds": t,
           "windows_per_s": series * bars / t, "detections": {p: int(hits[p].sum()) for p in PATTERNS}}
    print(json.dumps(row), flush=True)
    report.figure("chart patterns", f"{len(PATTERNS)} patterns at every bar of {series} x {bars:,} bars (CPU)",
                  row["windows_per_s"], "windows/s")
    report.missing("chart patterns on CUDA", "no GPU on this machine; the same code runs on CUDA "
                   "(benchmarks/gpu_suite.sh style run not made)")
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes, one repeat")
    args = ap.parse_args()
    report = Report("backtest")
    if args.quick:
        ev = event_speed([2_000, 10_000], report)
        vec = vector_vs_vectorbt(list(range(2, 12)), 2_000, 1, report)
        pool = pool_speedup(4, 1_000, report)
        pat = pattern_speed(10, 1_000, 1, report)
    else:
        ev = event_speed([10_000, 100_000, 1_000_000], report)
        vec = vector_vs_vectorbt(list(range(2, 34)), 5_000, 3, report)
        pool = pool_speedup(16, 5_000, report)
        pat = pattern_speed(100, 10_000, 3, report)
    out = results_dir() / "backtest"
    meta = {"machine": machine(), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "event": ev, "vector": vec, "pool": pool,
                                                    "patterns": pat, "report": report.as_dict()}, indent=2) + "\n")
    md = ["# Backtest benchmark", "", f"`{report.command}`", "",
          "| event-driven bars | seconds | bars/s | trades |", "|---|---|---|---|"]
    md += [f"| {r['bars']:,} | {r['seconds']:.2f} | {r['bars_per_s']:,.0f} | {r['trades']} |" for r in ev]
    if "vectorbt_s" in vec:
        md += ["", "| vectorised sweep | ours (s) | vectorbt (s) | speed-up | answers agree |", "|---|---|---|---|---|",
               f"| {vec['pairs']} pairs x {vec['bars']:,} bars | {vec['ours_s']:.3f} | {vec['vectorbt_s']:.3f} | "
               f"{vec['vectorbt_s'] / vec['ours_s']:.2f}x | {vec['agree']} (worst {vec['worst_rel_diff_final_value']:.1e}) |",
               "", f"Pairs whose two SMAs tie exactly at some bar: {len(vec['tied_pairs'])}; of those differing "
               f"(a tie broken the other way by summation order): {vec['tied_pairs_differing']}."]
    md += ["", f"Sweep of {pool['sets']} event-driven runs x {pool['bars']:,} bars: 1 worker {pool['one_worker_s']:.2f} s, "
           f"2 workers {pool['two_workers_s']:.2f} s, speed-up {pool['speedup']:.2f}x on {pool['cpus']} CPUs "
           f"(1-minute load average {pool['load_avg_1m']:.1f} while it ran); results identical: {pool['same_results']}.",
           "", f"Chart patterns (14) at every bar of {pat['series']} series x {pat['bars']:,} bars on the CPU: "
           f"{pat['seconds']:.2f} s, {pat['windows_per_s']:,.0f} windows/s (no GPU here).",
           "", "NautilusTrader was not run (not installed); the issue cites ~36,000 bars/s for its event-driven backtest."]
    out.with_suffix(".md").write_text("\n".join(md) + "\n")
    if "vectorbt_s" in vec and not vec["agree"]:
        raise SystemExit("vectorised sweep and vectorbt disagree")


if __name__ == "__main__":
    main()
