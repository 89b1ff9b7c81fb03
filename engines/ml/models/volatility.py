"""Volatility models, their forecasts and their walk-forward evaluation against the EWMA baseline.

Model types (``model_type``), each with typed hyper-parameters:

  garch       GARCH(p, q) (arch: ``vol="GARCH"``)
  gjr_garch   GJR-GARCH(p, o=1, q): asymmetric response to negative returns (arch: ``o=1``)
  egarch      EGARCH(p, o=1, q) on log variance (arch: ``vol="EGARCH"``)
  har_rv      HAR-RV (Corsi 2009): OLS of next-day realised variance on its daily, weekly and monthly means
  ewma        RiskMetrics EWMA, sigma2[t+1] = lam * sigma2[t] + (1 - lam) * r[t]^2: the baseline

Returns are decimal log returns; the arch models are fitted on percent returns (x100, arch's advice for
its optimiser), so their ``params`` are in percent units; every variance reported is decimal^2 per period.
Realised variance, for HAR-RV and as the evaluation target, is the squared daily return (the only proxy
close-only daily bars give).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from backend.contract.arrays import Day, FiniteFloat
from backend.contract.operation import Model
from engines.ml.models.data import ReturnsData

#: Longest forecast horizon (periods).
MAX_HORIZON = 66


class GarchSpec(Model):
    model_type: Literal["garch", "gjr_garch", "egarch"]
    p: int = Field(default=1, ge=1, le=3, description="lags of the squared (or absolute) shock")
    q: int = Field(default=1, ge=1, le=3, description="lags of the conditional variance")
    dist: Literal["normal", "t", "skewt"] = Field(default="t", description="error distribution (t = Student-t)")
    mean: Literal["zero", "constant"] = "constant"


class HarSpec(Model):
    model_type: Literal["har_rv"]
    weekly_days: int = Field(default=5, ge=2, le=10)
    monthly_days: int = Field(default=22, ge=11, le=66)


class EwmaSpec(Model):
    model_type: Literal["ewma"]
    lam: float = Field(default=0.94, ge=0.5, lt=1.0, description="decay (RiskMetrics daily: 0.94)")


VolatilitySpec = Annotated[GarchSpec | HarSpec | EwmaSpec, Field(discriminator="model_type")]


class ForecastVolatilityRequest(Model):
    data: ReturnsData
    model: VolatilitySpec
    horizon_days: int = Field(default=10, ge=1, le=MAX_HORIZON)
    periods_per_year: int = Field(default=252, ge=1, le=100_000, description="to annualise volatility")
    seed: int = Field(default=0, ge=0, le=2**31 - 1, description="EGARCH beyond 1 step is simulated: its seed")


class ForecastVolatilityResponse(Model):
    model_type: str
    n_observations: int
    last_date: Day | None
    params: dict[str, FiniteFloat] = Field(description="fitted parameters (arch's names; percent units for arch)")
    log_likelihood: FiniteFloat | None
    variance: list[FiniteFloat] = Field(description="forecast variance of the return 1..h periods ahead (decimal^2)")
    volatility_annual: list[FiniteFloat] = Field(description="sqrt(variance * periods_per_year), per step")
    cumulative_volatility: FiniteFloat = Field(description="sqrt of the summed variance over the h periods")
    in_sample: bool = Field(default=True, description="parameters fitted on all the data given: not an evaluation")


class EvaluateVolatilityRequest(Model):
    data: ReturnsData
    model: VolatilitySpec
    baseline_lam: float = Field(default=0.94, ge=0.5, lt=1.0, description="the EWMA baseline's decay")
    min_train: int = Field(default=500, ge=100, le=10_000, description="returns before the first forecast origin")
    window: Literal["expanding", "rolling"] = "expanding"
    rolling_size: int | None = Field(default=None, ge=100, le=10_000, description="rolling window length "
                                     "(default min_train)")
    refit_every: int = Field(default=20, ge=1, le=1_000, description="periods between re-estimations")
    horizon_days: int = Field(default=1, ge=1, le=22, description="target: the variance summed over h periods")
    include_series: bool = Field(default=False, description="return the forecasts and the realised target")


class LossPair(Model):
    qlike: FiniteFloat = Field(description="mean of log(f) + y/f (lower is better)")
    mse: FiniteFloat = Field(description="mean of (f - y)^2, decimal^2 squared")


class DieboldMariano(Model):
    loss: Literal["qlike", "mse"]
    statistic: FiniteFloat = Field(description="mean loss difference (model - baseline) / HAC std. error, "
                                   "Harvey-Leybourne-Newbold corrected; negative: the model is better")
    p_value: FiniteFloat = Field(description="two-sided, Student-t with n-1 degrees of freedom")


class EvaluationWindow(Model):
    n_forecasts: int
    first_origin: int = Field(description="index (in the returns) of the first forecast origin")
    first_date: Day | None
    last_date: Day | None
    refits: int


class EvaluateVolatilityResponse(Model):
    model_type: str
    horizon_days: int
    window: EvaluationWindow
    model: LossPair
    baseline: LossPair = Field(description="EWMA (RiskMetrics) on exactly the same forecast origins")
    diebold_mariano: list[DieboldMariano]
    beats_baseline: bool = Field(description="lower QLIKE than the baseline with DM p < 0.05")
    verdict: str
    forecasts: list[FiniteFloat] | None = None
    baseline_forecasts: list[FiniteFloat] | None = None
    realised: list[FiniteFloat] | None = None
