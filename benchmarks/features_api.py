"""Indicators through the public API against TA-Lib in-process, on real bars, in one run.

    .venv/bin/python benchmarks/features_api.py            # the full run (about a minute)
    .venv/bin/python benchmarks/features_api.py --quick    # 3 calls each (keeps the script runnable)
    PYTHONPATH=. python benchmarks/features_api.py         # from a source checkout (benchmarks/gpu_suite.sh)

Bars: the NASDAQ Composite, daily OHLCV 1999-2018 shipped in arch (arch.data.nasdaq, 5,031 bars), loaded
into the platform with the load_samples operation. Fourteen TA-Lib indicators at their default parameters
(sma, ema, wma, dema, tema, kama, rsi, macd, stoch, willr, cci, adx, atr, bbands). Timed, medians of the
same number of warm calls:
  talib             the 14 TA-Lib calls in this process on numpy arrays (the floor);
  compute           the features engine's function in this process, request already validated;
  API inline        compute_indicators through the gateway, the bars in the request (binary and JSON);
  API stored        compute_stored_indicators through the gateway, the bars read from PostgreSQL by reference
                    (binary and JSON);
each API call made by nautilus_client (request encoded, response decoded: wire to wire). Starts the gateway,
the features and market-data engines on free ports, on the local PostgreSQL and Redis or embedded ones.
Results: benchmarks/results/features_api.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import talib

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backend.contract.operation import OpContext  # noqa: E402
from benchmarks.common import Report, Servers, results_dir  # noqa: E402
from engines.features.ops import ENGINE  # noqa: E402
from nautilus_client import Client  # noqa: E402
from tests.support.access import ADMIN_KEY  # noqa: E402
from tests.support.procs import Proc, base_env, free_port  # noqa: E402

SYMBOL = "^IXIC"
INDICATORS = ["sma", "ema", "wma", "dema", "tema", "kama", "rsi", "macd", "stoch", "willr", "cci", "adx", "atr",
              "bbands"]


def talib_all(o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray) -> list:
    """The same 21 output columns at the catalog's defaults (ADX's +DI and -DI are two more TA-Lib calls),
    checked equal to the API's output before anything is timed."""
    return [talib.SMA(c, 20), talib.EMA(c, 20), talib.WMA(c, 20), talib.DEMA(c, 20), talib.TEMA(c, 20),
            talib.KAMA(c, 30), talib.RSI(c, 14), talib.MACD(c, 12, 26, 9), talib.STOCH(h, lo, c, 5, 3, 0, 3, 0),
            talib.WILLR(h, lo, c, 14), talib.CCI(h, lo, c, 14), talib.ADX(h, lo, c, 14),
            talib.PLUS_DI(h, lo, c, 14), talib.MINUS_DI(h, lo, c, 14), talib.ATR(h, lo, c, 14),
            talib.BBANDS(c, 20, 2, 2)]


