"""File bytes -> canonical columns: CSV or Parquet, column mapping, time zones. Pure; no I/O.

Canonical fields per kind (``symbol`` and ``venue`` optional everywhere):
  bars    ts, open, high, low, close, volume (optional, default 0)
  trades  ts, price, size, aggressor (optional: buy/sell, b/s, 1/-1)
  quotes  ts, bid, ask, bid_size, ask_size (sizes optional, default 0)
A field is found through ``columns`` (field -> file column) or else by a
case-insensitive alias. Unparsable timestamps become NAT and unparsable numbers
NaN, so the validator rejects those rows with a reason instead of failing the load.
"""

from __future__ import annotations

import gzip
import io
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from backend.core.errors import InvalidInput, PayloadTooLarge
from engines.marketdata.validation import DAY_NS, NAT

REQUIRED = {"bars": ("ts", "open", "high", "low", "close"), "trades": ("ts", "price", "size"),
            "quotes": ("ts", "bid", "ask")}
OPTIONAL = {"bars": ("volume",), "trades": ("aggressor",), "quotes": ("bid_size", "ask_size")}
ALIASES = {
    "ts": ("ts", "timestamp", "datetime", "time", "date", "date_time"),
    "open": ("open", "o"), "high": ("high", "h"), "low": ("low", "l"), "close": ("close", "c", "last"),
    "volume": ("volume", "vol", "v"), "price": ("price", "px", "last", "trade_price"),
    "size": ("size", "qty", "quantity", "volume", "amount"), "aggressor": ("aggressor", "side", "aggressor_side"),
    "bid": ("bid", "bid_price", "bidprice", "bid_px"), "ask": ("ask", "ask_price", "askprice", "ask_px", "offer"),
    "bid_size": ("bid_size", "bidsize", "bid_qty", "bid_sz"), "ask_size": ("ask_size", "asksize", "ask_qty", "ask_sz"),
    "symbol": ("symbol", "ticker", "instrument", "sym"), "venue": ("venue", "exchange", "market"),
}
_AGGRESSOR = {"buy": 1, "b": 1, "1": 1, "1.0": 1, "bid": -1, "sell": -1, "s": -1, "-1": -1, "-1.0": -1, "ask": 1}
GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"


@dataclass
class Parsed:
    """Canonical columns of one file; ``values`` are float64 (aggressor: int8 1 buy, -1 sell, 0 unknown)."""

    n: int
    ts_ns: np.ndarray
    values: dict[str, np.ndarray]
    symbols: np.ndarray | None
    venues: np.ndarray | None
    warnings: list[str] = field(default_factory=list)


def decompress(data: bytes, limit: int, source_field: str) -> bytes:
    if data[:2] != GZIP_MAGIC:
        return data
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as f:
            out = f.read(limit + 1)
    except (OSError, EOFError) as e:
        raise InvalidInput(f"not a readable gzip stream: {e}", field=source_field) from e
    if len(out) > limit:
        raise PayloadTooLarge(f"decompressed content exceeds {limit} bytes", field=source_field)
    return out


def read_table(data: bytes, fmt: str | None, source_field: str, max_rows: int) -> pd.DataFrame:
    """Bytes -> DataFrame; unreadable content is InvalidInput naming ``source_field``."""
    if fmt is None:
        fmt = "parquet" if data[:4] == PARQUET_MAGIC else "csv"
    try:
        if fmt == "parquet":
            pf = pq.ParquetFile(io.BytesIO(data))
            if pf.metadata.num_rows > max_rows:
                raise InvalidInput(f"{pf.metadata.num_rows} rows exceed the limit of {max_rows}", field=source_field)
            df = pf.read().to_pandas()
        else:
            df = pd.read_csv(io.BytesIO(data), nrows=max_rows + 1, skipinitialspace=True, low_memory=False)
            if len(df) > max_rows:
                raise InvalidInput(f"more than {max_rows} rows", field=source_field)
    except InvalidInput:
        raise
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, pa.ArrowException, ValueError,
            OSError) as e:
        raise InvalidInput(f"not a readable {fmt} file: {type(e).__name__}: {str(e)[:200]}", field=source_field) from e
    if df.shape[0] == 0:
        raise InvalidInput("the file has no data rows", field=source_field)
    return df


def _norm(name: object) -> str:
    return re.sub(r"[\s_\-]+", "_", str(name).strip().lower())


