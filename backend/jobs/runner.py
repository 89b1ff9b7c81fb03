"""The engine-side job loop: claim queued jobs, run them in worker processes, relay progress.

One ``JobRunner`` per engine process that owns job kinds. It claims at most ``workers`` jobs at a
time from PostgreSQL (so 100 queued backtests wait in the table, not in memory), runs each in a
spawned worker process (``backend.jobs.worker``), writes progress to the ``jobs`` row and publishes
it on the bus (topic ``events.job.<engine>.<kind>``: pub/sub for live views; terminal states also on
the ``events.jobs`` stream). A worker that dies fails only its own jobs; the pool is rebuilt.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import queue as queue_mod
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from backend.bus.streams import EVENTS_JOBS
from backend.contract.operation import OpContext
from backend.core import metrics
from backend.jobs import store
from backend.jobs.kinds import JobKind
from backend.jobs.worker import JobCancelled, init, run_job

log = logging.getLogger(__name__)
EVENTS_MAXLEN = 10_000
MAX_ERROR_CHARS = 2000


def topic(engine: str, kind: str) -> str:
    return f"events.job.{engine}.{kind}"


class JobRunner:
    def __init__(self, engine: str, kinds: tuple[JobKind, ...], ctx_factory: Callable[[], OpContext], *,
                 workers: int, poll_s: float = 0.5) -> None:
        self.engine = engine
        self.kinds = {k.name: k for k in kinds}
        self.ctx_factory = ctx_factory
        self.workers = max(1, workers)
        self.poll_s = poll_s
        self.running: dict[str, asyncio.Task] = {}
        self.started_at: dict[str, float] = {}
        self.completed = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._pump: threading.Thread | None = None
        self._mp = multiprocessing.get_context("spawn")
        self._manager: Any = None
        self._queue: Any = None
        self._cancels: Any = None
        self._pool: ProcessPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False

    # ---- lifecycle -------------------------------------------------------------
    async def start(self) -> None:
        ctx = self.ctx_factory()
        requeued, failed = await store.recover(ctx.require_db(), self.engine, list(self.kinds))
        if requeued or failed:
            log.warning("jobs left running by a previous %s process: %d requeued, %d failed", self.engine,
                        requeued, failed)
        self._loop = asyncio.get_running_loop()
        self._manager = self._mp.Manager()
        self._queue, self._cancels = self._manager.Queue(), self._manager.dict()
        self._pool = self._new_pool()
        self._pump = threading.Thread(target=self._pump_reports, name=f"{self.engine}-job-reports", daemon=True)
        self._pump.start()
        self._task = asyncio.create_task(self._run(), name=f"{self.engine}-jobs")

    async def stop(self) -> None:
        """Stop claiming; running jobs go back to the queue (the next start runs them again)."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for job_id in list(self.running):
            self._cancels[job_id] = True
        for task in self.running.values():
            task.cancel()
        await asyncio.gather(*self.running.values(), return_exceptions=True)
        db = self.ctx_factory().db
        if db is not None and self.running:
            await db.execute("UPDATE jobs SET status = 'queued', message = 'requeued: engine stopped', "
                             "updated_at = now() WHERE id = ANY($1::text[]) AND status = 'running'",
                             list(self.running))
        if self._pool is not None:
            procs = list((getattr(self._pool, "_processes", None) or {}).values())
            self._pool.shutdown(wait=False, cancel_futures=True)
            for p in procs:  # a stuck job must not outlive its engine
                if p.is_alive():
                    p.terminate()
        if self._queue is not None:
            self._queue.put(None)
        if self._manager is not None:
            self._manager.shutdown()

    def wake(self) -> None:
        self._wake.set()

    def view(self) -> dict[str, Any]:
        return {"workers": self.workers, "running": len(self.running), "completed": self.completed,
                "kinds": sorted(self.kinds)}

    # ---- loop ------------------------------------------------------------------
    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.workers, mp_context=self._mp, initializer=init,
                                   initargs=(self._queue, self._cancels))

    async def _run(self) -> None:
        while True:
            try:
                await self._tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the loop outlives a database hiccup
                log.exception("%s job loop failed; retrying", self.engine)
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll_s)
            except TimeoutError:
                pass

    async def _tick(self) -> None:
        ctx = self.ctx_factory()
        db = ctx.require_db()
        if self.running:
            for job_id in await store.cancel_flags(db, list(self.running)):
                self._cancels[job_id] = True
            now = time.monotonic()
            for job_id, t0 in list(self.started_at.items()):
                job = self.running.get(job_id)
                kind = getattr(job, "job_kind", None)
                if kind is not None and now - t0 > self.kinds[kind].timeout_s:
                    self._cancels[job_id] = True
        free = self.workers - len(self.running)
        if free <= 0 or self._stopping:
            return
        for r in await store.claim(db, self.engine, list(self.kinds), free):
            task = asyncio.create_task(self._execute(r), name=f"job-{r['id']}")
            task.job_kind = r["kind"]  # type: ignore[attr-defined]
            self.running[r["id"]] = task
            self.started_at[r["id"]] = time.monotonic()
            await self._publish(store.view(r, with_result=False), "job.started")

    async def _execute(self, r: Any) -> None:
        job_id, kind = r["id"], self.kinds[r["kind"]]
        ctx = self.ctx_factory()
        db = ctx.require_db()
        settings = ctx.settings
        env = {"database_url": getattr(settings, "database_url", None),
               "redis_url": getattr(settings, "redis_url", None),
               "instance_id": getattr(settings, "instance_id", "default")}
        params = store.view(r)["params"]
        pool = self._pool
        event = "job.interrupted"  # until the job ends one of the ways below
        try:
            fut = self._loop.run_in_executor(pool, run_job, kind.fn_path, job_id, kind.name, params, env)
            result = await fut
            on_done = kind.load_on_done()
            if on_done is not None:
                result = await on_done(job_id, result, ctx)
            await store.finish(db, job_id, "succeed", result=result, message="done")
            event = "job.succeeded"
        except JobCancelled:
            timed_out = time.monotonic() - self.started_at.get(job_id, time.monotonic()) > kind.timeout_s
            if timed_out:
                await store.finish(db, job_id, "fail", error=f"timed out after {kind.timeout_s:.0f}s")
                event = "job.failed"
            else:
                await store.finish(db, job_id, "cancel", message="cancelled while running")
                event = "job.cancelled"
        except asyncio.CancelledError:
            raise
        except BrokenProcessPool:
            # a worker died, and the pool with it: every job it ran ends here. Each goes back to the
            # queue until it has had MAX_ATTEMPTS, so a job that kills its worker fails alone.
            if self._pool is pool:
                self._pool = self._new_pool()
            if r["attempts"] < store.MAX_ATTEMPTS:
                await db.execute("UPDATE jobs SET status = 'queued', message = 'requeued: a worker process died',"
                                 " updated_at = now() WHERE id = $1 AND status = 'running'", job_id)
                event = "job.requeued"
            else:
                await store.finish(db, job_id, "fail", error="its worker process died (out of memory or killed) "
                                   f"in each of {store.MAX_ATTEMPTS} attempts")
                event = "job.failed"
        except Exception as e:  # noqa: BLE001 - the job's own failure is its result
            await store.finish(db, job_id, "fail", error=f"{type(e).__name__}: {e}"[:MAX_ERROR_CHARS])
            event = "job.failed"
        finally:
            self.running.pop(job_id, None)
            t_claimed = self.started_at.pop(job_id, None)
            if t_claimed is not None and event != "job.requeued":
                metrics.JOB_DURATION.labels(self.engine, kind.name, event.removeprefix("job.")).observe(
                    time.monotonic() - t_claimed)
            self._cancels.pop(job_id, None)
            self.wake()
        self.completed += 1
        await self._publish(await store.get(db, self.engine, job_id, with_result=False), event, durable=True)

    # ---- progress ----------------------------------------------------------------
    def _pump_reports(self) -> None:
        """Thread: worker reports -> the event loop (the Manager queue blocks, so not on the loop)."""
        while True:
            try:
                item = self._queue.get()
            except (EOFError, OSError, queue_mod.Empty):
                return
            if item is None:
                return
            self._loop.call_soon_threadsafe(lambda item=item: asyncio.ensure_future(self._report(*item)))

    async def _report(self, job_id: str, fraction: float, message: str | None, metrics: dict[str, Any]) -> None:
        db = self.ctx_factory().db
        if db is None:
            return
        elapsed = time.monotonic() - self.started_at.get(job_id, time.monotonic())
        if 0 < fraction < 1:
            metrics = {**metrics, "eta_s": round(elapsed * (1 - fraction) / fraction, 3)}
        try:
            if await store.report(db, job_id, fraction, message, metrics):
                self._cancels[job_id] = True
        except Exception:  # noqa: BLE001 - a lost progress report is not worth failing the job
            log.debug("progress report for %s not stored", job_id, exc_info=True)
            return
        kind = getattr(self.running.get(job_id), "job_kind", "")
        await self._publish({"id": job_id, "engine": self.engine, "kind": kind, "status": store.RUNNING,
                             "progress": fraction, "message": message, "metrics": metrics}, "job.progress")

    async def _publish(self, payload: dict[str, Any], type_: str, durable: bool = False) -> None:
        bus = self.ctx_factory().bus
        if bus is None:
            return
        t = topic(self.engine, payload.get("kind") or "")
        try:
            await bus.broadcast(t, t, type_, payload)
            if durable:
                await bus.append(EVENTS_JOBS, t, type_, payload, maxlen=EVENTS_MAXLEN)
        except Exception:  # noqa: BLE001 - the jobs table is the truth; the bus is a courtesy
            log.debug("job event %s not published", type_, exc_info=True)
