"""Persisted jobs against real PostgreSQL and Redis: queueing, progress, results, cancellation, failures,
a dead worker, restart recovery, and bounded concurrency with many queued jobs."""

from __future__ import annotations

import asyncio

import pytest

from backend.contract.operation import OpContext
from backend.core.errors import Conflict, NotFound
from backend.jobs import store
from backend.jobs.kinds import JobKind
from backend.jobs.runner import JobRunner
from tests.support.access import instance_settings

pytestmark = pytest.mark.timeout(120)
KINDS = (JobKind("count", "tests.support.jobs:count"), JobKind("fail", "tests.support.jobs:fail"),
         JobKind("crash", "tests.support.jobs:crash"), JobKind("not_a_dict", "tests.support.jobs:not_a_dict"),
         JobKind("slow", "tests.support.jobs:count", timeout_s=0.5))


@pytest.fixture
async def runner(db_pool, bus, database_url, redis_url):
    engine = f"jobtest{id(db_pool) % 10_000}"
    settings = instance_settings(database_url=database_url, redis_url=redis_url)
    holder: dict = {}

    def ctx() -> OpContext:
        return OpContext(engine=engine, db=db_pool, bus=bus, settings=settings, jobs=holder.get("r"))

    r = JobRunner(engine, KINDS, ctx, workers=2, poll_s=0.05)
    holder["r"] = r
    await r.start()
    yield r, engine
    await r.stop()
    await db_pool.execute("DELETE FROM jobs WHERE engine = $1", engine)


async def wait_status(db, engine, job_id, statuses, timeout_s=60.0) -> dict:  # noqa: ANN001
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        job = await store.get(db, engine, job_id)
        if job["status"] in statuses:
            return job
        assert asyncio.get_running_loop().time() < deadline, job
        await asyncio.sleep(0.05)


async def test_job_when_submitted_then_runs_reports_progress_and_stores_result(runner, db_pool, bus) -> None:
    r, engine = runner
    events = bus.subscribe(f"events.job.{engine}.*")
    first = asyncio.ensure_future(anext(events))
    await asyncio.sleep(0.1)
    job = await store.submit(db_pool, engine, "count", {"n": 30, "step_s": 0.02}, None)
    assert job["status"] == "queued"
    r.wake()
    done = await wait_status(db_pool, engine, job["id"], {"succeeded"})
    assert done["result"]["counted"] == 30 and done["progress"] == 1.0 and done["attempts"] == 1
    assert done["metrics"]["steps"] >= 1 and done["elapsed_s"] > 0
    env = await asyncio.wait_for(first, 10)
    assert env.topic == f"events.job.{engine}.count" and env.payload["id"] == job["id"]
    await events.aclose()


async def test_job_when_function_raises_then_failed_with_reason(runner, db_pool) -> None:
    r, engine = runner
    job = await store.submit(db_pool, engine, "fail", {"what": "x"}, None)
    done = await wait_status(db_pool, engine, job["id"], {"failed"})
    assert done["error"] == "ValueError: bad parameter 'x'"
    job = await store.submit(db_pool, engine, "not_a_dict", {}, None)
    assert "not a dict" in (await wait_status(db_pool, engine, job["id"], {"failed"}))["error"]


async def test_job_when_cancelled_while_queued_or_running_then_cancelled_and_finished_is_409(runner, db_pool):
    r, engine = runner
    running = await store.submit(db_pool, engine, "count", {"n": 400, "step_s": 0.01}, None)
    await wait_status(db_pool, engine, running["id"], {"running"})
    await store.request_cancel(db_pool, engine, running["id"])
    done = await wait_status(db_pool, engine, running["id"], {"cancelled"}, 20)
    assert done["progress"] < 1.0
    with pytest.raises(Conflict):
        await store.request_cancel(db_pool, engine, running["id"])
    with pytest.raises(NotFound):
        await store.request_cancel(db_pool, engine, "ffff")


async def test_job_when_worker_process_dies_then_only_it_fails_and_others_still_run(runner, db_pool) -> None:
    r, engine = runner
    ok = await store.submit(db_pool, engine, "count", {"n": 40, "step_s": 0.02}, None)
    await wait_status(db_pool, engine, ok["id"], {"running"})
    crash = await store.submit(db_pool, engine, "crash", {}, None)
    failed = await wait_status(db_pool, engine, crash["id"], {"failed"})
    assert "died" in failed["error"] and failed["attempts"] == store.MAX_ATTEMPTS
    done = await wait_status(db_pool, engine, ok["id"], {"succeeded"})  # requeued when the pool broke, then ran
    assert done["result"]["counted"] == 40


async def test_job_when_over_its_timeout_then_failed(runner, db_pool) -> None:
    r, engine = runner
    job = await store.submit(db_pool, engine, "slow", {"n": 500, "step_s": 0.01}, None)
    assert "timed out" in (await wait_status(db_pool, engine, job["id"], {"failed"}, 30))["error"]


async def test_many_queued_jobs_when_run_then_at_most_workers_at_once_and_all_succeed(runner, db_pool) -> None:
    r, engine = runner
    ids = [(await store.submit(db_pool, engine, "count", {"n": 2, "step_s": 0.001}, None))["id"] for _ in range(30)]
    peak = 0
    while True:
        rows = await db_pool.fetch("SELECT status FROM jobs WHERE id = ANY($1::text[])", ids)
        peak = max(peak, sum(x["status"] == "running" for x in rows))
        if all(x["status"] == "succeeded" for x in rows):
            break
        await asyncio.sleep(0.02)
    assert 1 <= peak <= r.workers
    pids = {(await store.get(db_pool, engine, i))["result"]["pid"] for i in ids}
    assert len(pids) <= r.workers  # workers are reused, not one process per job


async def test_runner_when_restarted_with_jobs_left_running_then_they_run_again(db_pool, bus, database_url,
                                                                                 redis_url) -> None:
    engine = "jobrecover"
    settings = instance_settings(database_url=database_url, redis_url=redis_url)
    job = await store.submit(db_pool, engine, "count", {"n": 2}, None)
    await db_pool.execute("UPDATE jobs SET status = 'running', attempts = 1 WHERE id = $1", job["id"])  # a crash
    r = JobRunner(engine, KINDS, lambda: OpContext(engine=engine, db=db_pool, bus=bus, settings=settings),
                  workers=1, poll_s=0.05)
    await r.start()
    try:
        done = await wait_status(db_pool, engine, job["id"], {"succeeded"})
        assert done["attempts"] == 2
    finally:
        await r.stop()
        await db_pool.execute("DELETE FROM jobs WHERE engine = $1", engine)
