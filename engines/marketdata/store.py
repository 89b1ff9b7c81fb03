"""PostgreSQL access of the market data engine (asyncpg). The only module here that speaks SQL.

Writes stage rows with COPY into a temporary table and upsert them with one
``INSERT ... SELECT ... ON CONFLICT DO UPDATE`` (unchanged rows are left alone,
so a re-import reports them as unchanged). The caller owns the transaction:
a load is one transaction, so a failure leaves nothing behind.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import asyncpg
import numpy as np
import pandas as pd

from backend.core.errors import Conflict, NotFound
from engines.marketdata.models import (
    Instrument,
    InstrumentOut,
    LoadReport,
)

_INSTRUMENT_COLS = ("symbol", "asset_class", "currency", "tick_size", "lot_size", "sector", "venues", "tradable")
_EPOCH_US = "timestamptz 'epoch' + s.ts_us * interval '1 microsecond'"

#: kind -> (table, value columns)
TABLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "bars": ("bars", ("open", "high", "low", "close", "volume")),
    "trades": ("trades", ("price", "size", "aggressor")),
    "quotes": ("quotes", ("bid", "ask", "bid_size", "ask_size")),
}


def _instrument(row: asyncpg.Record) -> InstrumentOut:
    d = dict(row)
    d["tick_size"] = float(d["tick_size"])
    d["lot_size"] = float(d["lot_size"])
    d["venues"] = list(d["venues"])
    return InstrumentOut(**d)


# ---- instruments -------------------------------------------------------------
async def upsert_instrument(conn: asyncpg.Connection | asyncpg.Pool, inst: Instrument) -> InstrumentOut:
    row = await conn.fetchrow(
        """INSERT INTO instruments (symbol, asset_class, currency, tick_size, lot_size, sector, venues, tradable)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (symbol) DO UPDATE SET asset_class = EXCLUDED.asset_class, currency = EXCLUDED.currency,
               tick_size = EXCLUDED.tick_size, lot_size = EXCLUDED.lot_size, sector = EXCLUDED.sector,
               venues = EXCLUDED.venues, tradable = EXCLUDED.tradable, updated_at = now()
           RETURNING *""",
        inst.symbol, inst.asset_class, inst.currency, inst.tick_size, inst.lot_size, inst.sector,
        list(inst.venues), inst.tradable,
    )
    return _instrument(row)


async def create_missing_instruments(conn: asyncpg.Connection, symbols: Sequence[str], **defaults: Any) -> list[str]:
    """Insert default instruments for unknown symbols; returns those created."""
    if not symbols:
        return []
    rows = await conn.fetch(
        """INSERT INTO instruments (symbol, asset_class, sector) SELECT s, $2, $3 FROM unnest($1::text[]) AS s
           ON CONFLICT (symbol) DO NOTHING RETURNING symbol""",
        list(symbols), defaults.get("asset_class", "equity"), defaults.get("sector"),
    )
    return sorted(r["symbol"] for r in rows)


async def get_instrument(pool: asyncpg.Pool, symbol: str) -> InstrumentOut:
    row = await pool.fetchrow("SELECT * FROM instruments WHERE symbol = $1", symbol)
    if row is None:
        raise NotFound(f"no instrument {symbol!r}", field="symbol")
    return _instrument(row)


async def list_instruments(
    pool: asyncpg.Pool, asset_class: str | None, sector: str | None, venue: str | None, limit: int, offset: int
) -> tuple[list[InstrumentOut], int]:
    where = """($1::text IS NULL OR asset_class = $1) AND ($2::text IS NULL OR sector = $2)
               AND ($3::text IS NULL OR $3 = ANY(venues))"""
    rows = await pool.fetch(
        f"SELECT *, count(*) OVER () AS total FROM instruments WHERE {where} ORDER BY symbol LIMIT $4 OFFSET $5",
        asset_class, sector, venue, limit, offset,
    )
    total = rows[0]["total"] if rows else await pool.fetchval(
        f"SELECT count(*) FROM instruments WHERE {where}", asset_class, sector, venue)
    return [_instrument({k: v for k, v in r.items() if k != "total"}) for r in rows], int(total)


async def delete_instrument(pool: asyncpg.Pool, symbol: str, purge_data: bool) -> dict[str, Any]:
    async with pool.acquire() as conn, conn.transaction():
        exists = await conn.fetchval("SELECT 1 FROM instruments WHERE symbol = $1 FOR UPDATE", symbol)
        if not exists:
            raise NotFound(f"no instrument {symbol!r}", field="symbol")
        counts = {}
        for kind, (table, _) in TABLES.items():
            if purge_data:
                status = await conn.execute(f"DELETE FROM {table} WHERE symbol = $1", symbol)
                counts[f"{kind}_deleted"] = int(status.split()[-1])
            elif await conn.fetchval(f"SELECT 1 FROM {table} WHERE symbol = $1 LIMIT 1", symbol):
                raise Conflict(f"{symbol!r} has stored {kind}; pass purge_data=true to delete them too",
                               field="purge_data")
        await conn.execute("DELETE FROM instruments WHERE symbol = $1", symbol)
    return {"symbol": symbol, "deleted": True, **counts}


async def known_symbols(conn: asyncpg.Connection | asyncpg.Pool, symbols: Sequence[str]) -> set[str]:
    rows = await conn.fetch("SELECT symbol FROM instruments WHERE symbol = ANY($1::text[])", list(symbols))
    return {r["symbol"] for r in rows}


# ---- writes ------------------------------------------------------------------
async def upsert_rows(
    conn: asyncpg.Connection, kind: str, symbols: np.ndarray, ts_ns: np.ndarray, values: dict[str, np.ndarray], *,
    timeframe: str | None = None, venues: np.ndarray | None = None, seq: np.ndarray | None = None,
) -> tuple[int, int]:
    """COPY rows into a staging table and upsert them; returns (inserted, updated). Call inside a transaction."""
    table, cols = TABLES[kind]
    stage = f"md_stage_{kind}"
    is_bars = kind == "bars"
    key_cols = ("symbol", "ts_us") if is_bars else ("symbol", "venue", "ts_us", "seq")
    col_types = {"aggressor": "text"}
    await conn.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {stage} (symbol text, venue text, ts_us bigint, seq integer, "
        + ", ".join(f"{c} {col_types.get(c, 'double precision')}" for c in cols) + ") ON COMMIT DELETE ROWS"
    )
    columns: list[list[Any]] = [list(symbols), (ts_ns // 1000).tolist()]
    names = ["symbol", "ts_us"]
    if not is_bars:
        columns += [list(venues) if venues is not None else [""] * ts_ns.shape[0], seq.tolist()]
        names += ["venue", "seq"]
    for c in cols:
        if c == "aggressor":
            a = values[c]
            columns.append(np.where(a > 0, "buy", np.where(a < 0, "sell", None)).tolist())
        else:
            columns.append(values[c].tolist())
        names.append(c)
    await conn.copy_records_to_table(stage, records=zip(*columns, strict=False), columns=names)
    key_sql = "symbol, timeframe, ts" if is_bars else "symbol, venue, ts, seq"
    select_key = "s.symbol, $1::text, " + _EPOCH_US if is_bars else "s.symbol, s.venue, " + _EPOCH_US + ", s.seq"
    vals = ", ".join(f"s.{c}" for c in cols)
    sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in cols)
    old = ", ".join(f"t.{c}" for c in cols)
    new = ", ".join(f"EXCLUDED.{c}" for c in cols)
    order = ", ".join(f"s.{c}" for c in key_cols)
    sql = f"""WITH up AS (
                INSERT INTO {table} AS t ({key_sql}, {", ".join(cols)})
                SELECT {select_key}, {vals} FROM {stage} s ORDER BY {order}
                ON CONFLICT ({key_sql}) DO UPDATE SET {sets}
                WHERE ({old}) IS DISTINCT FROM ({new})
                RETURNING (xmax = 0) AS ins)
              SELECT count(*) FILTER (WHERE ins) AS inserted, count(*) FILTER (WHERE NOT ins) AS updated FROM up"""
    row = await conn.fetchrow(sql, timeframe) if is_bars else await conn.fetchrow(sql)
    await conn.execute(f"TRUNCATE {stage}")
    return int(row["inserted"]), int(row["updated"])


async def insert_load(conn: asyncpg.Connection | asyncpg.Pool, report: LoadReport) -> int:
    q = report.quality
    return await conn.fetchval(
        """INSERT INTO marketdata_loads (kind, source, timeframe, status, rows_in, rows_accepted, rows_rejected,
               rows_inserted, rows_updated, report) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb)
           RETURNING id""",
        report.kind, report.source, report.timeframe, report.status, q.rows_in, q.rows_accepted, q.rows_rejected,
        report.rows_inserted, report.rows_updated, report.model_dump_json(),
    )


def _load(row: asyncpg.Record) -> LoadReport:
    data = json.loads(row["report"])
    data["load_id"] = row["id"]
    return LoadReport.model_validate(data)


async def get_load(pool: asyncpg.Pool, load_id: int) -> LoadReport:
    row = await pool.fetchrow("SELECT id, report FROM marketdata_loads WHERE id = $1", load_id)
    if row is None:
        raise NotFound(f"no load {load_id}", field="load_id")
    return _load(row)


async def list_loads(pool: asyncpg.Pool, limit: int) -> list[LoadReport]:
    rows = await pool.fetch("SELECT id, report FROM marketdata_loads ORDER BY id DESC LIMIT $1", limit)
    return [_load(r) for r in rows]


# ---- reads -------------------------------------------------------------------
def _range_sql(start: dt.datetime | None, end: dt.datetime | None, first: int) -> tuple[str, list[Any]]:
    parts, args = [], []
    if start is not None:
        args.append(_aware(start))
        parts.append(f"ts >= ${first + len(args) - 1}")
    if end is not None:
        args.append(_aware(end))
        parts.append(f"ts < ${first + len(args) - 1}")
    return ("".join(f" AND {p}" for p in parts), args)


def _aware(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=dt.UTC)


async def fetch_bars(
    pool: asyncpg.Pool, symbol: str, timeframe: str, start: dt.datetime | None, end: dt.datetime | None,
    limit: int | None,
) -> tuple[pd.DataFrame, bool]:
    """Bars in [start, end) ascending; with ``limit`` the latest ``limit`` (and whether more matched)."""
    rng, args = _range_sql(start, end, 3)
    lim = f" LIMIT {int(limit) + 1}" if limit is not None else ""
    rows = await pool.fetch(
        f"""SELECT ts, open, high, low, close, volume FROM bars WHERE symbol = $1 AND timeframe = $2{rng}
            ORDER BY ts DESC{lim}""", symbol, timeframe, *args)
    truncated = limit is not None and len(rows) > limit
    rows = rows[:limit] if truncated else rows
    df = pd.DataFrame([tuple(r) for r in reversed(rows)], columns=["ts", "open", "high", "low", "close", "volume"])
    df["ts"] = pd.to_datetime(df["ts"], utc=True)
    return df.set_index("ts"), truncated


async def fetch_ticks(
    pool: asyncpg.Pool, kind: str, symbol: str, venue: str | None, start: dt.datetime | None,
    end: dt.datetime | None, limit: int,
) -> tuple[list[asyncpg.Record], bool]:
    table, cols = TABLES[kind]
    rng, args = _range_sql(start, end, 3)
    rows = await pool.fetch(
        f"""SELECT ts, venue, seq, {", ".join(cols)} FROM {table}
            WHERE symbol = $1 AND ($2::text IS NULL OR venue = $2){rng}
            ORDER BY ts DESC, venue, seq DESC LIMIT {int(limit) + 1}""", symbol, venue, *args)
    truncated = len(rows) > limit
    return list(reversed(rows[:limit])), truncated

