"""Shared inputs of the risk operations: positions, market data (inline or by reference), results.

Conventions used by every operation:
  * A position's ``value`` is its market value in the base currency (negative = short).
  * Returns are simple per-period (daily) returns; P&L of a linear book = sum(value_i * r_i).
  * ``var`` and ``cvar`` are reported as positive currency losses (a gain gives a negative number).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from backend.contract.arrays import MAX_ASSETS, Day, FiniteFloat, Probability, Symbol, float_matrix, float_vector
from backend.contract.operation import Model

#: Most rows (periods) accepted in an inline returns/prices matrix.
MAX_HISTORY_ROWS = 100_000
#: Most look-back days resolved from stored bars.
MAX_LOOKBACK_DAYS = 10_000
#: Most confidence levels in one request.
MAX_LEVELS = 20
#: Most positions in one portfolio.
MAX_POSITIONS = MAX_ASSETS

Row = float_vector(max_len=MAX_ASSETS)
Matrix = float_matrix(max_rows=MAX_HISTORY_ROWS, max_cols=MAX_ASSETS)
ConfidenceLevels = Annotated[list[Probability], Field(min_length=1, max_length=MAX_LEVELS)]
HorizonDays = Annotated[int, Field(ge=1, le=252, description="Risk horizon in trading days.")]


class Position(Model):
    """A linear position: market value in the base currency (negative = short)."""

    symbol: Symbol
    value: FiniteFloat = Field(ge=-1e15, le=1e15)


Positions = Annotated[list[Position], Field(min_length=1, max_length=MAX_POSITIONS)]


class AccountRef(Model):
    """Positions by reference: a paper account's stored positions in the trading core."""

    account_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")
    strategy: str | None = Field(default=None, min_length=1, max_length=64,
                                 description="Only this strategy's positions; null = all strategies netted.")


class PositionsSource(Model):
    """Exactly one of inline ``positions`` or an ``account`` whose stored positions are used.

    An account's positions are its net quantities per symbol (``trading_positions``) valued at each
    symbol's latest stored daily close (``bars``, timeframe '1d'), resolved by the prepare step.
    """

    positions: Positions | None = None
    account: AccountRef | None = None

    @model_validator(mode="after")
    def _one_positions_source(self) -> PositionsSource:
        if (self.positions is None) == (self.account is None):
            raise ValueError("give exactly one of 'positions' or 'account'")
        return self


class MarketData(Model):
    """Where the return distribution comes from: exactly one source.

    inline   ``returns`` (periods x symbols) or ``prices`` (periods+1 x symbols), columns named by ``symbols``;
             or a parametric ``covariance`` (daily, symbols x symbols) with an optional daily ``mean``;
    by reference  ``lookback_days`` (last N daily returns) or ``start``/``end`` dates: daily closes
             (timeframe '1d') of the positions' symbols read from the ``bars`` table, joined on common dates.
    """

    symbols: list[Symbol] | None = Field(default=None, min_length=1, max_length=MAX_ASSETS)
    returns: Matrix | None = None
    prices: Matrix | None = None
    dates: Annotated[list[Day], Field(max_length=MAX_HISTORY_ROWS)] | None = Field(
        default=None, description="One date per row of returns (or of prices)."
    )
    covariance: Matrix | None = None
    mean: Row | None = None
    repair_covariance: bool = Field(
        default=False,
        description="Replace a covariance that is not positive semi-definite by the nearest one (Higham 1988) "
        "instead of refusing it.",
    )
    lookback_days: int | None = Field(default=None, ge=2, le=MAX_LOOKBACK_DAYS)
    start: Day | None = None
    end: Day | None = None

    @model_validator(mode="after")
    def _one_source(self) -> MarketData:
        sources = [
            self.returns is not None, self.prices is not None, self.covariance is not None,
            self.lookback_days is not None or self.start is not None,
        ]
        if sum(sources) != 1:
            raise ValueError("give exactly one of returns, prices, covariance, or a reference (lookback_days/start)")
        if self.mean is not None and self.covariance is None:
            raise ValueError("mean is only used with covariance")
        if self.end is not None and self.lookback_days is None and self.start is None:
            raise ValueError("end needs lookback_days or start")
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError("end is before start")
        return self

    @property
    def is_reference(self) -> bool:
        return self.lookback_days is not None or self.start is not None


class RiskLevel(Model):
    confidence: float
    var: float = Field(description="Value at risk: loss not exceeded with this confidence (currency).")
    cvar: float = Field(description="Expected shortfall: mean loss beyond the VaR (currency).")


class EstimatedLevel(RiskLevel):
    var_se: float = Field(description="Standard error of the VaR estimate (currency).")
    cvar_se: float = Field(description="Standard error of the CVaR estimate (currency).")
    var_ci_low: float = Field(description="Lower end of the 95% confidence interval of the VaR.")
    var_ci_high: float = Field(description="Upper end of the 95% confidence interval of the VaR.")


HorizonMethod = Literal["sqrt_time", "paths"]
