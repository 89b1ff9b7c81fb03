"""Instrument master and stored-data queries (async operations over ``store``)."""

from __future__ import annotations

import asyncio

import pandas as pd

from backend.contract.operation import OpContext
from engines.marketdata import store
from engines.marketdata.models import (
    Bars,
    DeleteInstrumentRequest,
    DeleteInstrumentResponse,
    Instrument,
    InstrumentList,
    InstrumentOut,
    ListInstrumentsRequest,
    ListLoadsRequest,
    LoadList,
    LoadReport,
    LoadReportRequest,
    QueryBarsRequest,
    QueryTicksRequest,
    ResampleRequest,
    SymbolRequest,
    Ticks,
)
from engines.marketdata.resample import resample_ohlcv
from engines.marketdata.timeframes import check_resample, parse_timeframe

#: Most source bars read to build one resampled answer.
MAX_RESAMPLE_SOURCE_ROWS = 2_000_000


async def upsert_instrument(req: Instrument, ctx: OpContext) -> InstrumentOut:
    """Create or update one instrument (idempotent)."""
    return await store.upsert_instrument(ctx.require_db(), req)


async def get_instrument(req: SymbolRequest, ctx: OpContext) -> InstrumentOut:
    return await store.get_instrument(ctx.require_db(), req.symbol)


async def list_instruments(req: ListInstrumentsRequest, ctx: OpContext) -> InstrumentList:
    items, total = await store.list_instruments(
        ctx.require_db(), req.asset_class, req.sector, req.venue, req.limit, req.offset)
    return InstrumentList(instruments=items, total=total)


async def delete_instrument(req: DeleteInstrumentRequest, ctx: OpContext) -> DeleteInstrumentResponse:
    """Delete an instrument; 409 while it has stored data unless ``purge_data``."""
    return DeleteInstrumentResponse(**await store.delete_instrument(ctx.require_db(), req.symbol,
                                                                    req.purge_data))


async def get_load(req: LoadReportRequest, ctx: OpContext) -> LoadReport:
    return await store.get_load(ctx.require_db(), req.load_id)


async def list_loads(req: ListLoadsRequest, ctx: OpContext) -> LoadList:
    return LoadList(loads=await store.list_loads(ctx.require_db(), req.limit))


def _bars(symbol: str, timeframe: str, source: str, df: pd.DataFrame, truncated: bool) -> Bars:
    idx = pd.DatetimeIndex(df.index)
    return Bars(
        symbol=symbol, timeframe=timeframe, source_timeframe=source, truncated=truncated,
        ts=list(idx.to_pydatetime()), **{c: df[c].astype(float).tolist() for c in
                                         ("open", "high", "low", "close", "volume")},
    )


async def query_bars(req: QueryBarsRequest, ctx: OpContext) -> Bars:
    """Bars of one symbol and timeframe in [start, end), optionally resampled to a larger timeframe."""
    pool = ctx.require_db()
    await store.get_instrument(pool, req.symbol)
    source = parse_timeframe(req.timeframe)
    if req.resample_to is None:
        df, truncated = await store.fetch_bars(pool, req.symbol, req.timeframe, req.start, req.end, req.limit)
        return _bars(req.symbol, req.timeframe, req.timeframe, df, truncated)
    target = parse_timeframe(req.resample_to, "resample_to")
    check_resample(source, target)
    ratio = target.ns // source.ns
    cap = min(req.limit * ratio + ratio, MAX_RESAMPLE_SOURCE_ROWS)
    df, src_truncated = await store.fetch_bars(pool, req.symbol, req.timeframe, req.start, req.end, cap)
    out = await asyncio.to_thread(resample_ohlcv, df, source, target, req.tz)
    if src_truncated and len(out):
        out = out.iloc[1:]  # its first interval may be missing source bars cut off by the cap
    truncated = src_truncated or len(out) > req.limit
    return _bars(req.symbol, req.resample_to, req.timeframe, out.iloc[-req.limit:], truncated)


def resample_bars(req: ResampleRequest, ctx: OpContext | None = None) -> Bars:
    """Resample inline bars (pure compute; nothing stored)."""
    df = pd.DataFrame({c: getattr(req, c) for c in ("open", "high", "low", "close", "volume")},
                      index=pd.DatetimeIndex(pd.to_datetime(req.ts, utc=True)))
    if not df.index.is_monotonic_increasing:
        df = df.sort_index(kind="stable")
    out = resample_ohlcv(df, parse_timeframe(req.timeframe), parse_timeframe(req.resample_to, "resample_to"), req.tz)
    return _bars("", req.resample_to, req.timeframe, out, False)


async def query_ticks(req: QueryTicksRequest, ctx: OpContext) -> Ticks:
    """Trades or quotes of one symbol in [start, end), the latest ``limit`` in time order."""
    pool = ctx.require_db()
    await store.get_instrument(pool, req.symbol)
    rows, truncated = await store.fetch_ticks(pool, req.kind, req.symbol, req.venue, req.start, req.end, req.limit)
    _, cols = store.TABLES[req.kind]
    return Ticks(
        symbol=req.symbol, kind=req.kind, truncated=truncated, ts=[r["ts"] for r in rows],
        venue=[r["venue"] for r in rows], seq=[r["seq"] for r in rows],
        columns={c: [r[c] for r in rows] for c in cols},
    )
