"""Validated array and scalar types for request models, with explicit size limits.

Use these in every model so that limits are declared once:
``returns: FloatSeries`` accepts 2..MAX_SERIES_LEN finite floats.

Numbers in bulk are arrays, not lists of Python floats: ``FloatArray`` fields hold a float64
``numpy.ndarray``, validated for dimensions, shape, size and finiteness. From JSON the list is
turned into an array once, while the request is validated; from the binary encoding
(``application/msgpack``) or the native socket the array arrives as an array and is taken as it is
(no copy when it is already float64: compute that mutates copies first). Serialised to JSON it is a
list again; ``model_dump()`` (python mode) keeps the arrays, for the binary transports.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import numpy as np
from pydantic import AfterValidator, Field, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic_core import PydanticCustomError, core_schema

from backend.core.errors import InvalidInput

#: Longest accepted 1-D series (e.g. 100 years of minute bars would not fit; 1M points do).
MAX_SERIES_LEN = 1_000_000
#: Most elements accepted in one matrix field (rows * columns).
MAX_MATRIX_ELEMENTS = 20_000_000
#: Most columns (assets) in one matrix.
MAX_ASSETS = 5_000

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


class FloatArray:
    """``Annotated[np.ndarray, FloatArray(ndim, ...)]``: a float64 array with stated limits.

    ``max_len`` bounds the first dimension, ``max_cols`` the second (2-D), ``max_elements`` the total;
    ``missing=True`` admits null (JSON) / NaN as a missing value, otherwise every value must be finite."""

    __slots__ = ("ndim", "min_len", "max_len", "max_cols", "max_elements", "missing", "min_cols")

    def __init__(self, ndim: int, *, max_len: int, min_len: int = 1, max_cols: int | None = None,
                 min_cols: int = 1, max_elements: int | None = None, missing: bool = False) -> None:
        self.ndim, self.min_len, self.max_len = ndim, min_len, max_len
        self.max_cols, self.min_cols = max_cols, min_cols
        self.max_elements = max_elements or (max_len * (max_cols or 1))
        self.missing = missing

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            self.validate,
            serialization=core_schema.plain_serializer_function_ser_schema(self.serialize, info_arg=True,
                                                                           when_used="always"))

    def __get_pydantic_json_schema__(self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler) -> dict:
        item: dict[str, Any] = {"type": "number"} if not self.missing else {"anyOf": [{"type": "number"},
                                                                                      {"type": "null"}]}
        if self.ndim == 2:
            item = {"type": "array", "items": item, "minItems": self.min_cols, "maxItems": self.max_cols or MAX_ASSETS}
        return {"type": "array", "items": item, "minItems": self.min_len, "maxItems": self.max_len,
                "description": "numbers in bulk: a JSON array, or a typed binary array in application/msgpack"}

    def validate(self, value: Any) -> np.ndarray:
        if isinstance(value, np.ndarray):
            if value.dtype.kind not in "fiu":
                raise PydanticCustomError("array_dtype", "an array of numbers is required, not {dtype}",
                                          {"dtype": str(value.dtype)})
            arr = value if value.dtype == np.float64 else value.astype(np.float64)
        elif isinstance(value, list | tuple):
            self._check_rows(value)
            try:
                arr = np.asarray(value, dtype=np.float64)
            except (TypeError, ValueError):
                raise PydanticCustomError("array_values", "value at index {at} is not a number"
                                          + (" or null" if self.missing else ""),
                                          {"at": _first_non_number(value, self.missing)}) from None
        else:
            raise PydanticCustomError("array_type", "an array of numbers is required")
        if arr.ndim != self.ndim:
            raise PydanticCustomError("array_shape", "must be a {ndim}-dimensional array of numbers"
                                      + (" (rows of equal length)" if self.ndim == 2 else ""), {"ndim": self.ndim})
        n = arr.shape[0]
        if not self.min_len <= n <= self.max_len:
            raise PydanticCustomError("array_length", "must have {lo} to {hi} rows" if self.ndim == 2 else
                                      "must have {lo} to {hi} values", {"lo": self.min_len, "hi": self.max_len})
        if self.ndim == 2 and not self.min_cols <= arr.shape[1] <= (self.max_cols or MAX_ASSETS):
            raise PydanticCustomError("array_width", "rows must have {lo} to {hi} values",
                                      {"lo": self.min_cols, "hi": self.max_cols or MAX_ASSETS})
        if arr.size > self.max_elements:
            raise PydanticCustomError("array_size", "more than {max} values", {"max": self.max_elements})
        finite = np.isfinite(arr)
        if not finite.all() and (not self.missing or np.isinf(arr).any()):
            bad = np.argwhere(~finite)[0]
            raise PydanticCustomError("array_finite", "value at index {at} is not a finite number",
                                      {"at": ".".join(str(int(i)) for i in bad)})
        return arr

    def _check_rows(self, value: list | tuple) -> None:
        """Bounds checked on the lists before numpy sees them (a ragged or huge list fails early)."""
        if len(value) > self.max_len:
            raise PydanticCustomError("array_length", "must have at most {hi} rows" if self.ndim == 2 else
                                      "must have at most {hi} values", {"hi": self.max_len})
        if self.ndim == 2:
            width = len(value[0]) if value and isinstance(value[0], list | tuple) else -1
            for i, row in enumerate(value):
                if not isinstance(row, list | tuple) or len(row) != width:
                    raise PydanticCustomError("array_ragged", "row {at} is not a list of {w} numbers",
                                              {"at": str(i), "w": width})

    def serialize(self, arr: np.ndarray, info: Any) -> Any:
        if info.mode == "json":
            return [None if v != v else v for v in arr.tolist()] if self.missing and arr.ndim == 1 else (
                [[None if v != v else v for v in row] for row in arr.tolist()] if self.missing else arr.tolist())
        return arr


def _first_non_number(value: list | tuple, missing: bool) -> str:
    """Where the first value that is not a number sits ("3" or "2.5"); only on the error path."""
    def bad(v: Any) -> bool:
        return not (isinstance(v, int | float) and not isinstance(v, bool)) and not (missing and v is None)

    for i, v in enumerate(value):
        if isinstance(v, list | tuple):
            for j, x in enumerate(v):
                if bad(x):
                    return f"{i}.{j}"
        elif bad(v):
            return str(i)
    return "0"


def float_vector(*, max_len: int = MAX_SERIES_LEN, min_len: int = 1, missing: bool = False) -> Any:
    """A 1-D float64 array field type."""
    return Annotated[np.ndarray, FloatArray(1, max_len=max_len, min_len=min_len, missing=missing)]


def float_matrix(*, max_rows: int, max_cols: int = MAX_ASSETS, min_rows: int = 1,
                 max_elements: int = MAX_MATRIX_ELEMENTS, missing: bool = False) -> Any:
    """A 2-D float64 array field type (rows of equal length)."""
    return Annotated[np.ndarray, FloatArray(2, max_len=max_rows, min_len=min_rows, max_cols=max_cols,
                                            max_elements=max_elements, missing=missing)]

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
FloatSeries = float_vector(min_len=2)
#: What a symbol may be, everywhere it enters (requests, and ingested files' symbol columns).
SYMBOL_PATTERN = r"^[A-Za-z0-9._:/^=-]{1,64}$"
Symbol = Annotated[str, Field(min_length=1, max_length=64, pattern=SYMBOL_PATTERN)]


def as_vector(values: list[float] | np.ndarray, field: str) -> np.ndarray:
    """Validated list or array -> float64 array (no copy of a float64 array: copy before mutating)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise InvalidInput("must be a 1-D array of numbers", field=field)
    return arr


def as_matrix(rows: list[list[float]] | np.ndarray, field: str, *, min_rows: int = 1) -> np.ndarray:
    """Validated rows (lists, or a 2-D array) -> 2-D float64 array; rejects ragged rows and oversize input."""
    if isinstance(rows, np.ndarray):
        if rows.ndim != 2 or rows.shape[0] < min_rows:
            raise InvalidInput(f"needs a matrix of at least {min_rows} rows", field=field)
        return np.asarray(rows, dtype=np.float64)
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