def resolve_columns(df: pd.DataFrame, kind: str, mapping: dict[str, str], *, need_symbol: bool) -> dict[str, str]:
    """Canonical field -> file column; a missing required one is InvalidInput naming ``columns.<field>``."""
    allowed = set(REQUIRED[kind]) | set(OPTIONAL[kind]) | {"symbol", "venue"}
    for key in mapping:
        if key not in allowed:
            raise InvalidInput(f"unknown field {key!r}; fields for {kind}: {sorted(allowed)}", field=f"columns.{key}")
    by_norm: dict[str, str] = {}
    for col in df.columns:
        by_norm.setdefault(_norm(col), col)
    found: dict[str, str] = {}
    for key, col in mapping.items():
        if col not in df.columns:
            raise InvalidInput(f"column {col!r} not in the file; it has {list(map(str, df.columns))[:30]}",
                               field=f"columns.{key}")
        found[key] = col
    taken = set(found.values())
    for key in (*REQUIRED[kind], *OPTIONAL[kind], "symbol", "venue"):
        if key in found:
            continue
        for alias in ALIASES[key]:
            col = by_norm.get(alias)
            if col is not None and col not in taken:
                found[key] = col
                taken.add(col)
                break
    wanted = [*REQUIRED[kind], *(["symbol"] if need_symbol else [])]
    for key in wanted:
        if key not in found:
            raise InvalidInput(
                f"no column for {key!r}; map one with columns.{key} (file columns: {list(map(str, df.columns))[:30]})",
                field=f"columns.{key}" if key != "symbol" else "symbol",
            )
    return found


def parse_timestamps(col: pd.Series, tz: str, ts_format: str | None, ts_unit: str, daily: bool) -> np.ndarray:
    """A column of timestamps -> int64 ns UTC (NAT where unusable). Daily: 00:00 UTC of the local date."""
    try:
        zone = pd.Timestamp("2000-01-01", tz=tz).tz
    except Exception as e:  # noqa: BLE001 - pytz/zoneinfo raise several types for an unknown zone
        raise InvalidInput(f"unknown time zone {tz!r}", field="tz") from e
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        raw = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64)
        unit = ts_unit if ts_unit != "auto" else _guess_unit(raw)
        idx = pd.to_datetime(raw, unit=unit, errors="coerce", utc=True)
    elif isinstance(col.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(col):
        idx = pd.DatetimeIndex(col)
    else:
        text = col.astype("string")
        idx = pd.DatetimeIndex(pd.to_datetime(text, format=ts_format or "ISO8601", errors="coerce", utc=False))
        if ts_format is None and idx.isna().mean() > 0.5:
            idx = pd.DatetimeIndex(pd.to_datetime(text, format="mixed", errors="coerce", utc=False))
    if idx.tz is None:
        idx = idx.tz_localize(zone, nonexistent="NaT", ambiguous="NaT")
    if daily:
        local_naive = idx.tz_convert(zone).tz_localize(None)
        ns = local_naive.as_unit("ns").asi8
        return np.where(ns == NAT, NAT, ns - ns % DAY_NS)
    return idx.tz_convert("UTC").as_unit("ns").asi8


def _guess_unit(raw: np.ndarray) -> str:
    finite = np.abs(raw[np.isfinite(raw)])
    m = float(np.median(finite)) if finite.size else 0.0
    return "ns" if m > 1e17 else "us" if m > 1e14 else "ms" if m > 1e11 else "s"


def parse_aggressor(col: pd.Series) -> np.ndarray:
    """buy/sell-like labels -> int8 1 / -1; anything else (or missing) 0 = unknown."""
    labels = col.astype("string").str.strip().str.lower()
    return labels.map(_AGGRESSOR).fillna(0).to_numpy(dtype=np.int8)


def normalise(
    df: pd.DataFrame, kind: str, *, mapping: dict[str, str], symbol: str | None, venue: str | None,
    tz: str, ts_format: str | None, ts_unit: str, daily: bool,
) -> Parsed:
    """A raw table -> canonical arrays ready for ``validation.check``."""
    cols = resolve_columns(df, kind, mapping, need_symbol=symbol is None)
    n = df.shape[0]
    ts_ns = parse_timestamps(df[cols["ts"]], tz, ts_format, ts_unit, daily)
    values: dict[str, np.ndarray] = {}
    warnings: list[str] = []
    for key in (*REQUIRED[kind][1:], *OPTIONAL[kind]):
        if key == "aggressor":
            values[key] = parse_aggressor(df[cols[key]]) if key in cols else np.zeros(n, dtype=np.int8)
            continue
        if key in cols:
            values[key] = pd.to_numeric(df[cols[key]], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            values[key] = np.zeros(n, dtype=np.float64)
            warnings.append(f"no {key} column; {key} set to 0")
    symbols = None if symbol is not None else df[cols["symbol"]].astype("string").str.strip().fillna("").to_numpy(
        dtype=object)
    venues = None
    if venue is None and "venue" in cols:
        venues = df[cols["venue"]].astype("string").str.strip().fillna("").to_numpy(dtype=object)
    return Parsed(n, ts_ns, values, symbols, venues, warnings)
