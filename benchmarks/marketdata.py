"""Market data benchmarks (one command): ``python benchmarks/marketdata.py [--ticks N] [--feed-messages N]``.

1. Validation + normalisation of 1,000,000 ticks in-process (target >= 1,000,000 ticks/s):
   a typed trades/quotes table (tz-aware timestamps, floats, side labels) -> canonical arrays
   (``parsing.normalise``) -> every quality check (``validation.check``, New York session).
2. End to end: simulated feed (GBM + jumps) -> batched XADD to Redis streams -> a consumer-group
   reader in another process (target >= 200,000 ticks/s), with feed-to-consumer latency p50/p99
   (consumer receive time minus the envelope's publish ts_ns; paced runs also from each tick's due
   time), flat out and paced, per-message and columnar formats in the same run.
Writes benchmarks/results/marketdata.json and .md. Redis: BENCH_REDIS_URL or redis://127.0.0.1:6379/12.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engines.marketdata.parsing import normalise  # noqa: E402
from engines.marketdata.validation import SessionRule, check  # noqa: E402

NY_SESSION = SessionRule(tz="America/New_York", start_s=4 * 3600, end_s=20 * 3600, weekdays_only=True)

#: One bus prefix for the producer and the consumer processes of this run (children inherit it).
BUS_PREFIX = os.environ.setdefault("BENCH_BUS_PREFIX", f"bench{os.getpid()}:")


def tick_table(kind: str, n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-03-04 14:30", tz="UTC").value
    ts = start + np.cumsum(rng.integers(0, 40_000, n))  # ~20 us apart: 1M ticks inside one session
    mid = 100 * np.exp(np.cumsum(rng.normal(0, 2e-5, n)))
    bad = rng.random(n) < 0.001  # a few bad rows so every check has work
    if kind == "trades":
        price = np.round(mid, 2)
        price[bad] = -price[bad]
        return pd.DataFrame({"ts": pd.DatetimeIndex(ts, tz="UTC"), "price": price,
                             "size": rng.integers(1, 500, n).astype(float),
                             "side": rng.choice(np.array(["buy", "sell"]), n)})
    bid = np.floor(mid * 100 - 1) / 100
    ask = bid + 0.01 * rng.integers(1, 4, n)
    ask[bad] = bid[bad] - 0.01
    return pd.DataFrame({"ts": pd.DatetimeIndex(ts, tz="UTC"), "bid": bid, "ask": ask,
                         "bid_size": rng.integers(1, 50, n).astype(float),
                         "ask_size": rng.integers(1, 50, n).astype(float)})


def bench_validation(n: int, repeats: int = 3) -> list[dict]:
    rows = []
    for kind in ("trades", "quotes"):
        df = tick_table(kind, n)
        times, rejected = [], 0
        for _ in range(repeats):
            t0 = time.perf_counter()
            parsed = normalise(df, kind, mapping={}, symbol="BENCH", venue=None, tz="UTC", ts_format=None,
                               ts_unit="auto", daily=False)
            ts = parsed.ts_ns - parsed.ts_ns % 1000
            checked = check(kind, ts, parsed.values, None, session=NY_SESSION, spike_threshold=10.0)
            times.append(time.perf_counter() - t0)
            rejected = int((checked.codes != 0).sum())
        best, med = min(times), float(np.median(times))
        rows.append({"kind": kind, "ticks": n, "best_s": best, "median_s": med, "ticks_per_s_best": n / best,
                     "ticks_per_s_median": n / med, "rejected": rejected})
    return rows


# ---- end to end ------------------------------------------------------------------
STEP_MS = 10  # simulated step; a paced run maps simulated time onto wall time (below)


def _consumer_proc(url: str, group: str, name: str, expected: int, paced: bool, total, ready, out) -> None:  # noqa: ANN001
    """Read through a consumer group until the group's consumers together got ``expected`` ticks (``total``
    is their shared count); per tick: receive time, envelope
    publish stamp and, when paced, exchange ts_ns and whether it is a quote/trade (bars are emitted when
    complete, so they have no due time)."""
    from backend.bus import Bus
    from engines.marketdata.consumer import MarketDataConsumer

    async def run() -> None:
        bus = Bus.from_url(url, prefix=BUS_PREFIX)
        c = MarketDataConsumer(bus, group, name, count=5000, block_ms=200, record_latency=False)
        await c.start()
        ready.set()
        recv, pub, exch, tick = [], [], [], []
        got, t_last, idle = 0, None, 0
        while total.value < expected and idle < 50:
            entries = await c.read()
            now = time.time_ns()
            if not entries:
                idle += 1
                continue
            idle = 0
            t_last = time.perf_counter()
            n = len(entries)
            recv.append(np.full(n, now, np.int64))
            pub.append(np.fromiter((e.envelope.ts_ns for e in entries), np.int64, n))
            if paced:
                exch.append(np.fromiter((e.envelope.payload["ts_ns"] for e in entries), np.int64, n))
                tick.append(np.fromiter((e.stream != "md.bars" for e in entries), bool, n))
            got += n
            with total.get_lock():
                total.value += n
            await c.ack(entries)
        await bus.close()
        cat = (lambda xs, dt: np.concatenate(xs) if xs else np.zeros(0, dt))  # noqa: E731
        out.put({"received": got, "t_last": t_last, "recv_ns": cat(recv, np.int64), "pub_ns": cat(pub, np.int64),
                 "exch_ns": cat(exch, np.int64), "tick": cat(tick, bool)})

    asyncio.run(run())


async def _produce(url: str, messages: int, symbols: int, fanout: bool, rate_msgs_s: float | None,
                   batched: bool, flush_ms: float) -> dict:
    """Flat out: batches of ~4,000 messages, one publish in flight while the next is built. Paced: ticks
    of simulated step j fall due at wall time t0 + j / steps_per_s; every ``flush_ms`` the producer
    simulates and publishes the steps due by then (as the feed engine does), so a tick waits for its
    flush, is built, encoded, sent and read; that whole wait counts in its latency from due time."""
    from backend.bus import Bus
    from engines.marketdata.feed import (
        bar_columns,
        bar_messages,
        quote_columns,
        quote_messages,
        trade_columns,
        trade_messages,
    )
    from engines.marketdata.models import ModelParams
    from engines.marketdata.publisher import BARS, QUOTES, TRADES, StreamPublisher
    from engines.marketdata.simulate import BarAggregator, GbmJumpSimulator

    bus = Bus.from_url(url, prefix=BUS_PREFIX)
    pub = StreamPublisher(bus, fanout=fanout, maxlen=messages * 2)
    params = ModelParams(step_ms=STEP_MS)
    names = [f"S{i:03d}" for i in range(symbols)]
    sim = GbmJumpSimulator(params, symbols, seed=1, start=pd.Timestamp("2024-03-04 15:00", tz="UTC"))
    agg = BarAggregator(symbols, 60 * 10**9)
    per_step = symbols * (1 + params.trade_probability)

    async def send(steps: int) -> tuple[int, int]:
        b = sim.steps(steps)
        bars = agg.update(b.t_ts, b.t_sym, b.price, b.size)
        if batched:
            sent = await pub.publish_columns({QUOTES: quote_columns(b, names, "SIM"),
                                              TRADES: trade_columns(b, names, "SIM"),
                                              BARS: bar_columns(bars, names, "1m")})
        else:
            sent = await pub.publish({QUOTES: quote_messages(b, names, "SIM"), TRADES: trade_messages(b, names, "SIM"),
                                      BARS: bar_messages(bars, names, "1m")})
        return sum(sent.values()), int(b.q_ts[0])

    sent, first_ts, entries = 0, None, 0
    t0, t0_wall = time.perf_counter(), time.time_ns()
    if rate_msgs_s is None:
        steps = max(1, int(4000 / per_step))
        in_flight: asyncio.Task | None = None
        while sent < messages:
            if in_flight is not None:
                n, ts = await in_flight
                sent, first_ts, entries = sent + n, first_ts or ts, entries + 1
            in_flight = asyncio.ensure_future(send(steps))
        n, ts = await in_flight
        sent, first_ts, entries = sent + n, first_ts or ts, entries + 1
        steps_per_s = None
    else:
        steps_per_s = rate_msgs_s / per_step
        total_steps = int(np.ceil(messages / per_step))
        done, flush_s, next_flush = 0, flush_ms / 1e3, t0
        while done < total_steps:
            now = time.perf_counter()
            if now < next_flush:
                await asyncio.sleep(next_flush - now)
                continue
            next_flush = max(next_flush + flush_s, t0 + (done + 1) / steps_per_s)
            n_steps = min(total_steps, int((now - t0) * steps_per_s)) - done
            if n_steps <= 0:
                continue
            n, ts = await send(n_steps)
            sent, first_ts, entries, done = sent + n, first_ts or ts, entries + 1, done + n_steps
    elapsed = time.perf_counter() - t0
    await bus.close()
    return {"published": sent, "publish_s": elapsed, "t_start": t0, "t0_wall_ns": t0_wall, "first_ts_ns": first_ts,
            "steps_per_s": steps_per_s, "sends": entries}


def _pct(x: np.ndarray) -> tuple[float | None, float | None, float | None]:
    if x.size == 0:
        return None, None, None
    p50, p99 = np.percentile(x, [50, 99])
    return float(p50), float(p99), float(x.max())


def bench_feed(url: str, messages: int, symbols: int, fanout: bool, rate: float | None, batched: bool = False,
               flush_ms: float = 1.0, consumers: int = 1) -> dict:
    import redis

    r = redis.from_url(url)
    r.delete("md.quotes", "md.trades", "md.bars")
    ctx = mp.get_context("spawn")
    out, total = ctx.Queue(), ctx.Value("q", 0)
    group = f"bench-{time.time_ns()}"
    procs = []
    for k in range(consumers):
        ready = ctx.Event()
        procs.append(ctx.Process(target=_consumer_proc, args=(url, group, f"bench-{k}", messages, rate is not None,
                                                              total, ready, out)))
        procs[-1].start()
        ready.wait(30)
    prod = asyncio.run(_produce(url, messages, symbols, fanout, rate, batched, flush_ms))
    parts = [out.get(timeout=300) for _ in procs]
    for proc in procs:
        proc.join(30)
    r.delete("md.quotes", "md.trades", "md.bars")
    r.close()
    res = {"received": sum(p["received"] for p in parts), "t_last": max(p["t_last"] or 0.0 for p in parts),
           **{k: np.concatenate([p[k] for p in parts]) for k in ("recv_ns", "pub_ns", "exch_ns", "tick")}}
    span = res["t_last"] - prod["t_start"]  # perf_counter is system-wide on Linux (CLOCK_MONOTONIC)
    p50, p99, mx = _pct((res["recv_ns"] - res["pub_ns"]) / 1e6)
    row = {"format": "columnar" if batched else "per message", "consumers": consumers, "symbols": symbols,
           "fanout": fanout,
           "target_rate_msgs_s": rate, "flush_ms": flush_ms if rate else None, "published": prod["published"],
           "received": res["received"], "publish_msgs_per_s": prod["published"] / prod["publish_s"],
           "end_to_end_msgs_per_s": res["received"] / span, "p50_ms": p50, "p99_ms": p99, "max_ms": mx,
           "due_p50_ms": None, "due_p99_ms": None, "due_max_ms": None}
    if rate:
        # tick due time: t0 + step index / steps per second, step index from its exchange time stamp
        tick = res["tick"]
        step = (res["exch_ns"][tick] - prod["first_ts_ns"]) // (STEP_MS * 10**6)
        due_ns = prod["t0_wall_ns"] + step / prod["steps_per_s"] * 1e9
        row["due_p50_ms"], row["due_p99_ms"], row["due_max_ms"] = _pct((res["recv_ns"][tick] - due_ns) / 1e6)
    return row


def write(results: dict) -> None:
    from benchmarks.common import Report, results_dir

    out = results_dir()
    report = Report("marketdata")
    for v in results["validation"]:
        report.figure("market data", f"{v['kind']} validated and normalised in-process", v["ticks_per_s_median"],
                      "ticks/s")
    for f in results["feed"]:
        if not f["target_rate_msgs_s"]:
            report.figure("market data", f"feed → Redis → {f['consumers']} consumer(s), {f['format']}, "
                          f"{f['symbols']} symbols, end to end", f["end_to_end_msgs_per_s"], "ticks/s")
    results["report"] = report.as_dict()
    (out / "marketdata.json").write_text(json.dumps(results, indent=2))
    lines = [
        "# Market data benchmarks", "",
        f"Run {results['when']} on {results['machine']} (`{report.command}`).", "",
        "## Validation + normalisation in-process (target >= 1,000,000 ticks/s)", "",
        "| kind | ticks | best s | median s | ticks/s (best) | ticks/s (median) | rejected |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for v in results["validation"]:
        lines.append(f"| {v['kind']} | {v['ticks']:,} | {v['best_s']:.3f} | {v['median_s']:.3f} | "
                     f"{v['ticks_per_s_best']:,.0f} | {v['ticks_per_s_median']:,.0f} | {v['rejected']:,} |")
    lines += ["", "## Simulated feed -> Redis streams -> consumer group (target >= 200,000 ticks/s)", "",
              "Both formats in the same run: per message (the default: one stream entry per tick) and columnar "
              "(opt-in: one entry per stream per send, its payload arrays of the ticks' fields). The consumer "
              "(`MarketDataConsumer`, another process) yields one record per tick from either.", "",
              "| format | consumers | symbols | fan-out | paced at ticks/s | flush ms | ticks | publish ticks/s "
              "| end-to-end ticks/s | p50 ms | p99 ms | max ms | from due: p50 ms | p99 ms | max ms |",
              "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]

    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}"

    for f in results["feed"]:
        rate = f"{f['target_rate_msgs_s']:,.0f}" if f["target_rate_msgs_s"] else "flat out"
        flush = f"{f['flush_ms']:g}" if f["flush_ms"] else "-"
        lines.append(f"| {f['format']} | {f['consumers']} | {f['symbols']} | {'on' if f['fanout'] else 'off'} | "
                     f"{rate} | {flush} | "
                     f"{f['received']:,} | {f['publish_msgs_per_s']:,.0f} | {f['end_to_end_msgs_per_s']:,.0f} | "
                     f"{ms(f['p50_ms'])} | {ms(f['p99_ms'])} | {ms(f['max_ms'])} | {ms(f['due_p50_ms'])} | "
                     f"{ms(f['due_p99_ms'])} | {ms(f['due_max_ms'])} |")
    flat = {(f["format"], f["consumers"], f["symbols"], f["fanout"]): f["end_to_end_msgs_per_s"]
            for f in results["feed"] if not f["target_rate_msgs_s"]}
    ratios = [f"{k[1]} consumer(s), {k[2]} symbols, fan-out {'on' if k[3] else 'off'}: "
              f"{v / flat[('per message', *k[1:])]:.1f}x"
              for k, v in flat.items() if k[0] == "columnar" and ("per message", *k[1:]) in flat]
    lines += ["", "Columnar / per-message end-to-end ticks/s, flat out, this run: " + "; ".join(ratios) + ".", "",
              "Consumers: processes reading through one consumer group (entries are shared out between them; "
              "a row whose publish rate is close to its end-to-end rate is limited by the producer, not the "
              "consumers). Each read takes up to 5,000 entries, i.e. up to 5,000 ticks per message, or every "
              "columnar entry available, thousands of ticks each. "
              "Latency (p50/p99/max) = consumer receive time - the envelope's publish ts_ns (stamped when the message, "
              "or the columnar batch, is encoded). Flat out, the pipeline is saturated and that latency is queueing. "
              "Paced runs also give latency from each quote/trade's due time: the producer simulates and publishes, "
              "every flush interval, the ticks that fell due since the last one, so 'from due' includes waiting "
              "for the flush, building and encoding the batch, Redis, and the consumer's decoding; it is what "
              "batching costs a tick. In a columnar entry every tick carries the batch's publish stamp.", ""]
    (out / "marketdata.md").write_text("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ticks", type=int, default=1_000_000)
    ap.add_argument("--feed-messages", type=int, default=600_000)
    ap.add_argument("--quick", action="store_true", help="50,000 ticks, 20,000 feed messages")
    args = ap.parse_args()
    if args.quick:
        args.ticks, args.feed_messages = 50_000, 20_000
    url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
    results = {"when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
               "machine": f"{platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} cpu",
               "validation": bench_validation(args.ticks), "feed": []}
    for v in results["validation"]:
        print(f"validation {v['kind']}: {v['ticks_per_s_best']:,.0f} ticks/s best, "
              f"{v['ticks_per_s_median']:,.0f} median")
    runs = [  # (columnar?, consumers, symbols, fan-out, paced ticks/s, flush ms), both formats in this one run
        (False, 1, 10, False, None, 1.0), (True, 1, 10, False, None, 1.0),
        (False, 1, 10, True, None, 1.0), (True, 1, 10, True, None, 1.0),
        (False, 1, 100, False, None, 1.0), (True, 1, 100, False, None, 1.0),
        (False, 2, 10, False, None, 1.0), (True, 2, 10, False, None, 1.0),
        (False, 1, 10, False, 20_000.0, 1.0), (True, 1, 10, False, 20_000.0, 1.0), (True, 1, 10, False, 20_000.0, 10.0),
        (True, 1, 10, False, 100_000.0, 10.0), (True, 1, 10, False, 200_000.0, 1.0),
        (True, 1, 10, False, 200_000.0, 10.0), (True, 2, 10, False, 200_000.0, 10.0),
    ]
    if args.quick:
        runs = runs[:2]  # one flat-out run of each format
    for batched, consumers, symbols, fanout, rate, flush in runs:
        n = args.feed_messages if rate is None else int(rate * 5)
        f = bench_feed(url, n, symbols, fanout, rate, batched, flush, consumers)
        results["feed"].append(f)
        print(f"feed {f['format']} consumers={consumers} symbols={symbols} fanout={fanout} rate={rate} flush={flush}: "
              f"{f['end_to_end_msgs_per_s']:,.0f} ticks/s end to end, p50 {f['p50_ms']:.1f} ms, "
              f"p99 {f['p99_ms']:.1f} ms"
              + (f", from due p50 {f['due_p50_ms']:.1f} p99 {f['due_p99_ms']:.1f} ms" if rate else "")
              + f" ({f['received']}/{f['published']})")
    write(results)
    print("wrote marketdata.json and .md")


if __name__ == "__main__":
    main()
