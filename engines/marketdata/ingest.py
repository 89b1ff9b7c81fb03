"""Ingestion operations: a file (server path or inline) -> validated rows -> one upsert transaction.

A load either commits every accepted row together with its quality report, or
writes no rows at all (too many rejections, nothing accepted, or any failure);
a rejected load still records its report so the user can see why.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from backend.contract.operation import OpContext
from backend.core.errors import InvalidInput, NotFound, PayloadTooLarge
from engines.marketdata import store
from engines.marketdata.models import (
    MAX_FILE_BYTES,
    MAX_INLINE_BYTES,
    MAX_ROWS_PER_LOAD,
    IngestRequest,
    LoadReport,
    Session,
)
from engines.marketdata.parsing import decompress, normalise, read_table
from engines.marketdata.report import build_report
from engines.marketdata.timeframes import Timeframe, parse_timeframe
from engines.marketdata.validation import NAT, SessionRule, check


def session_rule(session: Session | None) -> SessionRule | None:
    if session is None:
        return None

    def secs(hhmm: str | None) -> int | None:
        return None if hhmm is None else int(hhmm[:2]) * 3600 + int(hhmm[3:]) * 60

    return SessionRule(tz=session.tz, start_s=secs(session.start), end_s=secs(session.end),
                       weekdays_only=session.weekdays_only)


def resolve_import_path(import_dir: Path, path: str) -> Path:
    """A path inside the import directory (relative, or absolute within it); anything else is refused."""
    root = import_dir.resolve()
    candidate = Path(path)
    target = (candidate if candidate.is_absolute() else root / candidate).resolve()
    if target != root and root not in target.parents:
        raise InvalidInput(f"path must lie inside the import directory {root}", field="path")
    if not target.is_file():
        raise NotFound(f"no file {path!r} in the import directory", field="path")
    size = target.stat().st_size
    if size > MAX_FILE_BYTES:
        raise PayloadTooLarge(f"file of {size} bytes exceeds {MAX_FILE_BYTES}", field="path")
    return target


def _source_bytes(req: IngestRequest, ctx: OpContext) -> tuple[bytes, str, str, str | None]:
    """(bytes, source label, field name, format) of the request's one source."""
    if req.path is not None:
        import_dir = Path(getattr(ctx.settings, "import_dir", Path("data/imports")))
        target = resolve_import_path(import_dir, req.path)
        fmt = req.format
        if fmt is None:
            name = target.name.lower()
            fmt = "parquet" if name.endswith((".parquet", ".pq")) else "csv"
        return target.read_bytes(), f"file:{req.path}", "path", fmt
    if req.content is not None:
        data = req.content.encode()
        if len(data) > MAX_INLINE_BYTES:
            raise PayloadTooLarge(f"content of {len(data)} bytes exceeds {MAX_INLINE_BYTES}", field="content")
        return data, "inline:csv", "content", req.format or "csv"
    try:
        data = base64.b64decode(req.content_base64 or "", validate=True)
    except (binascii.Error, ValueError) as e:
        raise InvalidInput(f"not valid base64: {e}", field="content_base64") from e
    if len(data) > MAX_INLINE_BYTES:
        raise PayloadTooLarge(f"content of {len(data)} bytes exceeds {MAX_INLINE_BYTES}", field="content_base64")
    return data, "inline:base64", "content_base64", req.format


@dataclass
class Batch:
    """Canonical rows of one load, ready for validation."""

    kind: str
    ts_ns: np.ndarray
    values: dict[str, np.ndarray]
    symbols: np.ndarray
    venues: np.ndarray | None
    warnings: list[str]


def _parse(req: IngestRequest, ctx: OpContext, timeframe: Timeframe | None) -> tuple[Batch, str]:
    data, source, field, fmt = _source_bytes(req, ctx)
    data = decompress(data, MAX_FILE_BYTES if req.path else MAX_INLINE_BYTES, field)
    df = read_table(data, fmt, field, MAX_ROWS_PER_LOAD)
    parsed = normalise(
        df, req.kind, mapping=dict(req.columns), symbol=req.symbol, venue=req.venue, tz=req.tz,
        ts_format=req.ts_format, ts_unit=req.ts_unit, daily=bool(timeframe and timeframe.is_daily),
    )
    ts = parsed.ts_ns
    if req.kind != "bars":  # storage keeps microseconds; seq is assigned at that precision
        ts = np.where(ts == NAT, NAT, ts - ts % 1000)
    symbols = parsed.symbols if parsed.symbols is not None else np.full(parsed.n, req.symbol, dtype=object)
    venues = parsed.venues
    if venues is None and req.kind != "bars":
        venues = np.full(parsed.n, req.venue or "", dtype=object)
    return Batch(req.kind, ts, parsed.values, symbols, venues, parsed.warnings), source


