"""Champion/challenger in shadow on the live feed: a job that follows md.bars for one symbol.

``start_shadow`` resolves both versions and the symbol's stored history (closes up to the last stored bar),
then queues a ``shadow_volatility`` job. The job (a worker process with its own Redis and PostgreSQL
connections) reads md.bars through its own consumer group from the start of the stream, and for every bar
of the symbol and timeframe later than the last one seen: stores the realised outcome (the new return's
square) of the previous bar's forecasts, then both versions' forecast of the next return's variance with
their stored parameters (``ml_shadow_predictions``). It runs until cancelled (``cancel_job``).
``compare_shadow`` scores the pairs whose outcome has arrived: QLIKE, MSE and the DM test.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
from typing import Any

import numpy as np

from backend.contract.operation import OpContext
from backend.core.errors import Conflict, InvalidInput, NotFound
from backend.jobs import store as jobs
from backend.jobs.models import JobView
from backend.jobs.worker import JobContext
from engines.ml.compute import evaluation as ev
from engines.ml.compute import volatility as vol
from engines.ml.models.shadow import ShadowComparison, ShadowRef, StartShadowRequest
from engines.ml.registry import store

SHADOW_VOLATILITY = "shadow_volatility"
_ROW = ("name", "version", "model_type", "artifact_path", "artifact_hash", "stage")


async def start_shadow(req: StartShadowRequest, ctx: OpContext) -> JobView:
    db = ctx.require_db()
    champ = await store.get_version(db, req.name, req.champion, field="champion")
    chall = await store.get_version(db, req.name, req.challenger, field="challenger")
    if champ["version"] == chall["version"]:
        raise InvalidInput("champion and challenger are the same version", field="challenger")
    if await store.model_task(db, req.name) != "volatility":
        raise InvalidInput("shadow runs compare volatility models", field="name")
    rows = await db.fetch(
        """SELECT ts, close FROM (SELECT ts, close FROM bars WHERE symbol = $1 AND timeframe = $2
               ORDER BY ts DESC LIMIT $3) b ORDER BY ts""", req.symbol, req.timeframe, req.history_bars + 1)
    if len(rows) < 101:
        raise InvalidInput(f"{len(rows)} stored {req.timeframe!r} bars of {req.symbol!r}; the filters need 101",
                           field="symbol")
    closes = [float(r["close"]) for r in rows]
    params = {"request": req.model_dump(mode="json"), "closes": closes, "last_ts": rows[-1]["ts"].isoformat(),
              "versions": {role: {k: r[k] for k in _ROW} for role, r in (("champion", champ), ("challenger", chall))}}
    job = await jobs.submit(db, ctx.engine, SHADOW_VOLATILITY, params, None)
    if ctx.jobs is not None:
        ctx.jobs.wake()
    job["params"] = {"request": params["request"]}
    return JobView(**job)


def shadow_volatility(ctx: JobContext) -> dict[str, Any]:
    """Job entry point (worker process): follow the feed until cancelled."""
    return asyncio.run(_follow(ctx))


async def _follow(ctx: JobContext) -> dict[str, Any]:
    import asyncpg

    from backend.bus import Bus
    from backend.bus.streams import MD_BARS
    from backend.core.settings import Settings
    from engines.marketdata.consumer import MarketDataConsumer, expand
    from engines.ml.service import load_fitted

    p = ctx.params
    req = StartShadowRequest.model_validate(p["request"])
    models = {role: load_fitted(v) for role, v in p["versions"].items()}
    closes = np.asarray(p["closes"], dtype=np.float64)
    returns = list(np.diff(np.log(closes)))
    last_close, last_ts = float(closes[-1]), dt.datetime.fromisoformat(p["last_ts"])
    s = ctx.settings
    bus = Bus.for_settings(Settings(redis_url=s["redis_url"], instance_id=s["instance_id"]))
    conn = await asyncpg.connect(s["database_url"])
    consumer = MarketDataConsumer(bus, f"ml-shadow-{ctx.job_id}", "w1", streams=(MD_BARS,), start_id="0",
                                  record_latency=False, block_ms=200)
    seen = 0
    try:
        await consumer.start()
        while True:
            ctx.progress(0.0, f"{seen} bars of {req.symbol} in shadow", bars=seen)  # raises when cancelled
            entries = await consumer.read()
            for e in entries:
                for env in expand(e.envelope):
                    b = env.payload
                    if env.type != "bar" or b.get("symbol") != req.symbol or b.get("timeframe") != req.timeframe:
                        continue
                    ts = dt.datetime.fromtimestamp(int(b["ts_ns"]) / 1e9, dt.UTC)
                    close = float(b["close"])
                    if ts <= last_ts or not (close > 0 and math.isfinite(close)):
                        continue
                    r = math.log(close / last_close)
                    returns.append(r)
                    await _record(conn, ctx.job_id, req, p["versions"], models, np.asarray(returns), last_ts, ts,
                                  r * r)
                    last_close, last_ts, seen = close, ts, seen + 1
            await consumer.ack(entries)
    finally:
        try:  # the run's consumer group ends with it
            await bus.redis.xgroup_destroy(bus.key(MD_BARS), f"ml-shadow-{ctx.job_id}")
        except Exception:  # noqa: BLE001 - Redis gone: nothing to clean
            pass
        await conn.close()
        await bus.close()


async def _record(conn: Any, shadow_id: str, req: StartShadowRequest, versions: dict, models: dict,
                  r: np.ndarray, prev_ts: dt.datetime, ts: dt.datetime, outcome: float) -> None:
    """The outcome of the forecasts made at ``prev_ts``, then both forecasts made at ``ts``, in one transaction."""
    forecasts = {role: float(vol.forecast(spec, fitted, r, 1)[0]) for role, (spec, fitted) in models.items()}
    async with conn.transaction():
        await conn.execute("UPDATE ml_shadow_predictions SET outcome = $3 WHERE shadow_id = $1 AND origin_ts = $2",
                           shadow_id, prev_ts, outcome)
        await conn.executemany(
            "INSERT INTO ml_shadow_predictions (shadow_id, name, role, version, symbol, origin_ts, variance) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
            [(shadow_id, req.name, role, versions[role]["version"], req.symbol, ts, f)
             for role, f in forecasts.items()])


async def compare_shadow(req: ShadowRef, ctx: OpContext) -> ShadowComparison:
    db = ctx.require_db()
    rows = await db.fetch("SELECT name, role, version, symbol, origin_ts, variance, outcome FROM "
                          "ml_shadow_predictions WHERE shadow_id = $1 ORDER BY origin_ts, role", req.shadow_id)
    if not rows:
        job = await db.fetchval("SELECT kind FROM jobs WHERE id = $1 AND engine = $2", req.shadow_id, ctx.engine)
        if job != SHADOW_VOLATILITY:
            raise NotFound(f"no shadow run {req.shadow_id!r}", field="shadow_id")
        raise Conflict("the shadow run has seen no bar of its symbol yet", field="shadow_id")
    by = {role: {r["origin_ts"]: r for r in rows if r["role"] == role} for role in ("champion", "challenger")}
    done = sorted(t for t in by["champion"] if t in by["challenger"] and by["champion"][t]["outcome"] is not None)
    pending = sum(1 for t in by["champion"] if by["champion"][t]["outcome"] is None)
    first = rows[0]
    versions = {role: next(iter(by[role].values()))["version"] for role in by}
    out = {"shadow_id": req.shadow_id, "name": first["name"], "symbol": first["symbol"],
           "champion_version": versions["champion"], "challenger_version": versions["challenger"],
           "n_forecasts": len(done), "pending": pending, "first_origin": done[0] if done else None,
           "last_origin": done[-1] if done else None}
    if len(done) < 10:
        return ShadowComparison(**out, champion=None, challenger=None, diebold_mariano=[], challenger_better=False,
                                verdict=f"{len(done)} outcomes so far; a comparison needs at least 10")
    y = np.array([by["champion"][t]["outcome"] for t in done])
    f0 = np.array([by["champion"][t]["variance"] for t in done])
    f1 = np.array([by["challenger"][t]["variance"] for t in done])
    chall_l, champ_l = ev.loss_pair(f1, y), ev.loss_pair(f0, y)
    _, _, dms, better = ev.compare(f1, f0, y, 1)
    verdict = ev.verdict(f"v{versions['challenger']} (challenger)", f"v{versions['champion']} (champion)",
                         chall_l, champ_l, dms[0], better)
    return ShadowComparison(**out, champion=champ_l, challenger=chall_l, diebold_mariano=dms,
                            challenger_better=better, verdict=f"in shadow: {verdict}")
