"""Margin: Reg-T style strategy-free requirements, a portfolio-margin grid estimate, collateral, calls."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from backend.contract.arrays import FiniteFloat, Symbol
from backend.contract.operation import Model
from engines.risk.models.options import OptionPosition, Positive, Rate

CollateralKind = Literal["cash", "government_bond", "corporate_bond", "equity", "etf", "gold", "other"]


class MarginStock(Model):
    symbol: Symbol
    quantity: FiniteFloat = Field(ge=-1e12, le=1e12, description="Shares; negative = short.")
    price: Positive


class MarginOption(OptionPosition):
    underlying_price: Positive


class Collateral(Model):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    kind: CollateralKind
    value: Annotated[float, Field(ge=0.0, le=1e15, allow_inf_nan=False)]
    haircut: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)] | None = Field(
        default=None, description="Null = the default haircut of its kind.")


class MarginRequest(Model):
    cash: FiniteFloat = Field(ge=-1e15, le=1e15, description="Cash balance (negative = debit/loan).")
    stocks: Annotated[list[MarginStock], Field(max_length=10_000)] = Field(default_factory=list)
    options: Annotated[list[MarginOption], Field(max_length=10_000)] = Field(default_factory=list)
    collateral: Annotated[list[Collateral], Field(max_length=1_000)] = Field(default_factory=list)
    rate: Rate = 0.0
    method: Literal["reg_t", "portfolio"] = Field(default="reg_t", description="Which requirement the call uses.")
    grid_move: Annotated[float, Field(gt=0.0, le=0.5, allow_inf_nan=False)] = 0.15
    grid_points: int = Field(default=11, ge=3, le=101, description="Equally spaced moves in [-move, +move].")


class PositionMargin(Model):
    instrument: str
    market_value: float
    initial: float
    maintenance: float
    rule: str


class UnderlyingRisk(Model):
    underlying: str
    requirement: float = Field(description="Largest loss over the price grid (>= 0).")
    worst_move: float


class CollateralValue(Model):
    name: str
    value: float
    haircut: float
    lendable_value: float


class MarginResponse(Model):
    market_value: float = Field(description="Net market value of stocks and options.")
    equity: float = Field(description="cash + market value + collateral after haircuts.")
    collateral_value: float
    reg_t_initial: float
    reg_t_maintenance: float
    portfolio_margin: float
    requirement: float = Field(description="The maintenance requirement of the chosen method.")
    excess: float = Field(description="equity - requirement.")
    margin_call: bool
    call_amount: float
    positions: list[PositionMargin]
    portfolio_by_underlying: list[UnderlyingRisk]
    collateral: list[CollateralValue]
