"""Job functions of the strategy engine (they run in the job runner's worker processes).

``backtest``: the same steps as the synchronous operation (load bars, run, store), reading up to
``MAX_JOB_BARS`` bars, reporting progress as a fraction, bars processed and an ETA, and storing the
result in ``strategy_backtests``; the job's own result is the stored id and the summary metrics.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg

from backend.jobs.worker import JobContext
from engines.strategy import service
from engines.strategy.models import MAX_JOB_BARS, MAX_JOB_SWEEP_WORK, BacktestRequest, SweepRequest, SweepResponse


def backtest(ctx: JobContext) -> dict:
    req = BacktestRequest.model_validate(ctx.params)
    return asyncio.run(_backtest(ctx, req))


async def _backtest(ctx: JobContext, req: BacktestRequest) -> dict:
    conn = await asyncpg.connect(ctx.settings["database_url"])
    try:
        data, sizes = await service.load_bars(conn, req, MAX_JOB_BARS)
        t0 = time.monotonic()

        def progress(done: int, total: int) -> None:
            rate = done / max(time.monotonic() - t0, 1e-9)
            ctx.progress(done / total, f"{done} of {total} bars", bars=done, bars_total=total,
                         eta_s=round((total - done) / rate, 1) if rate > 0 else None)

        ctx.progress(0.0, "bars loaded", bars=0, bars_total=sum(len(d) for d in data.values()))
        s, params, r = service.execute(req, data, sizes, progress)
        bid = await service.store(conn, req, s, params, r, job_id=ctx.job_id)
    finally:
        await conn.close()
    return {"backtest_id": bid, "strategy": s.name, "version": s.version, "metrics": r.metrics}


def sweep(ctx: JobContext) -> dict:
    """A parameter sweep (and walk-forward) as a job; its result is the sweep's full report."""
    req = SweepRequest.model_validate(ctx.params)
    return asyncio.run(_sweep(ctx, req))


async def _sweep(ctx: JobContext, req: SweepRequest) -> dict:
    conn = await asyncpg.connect(ctx.settings["database_url"])
    try:
        data, sizes = await service.load_bars(conn, req.backtest(), MAX_JOB_BARS)
    finally:
        await conn.close()

    def progress(done: int, total: int) -> None:
        ctx.progress(done / total * (0.5 if req.walk_forward else 1.0), f"{done} of {total} parameter sets",
                     trials=done, trials_total=total)

    out = await asyncio.to_thread(service.run_sweep, req, data, sizes, MAX_JOB_SWEEP_WORK, progress)
    return SweepResponse(**out).model_dump(mode="json")
