"""A return series, inline or by reference to stored bars (the market data engine's ``bars`` table).

By reference, ``{"symbol": "^IXIC", "start": "2010-01-01", "end": "2018-12-31"}`` becomes the close-to-close
log returns of that symbol's stored bars (``timeframe``, default "1d"), with their dates, in the prepare step
(``engines.ml.data``); inline, ``returns`` are decimal log returns as given (``dates`` optional).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from backend.contract.arrays import Day, Symbol, float_vector
from backend.contract.operation import Model

#: Longest return series an ML operation accepts (80 years of daily bars).
MAX_RETURNS = 20_000
#: Shortest series any model is fitted on.
MIN_RETURNS = 30

Returns = float_vector(min_len=MIN_RETURNS, max_len=MAX_RETURNS)
Timeframe = Annotated[str, Field(pattern=r"^[0-9]{1,3}(s|m|h|d|w)$", max_length=8)]


class ReturnsData(Model):
    """Exactly one of inline ``returns`` or a ``symbol`` whose stored closes give them."""

    returns: Returns | None = Field(default=None, description="decimal log returns, oldest first")
    dates: list[Day] | None = Field(default=None, max_length=MAX_RETURNS,
                                    description="date of each return (inline only; optional)")
    symbol: Symbol | None = None
    start: Day | None = Field(default=None, description="first bar's date (inclusive)")
    end: Day | None = Field(default=None, description="last bar's date (inclusive)")
    timeframe: Timeframe = "1d"

    @model_validator(mode="after")
    def _one_source(self) -> ReturnsData:
        if (self.returns is None) == (self.symbol is None):
            raise ValueError("give exactly one of returns (inline) or symbol (stored bars)")
        if self.dates is not None and (self.returns is None or len(self.dates) != len(self.returns)):
            raise ValueError("dates must come with inline returns, one per return")
        if self.start and self.end and self.start > self.end:
            raise ValueError("start is after end")
        return self

    @property
    def is_reference(self) -> bool:
        return self.returns is None
