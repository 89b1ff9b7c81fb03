"""VaR backtest: Kupiec proportion of failures and Christoffersen independence."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from backend.contract.arrays import MAX_SERIES_LEN, Day, FloatSeries, Probability
from backend.contract.operation import Model


class BacktestVarRequest(Model):
    var: FloatSeries = Field(description="VaR forecast per period as a positive loss (currency or return units).")
    pnl: FloatSeries = Field(description="Realised P&L (or return) per period, same units and length as var.")
    confidence: Probability = 0.99
    dates: Annotated[list[Day], Field(max_length=MAX_SERIES_LEN)] | None = None
    significance: Probability = Field(default=0.05, description="Test size for the reject flags.")


class VarException(Model):
    index: int
    date: Day | None
    loss: float
    var: float
    excess: float = Field(description="loss - var (> 0).")


class TestResult(Model):
    statistic: float
    p_value: float
    df: int
    reject: bool


class BacktestVarResponse(Model):
    n_observations: int
    n_exceptions: int
    expected_exceptions: float
    exception_rate: float
    kupiec_pof: TestResult
    christoffersen_independence: TestResult
    conditional_coverage: TestResult
    transitions: dict[str, int] = Field(description="n00, n01, n10, n11 of the exception indicator.")
    traffic_light: Literal["green", "yellow", "red"] = Field(
        description="Basel zones by binomial probability of at most this many exceptions: < 95% green, "
        "< 99.99% yellow, else red.")
    exceptions: list[VarException]



