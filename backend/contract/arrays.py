"""Validated array and scalar types for request models, with explicit size limits.

Use these in every model so that limits are declared once:
``returns: FloatSeries`` accepts 2..MAX_SERIES_LEN finite floats.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import numpy as np
from pydantic import AfterValidator, Field

from backend.core.errors import InvalidInput

#: Longest accepted 1-D series (e.g. 100 years of minute bars would not fit; 1M points do).
MAX_SERIES_LEN = 1_000_000
#: Most elements accepted in one matrix field (rows * columns).
MAX_MATRIX_ELEMENTS = 20_000_000
#: Most columns (assets) in one matrix.
MAX_ASSETS = 5_000

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]

#: Dates and times the platform accepts (anything outside cannot be market data, and the ends of
#: Python's calendar overflow when converted between time zones).
EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2200, 12, 31, 23, 59, 59, tzinfo=dt.UTC)


def _instant_in_range(v: dt.datetime) -> dt.datetime:
    try:
        utc = v.replace(tzinfo=dt.UTC) if v.tzinfo is None else v.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError(f"must lie between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}") from None
    if not EARLIEST <= utc <= LATEST:
        raise ValueError(f"must lie between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}")
    return v


def _day_in_range(v: dt.date) -> dt.date:
    if not EARLIEST.date() <= v <= LATEST.date():
        raise ValueError(f"must lie between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}")
    return v


#: A date-time in the supported range (naive means UTC).
Instant = Annotated[dt.datetime, AfterValidator(_instant_in_range)]
#: A calendar date in the supported range.
Day = Annotated[dt.date, AfterValidator(_day_in_range)]
Probability = Annotated[float, Field(gt=0.0, lt=1.0, allow_inf_nan=False)]
FloatSeries = Annotated[list[FiniteFloat], Field(min_length=2, max_length=MAX_SERIES_LEN)]
#: What a symbol may be, everywhere it enters (requests, and ingested files' symbol columns).
SYMBOL_PATTERN = r"^[A-Za-z0-9._:/^=-]{1,64}$"
Symbol = Annotated[str, Field(min_length=1, max_length=64, pattern=SYMBOL_PATTERN)]


def as_vector(values: list[float], field: str) -> np.ndarray:
    """Validated list -> float64 array (a copy the caller owns)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise InvalidInput("must be a 1-D array of numbers", field=field)
    return arr


def as_matrix(rows: list[list[float]], field: str, *, min_rows: int = 1) -> np.ndarray:
    """Validated rows -> 2-D float64 array; rejects ragged rows and oversize input."""
    if len(rows) < min_rows:
        raise InvalidInput(f"needs at least {min_rows} rows", field=field)
    width = len(rows[0])
    if width == 0 or width > MAX_ASSETS:
        raise InvalidInput(f"row width must be 1..{MAX_ASSETS}", field=field)
    for i, row in enumerate(rows):
        if len(row) != width:
            raise InvalidInput(f"row {i} has {len(row)} values, expected {width}", field=f"{field}.{i}")
    if len(rows) * width > MAX_MATRIX_ELEMENTS:
        raise InvalidInput(f"more than {MAX_MATRIX_ELEMENTS} elements", field=field)
    arr = np.asarray(rows, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise InvalidInput("contains a non-finite value", field=field)
    return arr
