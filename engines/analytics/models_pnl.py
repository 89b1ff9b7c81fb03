"""Models of P&L from fills and marks."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field, model_validator

from backend.contract.arrays import FiniteFloat, Symbol
from backend.contract.operation import Model
from engines.risk.models.common import AccountRef

MAX_FILLS = 200_000
MAX_MARKS = 2_000_000


class Fill(Model):
    ts: dt.datetime
    symbol: Symbol
    side: Literal["buy", "sell"]
    qty: FiniteFloat = Field(gt=0, le=1e12)
    price: FiniteFloat = Field(gt=0, le=1e9)
    fee: FiniteFloat = Field(default=0.0, ge=-1e12, le=1e12,
                             description="Paid; negative = a rebate received (the trading core records maker rebates "
                                         "as negative fees).")


class Mark(Model):
    date: dt.date
    symbol: Symbol
    close: FiniteFloat = Field(gt=0, le=1e9)


class PnlRequest(Model):
    """Fills and daily marks inline, or an account (and optionally one strategy) whose stored fills and
    the stored daily closes of its symbols are used (prepare step)."""

    account: AccountRef | None = None
    fills: Annotated[list[Fill], Field(max_length=MAX_FILLS)] | None = None
    marks: Annotated[list[Mark], Field(max_length=MAX_MARKS)] | None = None
    starting_equity: FiniteFloat | None = Field(default=None, gt=0, le=1e15,
                                                description="Equity before the first fill (an account's starting "
                                                "cash by default); needed for returns.")
    start: dt.date | None = Field(default=None, description="First day reported (fills before it still count).")
    end: dt.date | None = None

    @model_validator(mode="after")
    def _source(self) -> PnlRequest:
        if self.account is not None and (self.fills is not None or self.marks is not None):
            raise ValueError("give an account or inline fills and marks, not both")
        if self.account is None and self.fills is None:
            raise ValueError("give an account or fills")
        return self


class PnlDay(Model):
    date: dt.date
    realised: float = Field(description="Cumulative realised P&L (average cost, fees apart).")
    unrealised: float = Field(description="(mark - average cost) * quantity, summed, at the day's marks.")
    fees: float = Field(description="Cumulative fees.")
    total: float = Field(description="realised + unrealised - fees.")
    daily: float = Field(description="Change of total since the previous day.")
    equity: float | None
    ret: float | None = Field(alias="return", description="daily / previous equity.")

    model_config = Model.model_config | {"populate_by_name": True, "serialize_by_alias": True}


class SymbolPnl(Model):
    symbol: str
    qty: float
    avg_cost: float
    mark: float | None
    realised: float
    unrealised: float
    fees: float


class PnlResponse(Model):
    days: list[PnlDay]
    symbols: list[SymbolPnl]
    realised: float
    unrealised: float
    fees: float
    total: float
    n_fills: int
