"""Regime models: a Gaussian HMM (hmmlearn) or a Gaussian mixture (scikit-learn) on two causal features
of each day, the return and the log of its trailing volatility; fitted on the first part of the data and
read out-of-sample on the rest, next to a naive rule (trailing-volatility quantiles)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from backend.contract.arrays import Day, FiniteFloat
from backend.contract.operation import Model
from engines.ml.models.data import ReturnsData


class HmmSpec(Model):
    model_type: Literal["hmm"]
    n_regimes: int = Field(default=2, ge=2, le=5)
    covariance_type: Literal["full", "diag"] = "full"
    n_iter: int = Field(default=100, ge=10, le=1_000, description="EM iterations at most")
    seed: int = Field(default=0, ge=0, le=2**31 - 1)


class GmmSpec(Model):
    model_type: Literal["gmm"]
    n_regimes: int = Field(default=2, ge=2, le=5)
    covariance_type: Literal["full", "diag"] = "full"
    n_init: int = Field(default=3, ge=1, le=20)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)


RegimeSpec = Annotated[HmmSpec | GmmSpec, Field(discriminator="model_type")]


class DetectRegimesRequest(Model):
    data: ReturnsData
    model: RegimeSpec
    vol_window: int = Field(default=21, ge=5, le=66, description="trailing window of the volatility feature")
    train_fraction: float = Field(default=0.7, ge=0.3, le=0.9, description="share of the days the model is "
                                  "fitted on; the rest is read out-of-sample")
    periods_per_year: int = Field(default=252, ge=1, le=100_000)


class RegimeStats(Model):
    regime: int = Field(description="0 = the calmest (regimes are ordered by their return variance)")
    days: int
    share: FiniteFloat
    mean_return: FiniteFloat | None = Field(description="mean return on the regime's days")
    volatility_annual: FiniteFloat | None
    mean_duration_days: FiniteFloat | None = Field(description="mean length of an uninterrupted spell")
    next_day_volatility_annual: FiniteFloat | None = Field(
        description="volatility of the following day's return: what knowing the regime tells ahead")


class RegimeReading(Model):
    """One labelling of a stretch of days: per-regime statistics and persistence."""

    regimes: list[RegimeStats]
    persistence: FiniteFloat = Field(description="share of days whose regime equals the previous day's")
    spread: FiniteFloat | None = Field(description="next-day volatility of the most volatile regime / the calmest")


class DetectRegimesResponse(Model):
    model_type: str
    n_regimes: int
    features: list[str]
    n_train: int
    n_test: int
    first_test_date: Day | None
    transition_matrix: list[list[FiniteFloat]] = Field(description="HMM: fitted; GMM: counted on the training "
                                                       "path (the mixture has none)")
    log_likelihood: FiniteFloat = Field(description="of the training features")
    bic: FiniteFloat
    path_in_sample: list[int] = Field(description="training days (HMM: Viterbi, smoothed with hindsight)")
    path_out_of_sample: list[int] = Field(description="test days, causal: HMM forward filter, GMM per day")
    in_sample: RegimeReading
    out_of_sample: RegimeReading
    baseline_out_of_sample: RegimeReading = Field(description="naive rule: trailing volatility cut at its "
                                                  "training quantiles into as many regimes")
