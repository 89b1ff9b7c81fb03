"""Limit sets in PostgreSQL, managed through operations; ``check_limits`` stores and publishes breaches.

Breaches go to table ``risk_limit_breaches`` and to the bus: stream ``events.risk``, topic
``events.risk.limits.<set_id>``, type ``limit_breach`` (also broadcast on the topic for live fan-out).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import asyncpg

from backend.bus.streams import EVENTS_RISK
from backend.contract.operation import OpContext
from backend.core import metrics
from backend.storage.definitions import Definitions
from engines.risk import data
from engines.risk.compute.limits import evaluate
from engines.risk.models.limits import (
    Breach,
    CheckLimitsRequest,
    CheckLimitsResponse,
    CreateLimitSetRequest,
    DeleteLimitSetResponse,
    Limit,
    LimitSet,
    LimitSetRef,
    LimitSetSummary,
    LimitSpec,
    LimitType,
    ListBreachesRequest,
    ListBreachesResponse,
    ListLimitSetsRequest,
    ListLimitSetsResponse,
    UpdateLimitSetRequest,
)

LIMIT_SETS = Definitions("risk_limit_sets", "limit set", columns=("description",), key="id",
                         update_op="update_limit_set")
STREAM = EVENTS_RISK
EVENT_TYPE = "limit_breach"


def topic(set_id: int) -> str:
    return f"events.risk.limits.{set_id}"


async def _insert_limits(conn: asyncpg.Connection, set_id: int, limits: list[LimitSpec]) -> None:
    if limits:
        await conn.executemany(
            """INSERT INTO risk_limits (set_id, limit_type, threshold, warning_fraction, scope, confidence, position)
               VALUES ($1, $2, $3, $4, $5, $6, $7)""",
            [(set_id, lim.limit_type.value, lim.threshold, lim.warning_fraction, lim.scope, lim.confidence, i)
             for i, lim in enumerate(limits)],
        )


async def _load(conn: Any, set_id: int) -> LimitSet:
    row = await LIMIT_SETS.get(conn, set_id)
    limits = await conn.fetch("SELECT * FROM risk_limits WHERE set_id = $1 ORDER BY position, id", set_id)
    return LimitSet(
        id=row["id"], name=row["name"], description=row["description"], version=row["version"],
        created_at=row["created_at"], updated_at=row["updated_at"],
        limits=[Limit(id=r["id"], limit_type=LimitType(r["limit_type"]), threshold=r["threshold"],
                      warning_fraction=r["warning_fraction"], scope=r["scope"], confidence=r["confidence"])
                for r in limits],
    )


async def create_limit_set(req: CreateLimitSetRequest, ctx: OpContext) -> LimitSet:
    async with ctx.require_db().acquire() as conn, conn.transaction():
        row = await LIMIT_SETS.create(conn, {"name": req.name, "description": req.description})
        await _insert_limits(conn, row["id"], req.limits)
        return await _load(conn, row["id"])


async def get_limit_set(req: LimitSetRef, ctx: OpContext) -> LimitSet:
    return await _load(ctx.require_db(), req.id)


async def list_limit_sets(req: ListLimitSetsRequest, ctx: OpContext) -> ListLimitSetsResponse:
    rows = await ctx.require_db().fetch(
        """SELECT s.id, s.name, s.description, s.updated_at, count(l.id) AS n
           FROM risk_limit_sets s LEFT JOIN risk_limits l ON l.set_id = s.id
           GROUP BY s.id ORDER BY s.id LIMIT $1""", req.limit)
    return ListLimitSetsResponse(sets=[LimitSetSummary(id=r["id"], name=r["name"], description=r["description"],
                                                       n_limits=r["n"], updated_at=r["updated_at"]) for r in rows])


async def update_limit_set(req: UpdateLimitSetRequest, ctx: OpContext) -> LimitSet:
    async with ctx.require_db().acquire() as conn, conn.transaction():
        await LIMIT_SETS.update(conn, req.id, {"name": req.name, "description": req.description})
        if req.limits is not None:
            await conn.execute("DELETE FROM risk_limits WHERE set_id = $1", req.id)
            await _insert_limits(conn, req.id, req.limits)
        return await _load(conn, req.id)


async def delete_limit_set(req: LimitSetRef, ctx: OpContext) -> DeleteLimitSetResponse:
    await LIMIT_SETS.delete(ctx.require_db(), req.id)
    return DeleteLimitSetResponse(id=req.id, deleted=True)


async def _complete(req: CheckLimitsRequest, limits: list[Limit], ctx: OpContext) -> CheckLimitsRequest:
    """Fill sectors, average volumes and referenced market data the limits need from the database."""
    snap = req.portfolio
    types = {lim.limit_type for lim in limits}
    syms = [p.symbol for p in snap.positions]
    known_sector: dict[str, str] = {}
    adv: dict[str, float] = {}
    if LimitType.sector_concentration in types and any(p.sector is None for p in snap.positions):
        known_sector = await data.sectors(syms, ctx)
    if LimitType.liquidity in types and any(p.average_daily_volume is None for p in snap.positions):
        adv = await data.average_daily_volume(syms, ctx)
    positions = [p.model_copy(update={"sector": p.sector or known_sector.get(p.symbol),
                                      "average_daily_volume": p.average_daily_volume or adv.get(p.symbol)})
                 for p in snap.positions]
    market = snap.market
    if market is not None and market.is_reference and types & {LimitType.var, LimitType.cvar}:
        market = await data.load_market(market, syms, ctx)
    return req.model_copy(update={"portfolio": snap.model_copy(update={"positions": positions, "market": market})})


async def check_limits(req: CheckLimitsRequest, ctx: OpContext) -> CheckLimitsResponse:
    db = ctx.require_db()
    limit_set = await _load(db, req.set_id)
    req = await _complete(req, limit_set.limits, ctx)
    results = await asyncio.to_thread(evaluate, limit_set.limits, req.portfolio)
    now = dt.datetime.now(dt.UTC)
    breaches = [r for r in results if r.status == "breach"]
    record_check(limit_set.name, results)
    ids: list[int] = []
    if req.publish and breaches:
        async with db.acquire() as conn, conn.transaction():
            for b in breaches:
                ids.append(await conn.fetchval(
                    """INSERT INTO risk_limit_breaches (set_id, set_name, limit_id, limit_type, scope, portfolio,
                       value, threshold, utilisation, detail, ts) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)
                       RETURNING id""",
                    limit_set.id, limit_set.name, b.limit_id, b.limit_type.value, b.scope, req.portfolio.name,
                    b.value, b.threshold, b.utilisation, b.detail, now))
        if ctx.bus is not None:
            for bid, b in zip(ids, breaches, strict=False):
                payload = {"breach_id": bid, "set_id": limit_set.id, "set_name": limit_set.name,
                           "limit_id": b.limit_id, "limit_type": b.limit_type.value, "scope": b.scope,
                           "portfolio": req.portfolio.name, "value": b.value, "threshold": b.threshold,
                           "utilisation": b.utilisation, "detail": b.detail, "ts": now.isoformat()}
                await ctx.bus.append(STREAM, topic(limit_set.id), EVENT_TYPE, payload)
                await ctx.bus.broadcast(topic(limit_set.id), topic(limit_set.id), EVENT_TYPE, payload)
    return CheckLimitsResponse(
        set_id=limit_set.id, set_name=limit_set.name, checked_at=now, results=results,
        n_warnings=sum(r.status == "warning" for r in results), n_breaches=len(breaches), breach_ids=ids)


def record_check(set_name: str, results: list) -> None:
    """Count every limit evaluated by outcome, and keep each limit type's highest utilisation of the
    set's latest check (limit types and statuses are fixed enums; sets are few and named by admins)."""
    highest: dict[str, float] = {}
    for r in results:
        kind = r.limit_type.value
        metrics.RISK_LIMIT_CHECKS.labels(kind, r.status).inc()
        if r.utilisation is not None:
            highest[kind] = max(highest.get(kind, float("-inf")), r.utilisation)
    for kind, u in highest.items():
        metrics.RISK_LIMIT_UTILISATION.labels(set_name, kind).set(u)


async def list_limit_breaches(req: ListBreachesRequest, ctx: OpContext) -> ListBreachesResponse:
    rows = await ctx.require_db().fetch(
        """SELECT * FROM risk_limit_breaches WHERE ($1::bigint IS NULL OR set_id = $1)
           AND ($2::timestamptz IS NULL OR ts >= $2) ORDER BY ts DESC, id DESC LIMIT $3""",
        req.set_id, req.since, req.limit)
    return ListBreachesResponse(breaches=[Breach(**{k: r[k] for k in Breach.model_fields}) for r in rows])
