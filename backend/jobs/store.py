"""The ``jobs`` table (migration 0310): the one source of truth for a job's state.

Status moves only along ``TRANSITIONS``; every write says which states it moves from, so two
processes can never both finish a job or resurrect a cancelled one.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import orjson

from backend.core.errors import Conflict, NotFound

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELLED})
TRANSITIONS: dict[tuple[str, str], str] = {
    (QUEUED, "claim"): RUNNING,
    (QUEUED, "cancel"): CANCELLED,
    (RUNNING, "succeed"): SUCCEEDED,
    (RUNNING, "fail"): FAILED,
    (RUNNING, "cancel"): CANCELLED,
    (RUNNING, "requeue"): QUEUED,  # its engine restarted mid-run
}
#: How many times a job is started before a restart-interrupted job is failed instead of re-queued.
MAX_ATTEMPTS = 3
_COLS = ("id, engine, kind, params, status, progress, message, metrics, result, error, owner, cancel_requested, "
         "attempts, created_at, started_at, finished_at, updated_at")


def _from(state: str, event: str) -> str:
    return TRANSITIONS[(state, event)]


def view(r: asyncpg.Record, with_result: bool = True) -> dict[str, Any]:
    started, finished = r["started_at"], r["finished_at"]
    metrics = orjson.loads(r["metrics"]) if r["metrics"] else {}
    return {
        "id": r["id"], "engine": r["engine"], "kind": r["kind"], "status": r["status"],
        "progress": r["progress"], "message": r["message"], "metrics": metrics, "error": r["error"],
        "owner": r["owner"], "cancel_requested": r["cancel_requested"], "attempts": r["attempts"],
        "params": orjson.loads(r["params"]),
        "result": orjson.loads(r["result"]) if with_result and r["result"] else None,
        "created_at": r["created_at"].isoformat(), "started_at": started.isoformat() if started else None,
        "finished_at": finished.isoformat() if finished else None,
        "elapsed_s": ((finished or r["updated_at"]) - started).total_seconds() if started else None,
    }


async def submit(db: asyncpg.Pool, engine: str, kind: str, params: dict[str, Any], owner: str | None) -> dict:
    r = await db.fetchrow(
        f"INSERT INTO jobs (id, engine, kind, params, status, owner) VALUES ($1,$2,$3,$4::jsonb,$5,$6) "
        f"RETURNING {_COLS}", uuid.uuid4().hex, engine, kind, orjson.dumps(params).decode(), QUEUED, owner)
    return view(r)


async def get(db: asyncpg.Pool, engine: str, job_id: str, with_result: bool = True) -> dict[str, Any]:
    r = await db.fetchrow(f"SELECT {_COLS} FROM jobs WHERE id = $1 AND engine = $2", job_id, engine)
    if r is None:
        raise NotFound(f"no {engine} job {job_id!r}", field="job_id")
    return view(r, with_result)


async def list_jobs(db: asyncpg.Pool, engine: str, kind: str | None, status: str | None, limit: int,
                    offset: int) -> tuple[list[dict[str, Any]], int]:
    where, args = ["engine = $1"], [engine]
    for col, val in (("kind", kind), ("status", status)):
        if val is not None:
            args.append(val)
            where.append(f"{col} = ${len(args)}")
    clause = " AND ".join(where)
    total = await db.fetchval(f"SELECT count(*) FROM jobs WHERE {clause}", *args)
    rows = await db.fetch(f"SELECT {_COLS} FROM jobs WHERE {clause} ORDER BY created_at DESC, id "
                          f"LIMIT {int(limit)} OFFSET {int(offset)}", *args)
    return [view(r, with_result=False) for r in rows], total


async def request_cancel(db: asyncpg.Pool, engine: str, job_id: str) -> dict[str, Any]:
    """Queued: cancelled now. Running: flagged; the worker stops at its next progress report.
    Finished: 409."""
    async with db.acquire() as conn, conn.transaction():
        r = await conn.fetchrow("SELECT status FROM jobs WHERE id = $1 AND engine = $2 FOR UPDATE", job_id, engine)
        if r is None:
            raise NotFound(f"no {engine} job {job_id!r}", field="job_id")
        if r["status"] in TERMINAL:
            raise Conflict(f"job {job_id} is already {r['status']}", field="job_id", status_now=r["status"])
        if r["status"] == QUEUED:
            await conn.execute("UPDATE jobs SET status = $2, cancel_requested = true, finished_at = now(), "
                               "updated_at = now(), message = 'cancelled before it started' WHERE id = $1",
                               job_id, _from(QUEUED, "cancel"))
        else:
            await conn.execute("UPDATE jobs SET cancel_requested = true, updated_at = now() WHERE id = $1", job_id)
    return await get(db, engine, job_id)


async def claim(db: asyncpg.Pool, engine: str, kinds: list[str], n: int) -> list[asyncpg.Record]:
    """Move up to ``n`` of the oldest queued jobs of ``kinds`` to running (safe across processes)."""
    return await db.fetch(
        f"UPDATE jobs SET status = $4, started_at = now(), updated_at = now(), attempts = attempts + 1 "
        f"WHERE id IN (SELECT id FROM jobs WHERE engine = $1 AND status = $5 AND kind = ANY($2::text[]) "
        f"ORDER BY created_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING {_COLS}",
        engine, kinds, n, _from(QUEUED, "claim"), QUEUED)


async def report(db: asyncpg.Pool, job_id: str, progress: float, message: str | None,
                 metrics: dict[str, Any]) -> bool:
    """Record progress of a running job; returns whether a cancel was requested."""
    flag = await db.fetchval(
        "UPDATE jobs SET progress = $2, message = coalesce($3, message), metrics = $4::jsonb, updated_at = now() "
        "WHERE id = $1 AND status = $5 RETURNING cancel_requested", job_id, min(max(progress, 0.0), 1.0), message,
        orjson.dumps(metrics).decode(), RUNNING)
    return bool(flag)


async def cancel_flags(db: asyncpg.Pool, job_ids: list[str]) -> set[str]:
    rows = await db.fetch("SELECT id FROM jobs WHERE id = ANY($1::text[]) AND cancel_requested", job_ids)
    return {r["id"] for r in rows}


async def finish(db: asyncpg.Pool, job_id: str, event: str, *, result: dict | None = None,
                 error: str | None = None, message: str | None = None) -> None:
    status = _from(RUNNING, event)
    await db.execute(
        "UPDATE jobs SET status = $2, result = $3::jsonb, error = $4, message = coalesce($5, message), "
        "progress = CASE WHEN $2 = 'succeeded' THEN 1 ELSE progress END, finished_at = now(), updated_at = now() "
        "WHERE id = $1 AND status = 'running'", job_id, status,
        orjson.dumps(result).decode() if result is not None else None, error, message)


async def recover(db: asyncpg.Pool, engine: str, kinds: list[str]) -> tuple[int, int]:
    """Jobs left running by a previous process of this engine: re-queue, or fail after MAX_ATTEMPTS."""
    failed = await db.execute(
        "UPDATE jobs SET status = 'failed', error = 'interrupted by engine restarts too often', finished_at = now(), "
        "updated_at = now() WHERE engine = $1 AND kind = ANY($2::text[]) AND status = 'running' AND attempts >= $3",
        engine, kinds, MAX_ATTEMPTS)
    requeued = await db.execute(
        "UPDATE jobs SET status = $4, message = 'requeued after an engine restart', updated_at = now() "
        "WHERE engine = $1 AND kind = ANY($2::text[]) AND status = 'running' AND attempts < $3",
        engine, kinds, MAX_ATTEMPTS, _from(RUNNING, "requeue"))
    return int(requeued.split()[-1]), int(failed.split()[-1])
