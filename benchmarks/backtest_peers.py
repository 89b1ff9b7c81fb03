"""Event-driven backtests: backtrader and NautilusTrader on the same SMA-crossover strategy and bars, checked
against a vectorised numpy reference written from the strategy's definition, then timed.

    .venv/bin/python benchmarks/backtest_peers.py            # S&P 500's 5,031 bars, and 100,000 (them forwards and backwards), 3 repeats
    .venv/bin/python benchmarks/backtest_peers.py --quick    # the 5,031 real bars, 1 repeat

The strategy, the bars and the reference: benchmarks/peers/sma_cross.py (SMA 20/50 cross, long only, all in
with whole shares, market orders filled at the signal bar's close, no fees, 100,000 cash). The peers:
  backtrader 1.9.78.123   in the platform's venv (benchmarks/peers/backtrader_sma.py)
  NautilusTrader          in its own venv (it needs pandas < 3): benchmarks/peers/setup.sh creates
                          $NAUTILUS_PEER_VENVS/nautilus (default /work/venvs/nautilus) when it is missing (the
                          full profile; --quick uses it only if it is there, --no-setup never creates it), then
                          benchmarks/peers/nautilus_sma.py runs there as a subprocess and times itself
A peer that cannot be installed or run is reported missing with the reason, never silently dropped.
Before any timing each peer's fills (bar, side, shares, price) must equal the reference's, its final equity
(from its own account) must be the reference's to the cent, and the maximum drawdown of the equity marked at
each close (from its fills) the reference's to 1e-8 (ours fills 1e-8 either side of the close: the trading
core's book needs a spread); otherwise the run fails. Timed per peer: the whole backtest from
bars in memory to results (its own data objects built, engine run, fills and account read), warm, the same
repeats, medians; bars per second = bars / median.

OUR event-driven backtest (issue 11, the strategy engine driving the trading core) runs through ``run_ours``
when engines/strategy/backtest.py is in the checkout: checked against the reference like a peer, then timed
and compared with each peer. Where that engine is absent the report lists it as missing, saying why.
Results: benchmarks/results/backtest_peers.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import Report, machine, results_dir, timed  # noqa: E402
from benchmarks.peers import sma_cross  # noqa: E402
from benchmarks.peers.sma_cross import Bars  # noqa: E402

VENVS = Path(os.environ.get("NAUTILUS_PEER_VENVS", "/work/venvs"))
NAUTILUS_PY = VENVS / "nautilus" / "bin" / "python"
SETUP = ROOT / "benchmarks" / "peers" / "setup.sh"
LONG_BARS = 100_000  # daily bars from 1970 stay below NautilusTrader's nanosecond limit (2262)
AREA = "event-driven backtest"


class Missing(Exception):
    """A peer that cannot be installed or run here; the message is the reason."""


OURS_MODULES = ("engines.strategy.registry", "engines.strategy.backtest")


def run_ours(bars: Bars) -> dict | None:
    """OUR event-driven backtest (issue 11: the strategy engine driving the trading core) of sma_cross's
    strategy on ``bars``: the built-in ``sma_cross`` (fast 20, slow 50, all of the cash) through
    ``engines.strategy.backtest.run_event`` with whole shares (lot 1), fills at the signal bar's close, no
    fees or slippage, 100,000 cash. {"fills": [(bar, side, shares, price)], "final_equity"}, or None where
    that engine is not in this checkout (the branch that brings it is not merged yet)."""
    try:
        from engines.strategy.backtest import BacktestConfig, BarData, run_event
        from engines.strategy.registry import load as load_strategy
    except ModuleNotFoundError as e:
        if e.name in OURS_MODULES:
            return None
        raise
    ts = bars.dates.astype("datetime64[ns]").astype(np.int64)
    data = {"SPX": BarData(ts, bars.open, bars.high, bars.low, bars.close, bars.volume)}
    cfg = BacktestConfig(initial_cash=sma_cross.CASH, lot_size=1.0, fill_at="close")
    res = run_event(load_strategy("sma_cross").cls, {"fast": sma_cross.FAST, "slow": sma_cross.SLOW}, data, cfg)
    bar_of = {int(t): i for i, t in enumerate(ts)}
    fills = [(bar_of[int(f["ts_ns"])], f["side"], int(round(f["qty"])), float(f["price"])) for f in res.fills]
    return {"fills": fills, "final_equity": float(res.equity[-1])}


def run_backtrader(bars: Bars, reps: int) -> tuple[dict, float]:
    try:
        from benchmarks.peers import backtrader_sma
    except ImportError as e:
        raise Missing(f"backtrader does not import in the platform's venv: {e}") from e
    out = backtrader_sma.run(bars)
    t, _ = timed(lambda: backtrader_sma.run(bars), reps)
    return {"fills": [tuple(f) for f in out["fills"]], "final_equity": out["final_equity"],
            "version": out["version"]}, t


def ensure_nautilus(may_setup: bool) -> None:
    if NAUTILUS_PY.exists():
        return
    if not may_setup:
        raise Missing(f"its venv {NAUTILUS_PY.parent.parent} is not set up (the full profile creates it; "
                      "or run `bash benchmarks/peers/setup.sh`)")
    r = subprocess.run(["bash", str(SETUP), "nautilus"], capture_output=True, text=True, timeout=1800)
    if r.returncode != 0 or not NAUTILUS_PY.exists():
        tail = " | ".join((r.stdout + r.stderr).strip().splitlines()[-3:])
        raise Missing(f"benchmarks/peers/setup.sh could not install it (exit {r.returncode}): {tail}")


def run_nautilus(bars: Bars, reps: int, may_setup: bool) -> tuple[dict, float]:
    ensure_nautilus(may_setup)
    with tempfile.TemporaryDirectory(prefix="bench-nautilus-") as tmp:
        path = Path(tmp) / "bars.npz"
        np.savez(path, dates=bars.dates, open=bars.open, high=bars.high, low=bars.low, close=bars.close,
                 volume=bars.volume)
        r = subprocess.run([str(NAUTILUS_PY), str(ROOT / "benchmarks" / "peers" / "nautilus_sma.py"), str(path),
                            "--repeats", str(reps)], capture_output=True, text=True, timeout=3600)
    if r.returncode != 0:
        tail = " | ".join(r.stderr.strip().splitlines()[-3:])
        raise Missing(f"benchmarks/peers/nautilus_sma.py failed in its venv (exit {r.returncode}): {tail}")
    out = json.loads(r.stdout.strip().splitlines()[-1])
    return {"fills": [tuple(f) for f in out["fills"]], "final_equity": out["final_equity"],
            "version": out["version"]}, out["median_s"]


def check(name: str, bars: Bars, got: dict, ref: dict) -> str:
    """How ``got`` agrees with the reference; raises SystemExit when it does not (before its time is used)."""
    ok, how = sma_cross.same_fills(ref["fills"], got["fills"])
    gap = abs(got["final_equity"] - ref["final_equity"])
    mdd = sma_cross.max_drawdown(bars.close, got["fills"])
    if not ok or gap > 0.005 or abs(mdd - ref["max_drawdown"]) > 1e-8:
        raise SystemExit(f"{name} disagrees with the reference on {bars.name}: {how}; final equity "
                         f"{got['final_equity']:.2f} vs {ref['final_equity']:.2f}; max drawdown {mdd} vs "
                         f"{ref['max_drawdown']}")
    return f"{how}, final equity to the cent, max drawdown {mdd:.4%} (the numpy reference's to 1e-8)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="the 5,031 real bars only, 1 repeat; no venv creation")
    ap.add_argument("--no-setup", action="store_true", help="never create a peer's venv")
    args = ap.parse_args()
    reps = 1 if args.quick else args.repeats
    may_setup = not (args.quick or args.no_setup)
    datasets = [sma_cross.sp500_bars()] + ([] if args.quick else [sma_cross.long_bars(LONG_BARS)])

    rep = Report("backtest_peers")
    rows, missing = [], {}
    peers = {"backtrader": lambda b: run_backtrader(b, reps),
             "NautilusTrader": lambda b: run_nautilus(b, reps, may_setup)}
    for bars in datasets:
        ref = sma_cross.reference(bars.close)
        t_ref, _ = timed(lambda bars=bars: sma_cross.reference(bars.close), max(reps, 5))
        row = {"bars": bars.name, "n": bars.n, "trades_round_trip": sum(f[1] == "sell" for f in ref["fills"]),
               "fills": len(ref["fills"]), "final_equity": ref["final_equity"], "max_drawdown": ref["max_drawdown"],
               "crossing_margin": ref["crossing_margin"], "reference_s": t_ref, "peers": {}}
        for name, fn in peers.items():
            if name in missing:
                continue
            try:
                got, t = fn(bars)
            except Missing as e:
                missing[name] = str(e)
                print(f"{name}: missing: {e}", flush=True)
                continue
            row["peers"][name] = {"s": t, "bars_per_s": bars.n / t, "version": got["version"],
                                  "agreement": check(name, bars, got, ref)}
        ours = run_ours(bars)
        if ours is not None:
            agreement = check("ours", bars, ours, ref)
            t_ours, _ = timed(lambda bars=bars: run_ours(bars), reps)
            row["ours"] = {"s": t_ours, "bars_per_s": bars.n / t_ours, "agreement": agreement}
            for name, p in row["peers"].items():
                rep.compare(AREA, f"SMA 20/50 cross, {bars.name}", "our event-driven backtest", t_ours,
                            f"{name} {p['version']}", p["s"], True, agreement + "; the peer's likewise")
        rows.append(row)
        print(json.dumps(row), flush=True)

    if not any("ours" in r for r in rows):
        rep.missing("ours (event-driven backtest, issue 11)", "engines/strategy/backtest.py is not in this checkout "
                    "(issue 11 not merged): the peers are checked against the numpy reference only")
    for name, reason in missing.items():
        rep.missing(name, reason)
    for r in rows:
        for name, p in r["peers"].items():
            rep.figure(AREA, f"{name} {p['version']}, SMA 20/50 cross, {r['n']:,} bars", p["bars_per_s"], "bars/s")
    for name in peers:
        pts = [(r["n"], r["peers"][name]["s"]) for r in rows if name in r["peers"]]
        if len(pts) > 1:
            rep.scale(AREA, name, "bars", [x for x, _ in pts], [y for _, y in pts])

    out = results_dir()
    meta = {"machine": machine(), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "repeats": reps,
            "missing": missing}
    (out / "backtest_peers.json").write_text(json.dumps({"meta": meta, "rows": rows, "report": rep.as_dict()},
                                                        indent=2) + "\n")
    md = ["# Event-driven backtests: backtrader and NautilusTrader on one SMA-crossover strategy", "",
          f"`{rep.command}`, {meta['date']}, on {meta['machine']['cpu']} ({meta['machine']['logical_cpus']} CPUs). "
          f"Strategy and bars: benchmarks/peers/sma_cross.py. Medians of {reps} warm runs, each the whole "
          "backtest from bars in memory to fills and account. Every peer's fills, final equity and maximum "
          "drawdown equal the numpy reference's before its time is reported.", "",
          "| bars | round trips | final equity | max drawdown | peer | seconds | bars/s | agreement |",
          "|---|---:|---:|---:|---|---:|---:|---|"]
    for r in rows:
        entries = [(f"{n} {p['version']}", p) for n, p in r["peers"].items()]
        if "ours" in r:
            entries.insert(0, ("ours", r["ours"]))
        for label, p in entries:
            md.append(f"| {r['bars']} | {r['trades_round_trip']} | {r['final_equity']:,.2f} | {r['max_drawdown']:.2%} "
                      f"| {label} | {p['s']:.3f} | {p['bars_per_s']:,.0f} | {p['agreement']} |")
        md.append(f"| {r['bars']} | | | | numpy reference (vectorised, not event-driven) | {r['reference_s']:.4f} "
                  f"| {r['n'] / r['reference_s']:,.0f} | the definition |")
    if rep.peers_missing:
        md += ["", "Not run here:", ""] + [f"- {m['peer']}: {m['reason']}" for m in rep.peers_missing]
    (out / "backtest_peers.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
