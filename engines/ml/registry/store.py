"""The registry tables (migration 0400): models, their numbered versions, and stage changes.

Stages move along ``TRANSITIONS``; promoting a version to production archives the model's current
production version in the same transaction (a unique index allows one champion per model). A version
is inserted only once its artifact is on disk with its hash, in one transaction with its model row, so a
failed registration leaves nothing behind but the file, which the caller removes.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson

from backend.core.errors import Conflict, NotFound

STAGING, PRODUCTION, ARCHIVED = "staging", "production", "archived"
#: (from, to) pairs a promotion may make; production -> staging is refused (archive it instead).
TRANSITIONS = frozenset({(STAGING, PRODUCTION), (STAGING, ARCHIVED), (ARCHIVED, PRODUCTION),
                         (ARCHIVED, STAGING), (PRODUCTION, ARCHIVED)})
_VCOLS = ("name, version, model_type, hyperparams, dataset, data_hash, n_train, train_start, train_end, metrics, "
          "artifact_path, artifact_hash, stage, job_id, created_at, stage_changed_at")


def version_view(r: asyncpg.Record) -> dict[str, Any]:
    out = {k: r[k] for k in ("name", "version", "model_type", "data_hash", "n_train", "train_start", "train_end",
                             "artifact_hash", "stage", "job_id")}
    for k in ("hyperparams", "dataset", "metrics"):
        out[k] = orjson.loads(r[k])
    out["created_at"] = r["created_at"].isoformat()
    out["stage_changed_at"] = r["stage_changed_at"].isoformat()
    return out


async def register(db: asyncpg.Pool, *, name: str, task: str, description: str, row: dict[str, Any]) -> int:
    """Create the model if new (its task must match otherwise) and insert the next version; returns it."""
    async with db.acquire() as conn, conn.transaction():
        await conn.execute("INSERT INTO ml_models (name, task, description) VALUES ($1, $2, $3) "
                           "ON CONFLICT (name) DO NOTHING", name, task, description)
        have = await conn.fetchval("SELECT task FROM ml_models WHERE name = $1 FOR UPDATE", name)
        if have != task:
            raise Conflict(f"model {name!r} is a {have} model, not {task}", field="name")
        version = await conn.fetchval("SELECT coalesce(max(version), 0) + 1 FROM ml_model_versions WHERE name = $1",
                                      name)
        await conn.execute(
            f"INSERT INTO ml_model_versions ({_VCOLS}) VALUES ($1,$2,$3,$4::jsonb,$5::jsonb,$6,$7,$8,$9,$10::jsonb,"
            f"$11,$12,'staging',$13, now(), now())", name, version, row["model_type"],
            orjson.dumps(row["hyperparams"]).decode(), orjson.dumps(row["dataset"]).decode(), row["data_hash"],
            row["n_train"], row["train_start"], row["train_end"], orjson.dumps(row["metrics"]).decode(),
            row["artifact_path"], row["artifact_hash"], row["job_id"])
        await conn.execute("INSERT INTO ml_stage_events (name, version, from_stage, to_stage, reason) "
                           "VALUES ($1, $2, NULL, 'staging', 'trained')", name, version)
    return int(version)


async def model_task(db: asyncpg.Pool, name: str) -> str | None:
    return await db.fetchval("SELECT task FROM ml_models WHERE name = $1", name)


async def get_model(db: asyncpg.Pool, name: str) -> dict[str, Any]:
    m = await db.fetchrow("SELECT name, task, description, created_at FROM ml_models WHERE name = $1", name)
    if m is None:
        raise NotFound(f"no model {name!r}", field="name")
    rows = await db.fetch(f"SELECT {_VCOLS} FROM ml_model_versions WHERE name = $1 ORDER BY version", name)
    versions = [version_view(r) for r in rows]
    prod = next((v["version"] for v in versions if v["stage"] == PRODUCTION), None)
    return {"name": m["name"], "task": m["task"], "description": m["description"],
            "created_at": m["created_at"].isoformat(), "production_version": prod, "versions": versions}


async def list_models(db: asyncpg.Pool, task: str | None, limit: int) -> list[dict[str, Any]]:
    names = await db.fetch("SELECT name FROM ml_models WHERE $1::text IS NULL OR task = $1 ORDER BY name LIMIT $2",
                           task, limit)
    return [await get_model(db, r["name"]) for r in names]


async def get_version(db: asyncpg.Pool, name: str, version: int | None, field: str = "version") -> asyncpg.Record:
    """A version row; ``None`` means the production version (404 naming ``name`` when there is none)."""
    if version is None:
        r = await db.fetchrow(f"SELECT {_VCOLS} FROM ml_model_versions WHERE name = $1 AND stage = 'production'",
                              name)
        if r is None:
            known = await model_task(db, name)
            raise NotFound(f"model {name!r} has no production version; promote one or name a version" if known
                           else f"no model {name!r}", field="name")
        return r
    r = await db.fetchrow(f"SELECT {_VCOLS} FROM ml_model_versions WHERE name = $1 AND version = $2", name, version)
    if r is None:
        raise NotFound(f"model {name!r} has no version {version}", field=field)
    return r


async def set_stage(db: asyncpg.Pool, name: str, version: int, stage: str, reason: str) -> dict[str, Any]:
    async with db.acquire() as conn, conn.transaction():
        await conn.execute("SELECT 1 FROM ml_models WHERE name = $1 FOR UPDATE", name)
        r = await conn.fetchrow("SELECT stage FROM ml_model_versions WHERE name = $1 AND version = $2", name, version)
        if r is None:
            raise NotFound(f"model {name!r} has no version {version}", field="version")
        now = r["stage"]
        if now == stage:
            raise Conflict(f"{name} v{version} is already {stage}", field="stage")
        if (now, stage) not in TRANSITIONS:
            raise Conflict(f"{name} v{version} cannot go from {now} to {stage}", field="stage", stage_now=now)
        archived = None
        if stage == PRODUCTION:
            archived = await conn.fetchval(
                "UPDATE ml_model_versions SET stage = 'archived', stage_changed_at = now() "
                "WHERE name = $1 AND stage = 'production' RETURNING version", name)
            if archived is not None:
                await conn.execute("INSERT INTO ml_stage_events (name, version, from_stage, to_stage, reason) "
                                   "VALUES ($1, $2, 'production', 'archived', $3)", name, archived,
                                   f"replaced by v{version}")
        await conn.execute("UPDATE ml_model_versions SET stage = $3, stage_changed_at = now() "
                           "WHERE name = $1 AND version = $2", name, version, stage)
        await conn.execute("INSERT INTO ml_stage_events (name, version, from_stage, to_stage, reason) "
                           "VALUES ($1, $2, $3, $4, $5)", name, version, now, stage, reason)
    return {"name": name, "version": version, "stage": stage, "previous_stage": now, "archived_version": archived}


async def delete_version(db: asyncpg.Pool, name: str, version: int) -> str:
    """Delete a version that is not in production; returns its artifact path (the caller removes the file)."""
    async with db.acquire() as conn, conn.transaction():
        r = await conn.fetchrow("SELECT stage, artifact_path FROM ml_model_versions WHERE name = $1 AND version = $2 "
                                "FOR UPDATE", name, version)
        if r is None:
            raise NotFound(f"model {name!r} has no version {version}", field="version")
        if r["stage"] == PRODUCTION:
            raise Conflict(f"{name} v{version} is in production: archive it (or promote another) first",
                           field="version")
        await conn.execute("DELETE FROM ml_model_versions WHERE name = $1 AND version = $2", name, version)
        await conn.execute("INSERT INTO ml_stage_events (name, version, from_stage, to_stage, reason) "
                           "VALUES ($1, $2, $3, 'deleted', '')", name, version, r["stage"])
    return r["artifact_path"]