def timed(fn, reps: int) -> dict:  # noqa: ANN001
    fn()  # warm
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return {"median_ms": statistics.median(times) * 1e3, "min_ms": min(times) * 1e3, "n": reps}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=None, help="results path without extension (default <results>/features_api)")
    args = ap.parse_args()
    reps = 3 if args.quick else args.repeat

    import arch.data.nasdaq

    df = arch.data.nasdaq.load()
    o, h, lo, c, v = (df[k].to_numpy(dtype=np.float64) for k in ("Open", "High", "Low", "Close", "Volume"))
    series = {"symbol": SYMBOL, "open": o, "high": h, "low": lo, "close": c, "volume": v}
    specs = [{"name": n} for n in INDICATORS]
    inline = {"series": [series], "indicators": specs}
    stored = {"symbols": [SYMBOL], "timeframe": "1d", "indicators": specs}

    op = ENGINE.operation("compute_indicators")
    fn, req = op.load(), op.request.model_validate(inline)
    ctx = OpContext(engine="features")
    ref = fn(req, ctx)
    peer = [a for out in talib_all(o, h, lo, c) for a in (out if isinstance(out, tuple) else (out,))]
    ours = list(ref.results[0].values.values())
    assert len(peer) == len(ours)
    for name, a, b in zip(ref.results[0].values, ours, peer, strict=True):  # ours = TA-Lib before any timing
        np.testing.assert_allclose(a, b, rtol=1e-12, equal_nan=True, err_msg=name)
    rows = {"talib": timed(lambda: talib_all(o, h, lo, c), reps),
            "compute": timed(lambda: fn(req, ctx), reps)}

    tmp = Path(tempfile.mkdtemp(prefix="bench-features-"))
    servers = Servers(tmp).__enter__()  # local or embedded PostgreSQL and Redis; database nautilus_bench
    ports = {e: free_port() for e in ("features", "marketdata", "gateway")}
    env = base_env(tmp, DATABASE_URL=servers.database_url, REDIS_URL=servers.redis_url,
                   **{f"NAUTILUS_PORT_{e.upper()}": str(p) for e, p in ports.items()})
    procs = [Proc(e, f"engines.{e}" if e != "gateway" else "backend.gateway", env, p, tmp / f"{e}.log")
             for e, p in ports.items()]
    try:
        for p in procs:
            p.start()
        base = f"http://127.0.0.1:{ports['gateway']}"
        with Client(base, ADMIN_KEY, binary=False, timeout_s=600) as admin:
            admin.call("marketdata", "load_samples", {"datasets": ["arch_nasdaq"]})
        for enc in ("binary", "json"):
            with Client(base, ADMIN_KEY, binary=enc == "binary", timeout_s=120) as client:
                for name, op_name, body in (("inline", "compute_indicators", inline),
                                            ("stored", "compute_stored_indicators", stored)):
                    out = client.call("features", op_name, body)
                    got = out["results"][0]["values"]
                    for col, want in ref.results[0].values.items():  # the API answers what compute answers
                        g = np.asarray([np.nan if x is None else x for x in got[col]], dtype=np.float64)
                        np.testing.assert_allclose(g, want, rtol=1e-12, equal_nan=True, err_msg=col)
                    rows[f"api_{name}_{enc}"] = timed(lambda c=client, n=op_name, b=body: c.call("features", n, b),
                                                      reps)
    finally:
        for p in reversed(procs):
            p.stop()
        servers.__exit__()

    floor = rows["talib"]["median_ms"]
    for r in rows.values():
        r["x_talib"] = r["median_ms"] / floor
    meta = {"machine": platform.platform(), "cpu_count": os.cpu_count(), "python": platform.python_version(),
            "talib": talib.__version__, "bars": int(c.size), "indicators": INDICATORS, "repeat": reps,
            "command": "benchmarks/features_api.py " + " ".join(sys.argv[1:]),
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    out = Path(args.out) if args.out else results_dir() / "features_api"
    labels = {"talib": "TA-Lib in-process (16 calls, 21 columns)", "compute": "features engine function in-process",
              "api_inline_binary": "API compute_indicators, binary", "api_inline_json": "API compute_indicators, JSON",
              "api_stored_binary": "API compute_stored_indicators (bars from PostgreSQL), binary",
              "api_stored_json": "API compute_stored_indicators (bars from PostgreSQL), JSON"}
    report = Report("features_api")
    work = f"14 indicators, {c.size:,} NASDAQ bars"
    for key in ("compute", "api_inline_binary", "api_inline_json", "api_stored_binary", "api_stored_json"):
        report.compare("indicators", work, labels[key], rows[key]["median_ms"] / 1e3, "TA-Lib called directly",
                       floor / 1e3, True, "every column equal to TA-Lib's to rtol 1e-12 (checked before timing)")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows, "report": report.as_dict()}, indent=2) + "\n")
    md = ["# 14 indicators on 5,031 real bars: the API against TA-Lib in-process", "",
          f"`{meta['command']}` on {meta['machine']}, {meta['cpu_count']} CPUs, TA-Lib {meta['talib']}, "
          f"{meta['date']}. NASDAQ Composite daily OHLCV 1999-2018 (arch.data.nasdaq); medians of {reps} warm "
          "calls; API calls wire to wire through the gateway (nautilus_client).", "",
          "| path | median ms | min ms | × TA-Lib |", "|---|---|---|---|"]
    md += [f"| {labels[k]} | {r['median_ms']:.2f} | {r['min_ms']:.2f} | {r['x_talib']:.1f}× |" for k, r in rows.items()]
    out.with_suffix(".md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