async def load_batch(
    ctx: OpContext, batch: Batch, *, source: str, timeframe: Timeframe | None, session: SessionRule | None,
    spike_threshold: float | None, max_reject_fraction: float, create_instruments: bool, dry_run: bool,
    instrument_defaults: dict | None = None, single_symbol: str | None = None,
) -> LoadReport:
    """Validate ``batch`` and write it in one transaction (or record why not)."""
    t0 = time.perf_counter()
    pool = ctx.require_db()
    distinct = sorted(set(batch.symbols.tolist()))
    known = await store.known_symbols(pool, distinct)
    missing = [s for s in distinct if s not in known]
    if single_symbol is not None and missing and not create_instruments:
        raise NotFound(f"no instrument {single_symbol!r}; create it first or pass create_instruments=true",
                       field="symbol")
    known_for_check = None if create_instruments else known
    group_by = batch.symbols
    if batch.venues is not None:
        group_by = np.char.add(np.char.add(batch.symbols.astype(str), "\x1f"), batch.venues.astype(str))
    checked = await asyncio.to_thread(
        check, batch.kind, batch.ts_ns, batch.values, batch.symbols, known_symbols=known_for_check,
        timeframe=timeframe, session=session, spike_threshold=spike_threshold, group_by=group_by,
    )
    quality = build_report(checked, batch.ts_ns, batch.values, batch.symbols, single_symbol, batch.warnings)
    tf = timeframe.text if timeframe is not None else None
    reject_share = quality.rows_rejected / max(quality.rows_in, 1)
    base = dict(load_id=None, kind=batch.kind, source=source, timeframe=tf, quality=quality)
    if dry_run:
        return LoadReport(**base, status="dry_run", seconds=time.perf_counter() - t0)
    if quality.rows_accepted == 0 or reject_share > max_reject_fraction:
        why = ("no row passed validation" if quality.rows_accepted == 0 else
               f"{reject_share:.1%} of rows rejected, above max_reject_fraction {max_reject_fraction:.1%}")
        quality = quality.model_copy(update={"warnings": [*quality.warnings, f"nothing written: {why}"]})
        report = LoadReport(**{**base, "quality": quality}, status="rejected", seconds=time.perf_counter() - t0)
        load_id = await store.insert_load(pool, report)
        return report.model_copy(update={"load_id": load_id})
    ok = checked.accepted
    accepted_symbols = set(batch.symbols[ok].tolist())
    missing = [s for s in missing if s in accepted_symbols]  # never an instrument for a rejected row's symbol
    async with pool.acquire() as conn, conn.transaction():
        created = []
        if create_instruments and missing:
            created = await store.create_missing_instruments(conn, missing, **(instrument_defaults or {}))
        inserted, updated = await store.upsert_rows(
            conn, batch.kind, batch.symbols[ok], batch.ts_ns[ok], {k: v[ok] for k, v in batch.values.items()},
            timeframe=tf, venues=batch.venues[ok] if batch.venues is not None else None, seq=checked.seq[ok],
        )
        report = LoadReport(
            **base, status="committed", rows_inserted=inserted, rows_updated=updated,
            rows_unchanged=quality.rows_accepted - inserted - updated, instruments_created=created,
            seconds=time.perf_counter() - t0,
        )
        load_id = await store.insert_load(conn, report)
    return report.model_copy(update={"load_id": load_id})


async def ingest_file(req: IngestRequest, ctx: OpContext) -> LoadReport:
    """Import bars, trades or quotes from a CSV/Parquet file, validated, as one transaction."""
    ctx.require_db()
    timeframe = parse_timeframe(req.timeframe) if req.kind == "bars" and req.timeframe else None
    t0 = time.perf_counter()
    batch, source = await asyncio.to_thread(_parse, req, ctx, timeframe)
    report = await load_batch(
        ctx, batch, source=source, timeframe=timeframe, session=session_rule(req.session),
        spike_threshold=req.spike_threshold, max_reject_fraction=req.max_reject_fraction,
        create_instruments=req.create_instruments, dry_run=req.dry_run, single_symbol=req.symbol,
    )
    return report.model_copy(update={"seconds": time.perf_counter() - t0})
