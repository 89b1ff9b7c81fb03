"""The ML engine's reads from PostgreSQL (async, ``ctx.db``): return series from stored bars.

A reference ``{"symbol", "start", "end", "timeframe"}`` becomes close-to-close log returns of the stored
bars in that window (both ends inclusive, by UTC date), dated by each return's bar. Unknown symbols or an
empty window are 404 naming ``<field>.symbol``; too few bars for the operation is a 422 from compute.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

import numpy as np
from pydantic import BaseModel

from backend.contract.operation import OpContext
from backend.core.errors import InvalidInput, NotFound
from engines.ml.models.data import MAX_RETURNS, ReturnsData

R = TypeVar("R", bound=BaseModel)


async def _stored_bars(data: Any, ctx: OpContext, field: str, columns: str) -> list:
    """Rows (date, *columns) of a reference's stored bars in its window, oldest first; NotFound when none."""
    start = dt.datetime.combine(data.start, dt.time(), dt.UTC) if data.start else None
    end = dt.datetime.combine(data.end + dt.timedelta(days=1), dt.time(), dt.UTC) if data.end else None
    rows = await ctx.require_db().fetch(
        f"""SELECT (ts AT TIME ZONE 'UTC')::date AS d, {columns} FROM bars
           WHERE symbol = $1 AND timeframe = $2 AND ($3::timestamptz IS NULL OR ts >= $3)
             AND ($4::timestamptz IS NULL OR ts < $4) ORDER BY ts LIMIT $5""",  # noqa: S608 - columns are ours
        data.symbol, data.timeframe, start, end, MAX_RETURNS + 1)
    if not rows:
        raise NotFound(f"no stored {data.timeframe!r} bars for {data.symbol!r} in the requested window",
                       field=f"{field}.symbol")
    return rows


async def load_returns(data: ReturnsData, ctx: OpContext, field: str = "data") -> ReturnsData:
    """Inline data passes through; a reference becomes inline log returns with their dates."""
    if not data.is_reference:
        return data
    rows = await _stored_bars(data, ctx, field, "close")
    close = np.array([r["close"] for r in rows], dtype=np.float64)
    if (close <= 0).any() or not np.isfinite(close).all():
        raise InvalidInput(f"stored closes of {data.symbol!r} must be finite and > 0", field=f"{field}.symbol")
    returns = np.diff(np.log(close))
    return data.model_copy(update={"returns": returns, "dates": [r["d"] for r in rows[1:]]})


async def inline_data(req: R, ctx: OpContext) -> R:
    """Prepare step of every operation with a ``data: ReturnsData`` field."""
    return req.model_copy(update={"data": await load_returns(req.data, ctx)})  # type: ignore[attr-defined]


async def load_bars(data: Any, ctx: OpContext, field: str = "data") -> Any:
    """A ``BarsData`` reference -> inline open/high/low/close/volume arrays with their dates."""
    if not data.is_reference:
        return data
    rows = await _stored_bars(data, ctx, field, "open, high, low, close, volume")
    arr = np.array([tuple(r)[1:] for r in rows], dtype=np.float64)
    cols = {k: arr[:, j].copy() for j, k in enumerate(("open", "high", "low", "close", "volume"))}
    return data.model_copy(update={**cols, "dates": [r["d"] for r in rows]})


async def inline_direction(req: R, ctx: OpContext) -> R:
    """Prepare step of the direction operations: stored bars and a stored feature set become inline."""
    update: dict[str, Any] = {"data": await load_bars(req.data, ctx)}  # type: ignore[attr-defined]
    name = getattr(req, "feature_set", None)
    if name is not None:
        from engines.features.store import load_feature_set

        fs = await load_feature_set(ctx.require_db(), name, field="feature_set")
        update |= {"indicators": fs.indicators, "feature_set": None}
    return req.model_copy(update=update)
