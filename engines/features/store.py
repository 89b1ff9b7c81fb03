"""Features operations that touch PostgreSQL: stored bars in, named feature sets (CRUD), live updates.

Compute itself stays in compute.py / live.py and runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Sequence

import asyncpg
import numpy as np

from backend.contract.operation import OpContext
from backend.core.errors import InvalidInput, NotFound
from backend.storage.definitions import Definitions
from engines.features import live
from engines.features.compute import Resolved, batch, check_fit, check_output_size, resolve
from engines.features.models import (
    ComputeStoredIndicatorsRequest,
    Deleted,
    FeatureSet,
    FeatureSetList,
    FeatureSetName,
    FeatureSetRecord,
    IndicatorSpec,
    IndicatorsResponse,
    ListFeatureSetsRequest,
    ResetStreamRequest,
    ResetStreamResponse,
    SymbolColumns,
    UpdateIndicatorsRequest,
    UpdateIndicatorsResponse,
)

BAR_FIELDS = ("open", "high", "low", "close", "volume")
FEATURE_SETS = Definitions("feature_sets", "feature set", columns=("description", "indicators"),
                           jsonb=frozenset({"indicators"}), update_op="update_feature_set")


async def fetch_bars(
    pool: asyncpg.Pool,
    symbols: Sequence[str],
    timeframe: str,
    start: dt.datetime | None,
    end: dt.datetime | None,
    field: str = "symbols",
) -> dict[str, dict[str, np.ndarray]]:
    """symbol -> {'ts': datetime64[us] array, 'open'..'volume': float arrays}; NotFound names a missing symbol."""
    rows = await pool.fetch(
        """SELECT symbol, ts, open, high, low, close, volume FROM bars
           WHERE symbol = ANY($1::text[]) AND timeframe = $2
             AND ($3::timestamptz IS NULL OR ts >= $3) AND ($4::timestamptz IS NULL OR ts <= $4)
           ORDER BY symbol, ts""",
        list(dict.fromkeys(symbols)),
        timeframe,
        start,
        end,
    )
    by_symbol: dict[str, list] = {}
    for r in rows:
        by_symbol.setdefault(r["symbol"], []).append(r)
    for i, s in enumerate(symbols):
        if s not in by_symbol:
            raise NotFound(f"no stored {timeframe!r} bars for {s!r} in the requested range", field=f"{field}.{i}")
    out: dict[str, dict[str, np.ndarray]] = {}
    for s, recs in by_symbol.items():
        arr = np.array([tuple(r)[2:] for r in recs], dtype=np.float64)
        d = {k: arr[:, j].copy() for j, k in enumerate(BAR_FIELDS)}
        d["ts"] = [r["ts"] for r in recs]
        out[s] = d
    return out


def _record(row: asyncpg.Record) -> FeatureSetRecord:
    return FeatureSetRecord(
        name=row["name"],
        description=row["description"],
        indicators=[IndicatorSpec(**d) for d in json.loads(row["indicators"])],
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def load_feature_set(pool: asyncpg.Pool, name: str, field: str = "feature_set") -> FeatureSetRecord:
    return _record(await FEATURE_SETS.get(pool, name, field=field))


async def _specs(ctx: OpContext, indicators: list[IndicatorSpec] | None, feature_set: str | None) -> list[Resolved]:
    if indicators is not None:
        return resolve(indicators)
    fs = await load_feature_set(ctx.require_db(), feature_set or "")
    return resolve(fs.indicators, field="feature_set.indicators")


def _values(req: FeatureSet) -> dict:
    return {"name": req.name, "description": req.description,
            "indicators": [i.model_dump(exclude_none=True) for i in req.indicators]}


async def create_feature_set(req: FeatureSet, ctx: OpContext) -> FeatureSetRecord:
    resolve(req.indicators)
    return _record(await FEATURE_SETS.create(ctx.require_db(), _values(req)))


async def update_feature_set(req: FeatureSet, ctx: OpContext) -> FeatureSetRecord:
    resolve(req.indicators)
    return _record(await FEATURE_SETS.update(ctx.require_db(), req.name, _values(req), field="name"))


async def get_feature_set(req: FeatureSetName, ctx: OpContext) -> FeatureSetRecord:
    return await load_feature_set(ctx.require_db(), req.name, field="name")


async def list_feature_sets(req: ListFeatureSetsRequest, ctx: OpContext) -> FeatureSetList:
    rows, total = await FEATURE_SETS.page(ctx.require_db(), req.limit, req.offset)
    return FeatureSetList(feature_sets=[_record(r) for r in rows], total=total)


async def delete_feature_set(req: FeatureSetName, ctx: OpContext) -> Deleted:
    await FEATURE_SETS.delete(ctx.require_db(), req.name, field="name")
    return Deleted(name=req.name, deleted=True)


async def compute_stored_indicators(req: ComputeStoredIndicatorsRequest, ctx: OpContext) -> IndicatorsResponse:
    resolved = await _specs(ctx, req.indicators, req.feature_set)
    ind_field = "indicators" if req.indicators is not None else "feature_set.indicators"
    if req.start and req.end and req.start > req.end:
        raise InvalidInput("start is after end", field="start")
    wanted = list(req.symbols) + ([req.benchmark_symbol] if req.benchmark_symbol else [])
    data = await fetch_bars(ctx.require_db(), wanted, req.timeframe, req.start, req.end)
    series = []
    for i, s in enumerate(req.symbols):
        a = {k: data[s][k] for k in BAR_FIELDS}
        if req.benchmark_symbol:
            bench = dict(zip(data[req.benchmark_symbol]["ts"], data[req.benchmark_symbol]["close"], strict=False))
            missing = [t for t in data[s]["ts"] if t not in bench]
            if missing:
                raise InvalidInput(
                    f"benchmark has no bar at {len(missing)} of {s!r}'s timestamps (first {missing[0].isoformat()})",
                    field="benchmark_symbol",
                )
            a["benchmark"] = np.array([bench[t] for t in data[s]["ts"]])
        check_fit(resolved, s, a, f"symbols.{i}", ind_field)
        series.append(a)
    check_output_size(sum(len(r.defn.outputs) for r in resolved), sum(len(a["close"]) for a in series))
    cols = await asyncio.to_thread(batch, series, resolved)
    n = req.last_n
    results = []
    for s, c in zip(req.symbols, cols, strict=False):
        ts = data[s]["ts"][-n:] if n else data[s]["ts"]
        results.append(
            SymbolColumns(symbol=s, ts=ts, values={k: v[-n:] if n else v for k, v in c.items()})
        )
    return IndicatorsResponse(columns=[c for r in resolved for c in r.columns()], results=results, backend="talib")


async def update_indicators(req: UpdateIndicatorsRequest, ctx: OpContext) -> UpdateIndicatorsResponse:
    resolved = await _specs(ctx, req.indicators, req.feature_set)
    key = live.stream_key(req.symbol, resolved)
    state = live.REGISTRY.get_or_create(key, resolved)
    ts, values = await asyncio.to_thread(live.feed, state, req.bars)
    return UpdateIndicatorsResponse(
        symbol=req.symbol,
        stream_key=key,
        bars_seen=state.bars_seen,
        last_ts=state.last_ts,
        columns=[c for r in resolved for c in r.columns()],
        ts=ts,
        values=values,
    )


async def reset_indicator_stream(req: ResetStreamRequest, ctx: OpContext) -> ResetStreamResponse:
    resolved = await _specs(ctx, req.indicators, req.feature_set)
    key = live.stream_key(req.symbol, resolved)
    return ResetStreamResponse(symbol=req.symbol, stream_key=key, removed=live.REGISTRY.remove(key))
