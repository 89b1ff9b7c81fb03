"""Models of the registry operations: train (a job), list, get, promote, delete, compare, predict.

A model is a name and a task; its versions are numbered from 1 in the order their training jobs finish.
Stages: ``staging`` (new), ``production`` (the champion: at most one per model), ``archived``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from backend.contract.arrays import Day, FiniteFloat
from backend.contract.operation import Model
from engines.ml.models.data import ReturnsData
from engines.ml.models.volatility import MAX_HORIZON, DieboldMariano, LossPair, VolatilitySpec

ModelName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$", description="lower-case, 1..64 chars")]
Version = Annotated[int, Field(ge=1, le=1_000_000)]
Stage = Literal["staging", "production", "archived"]


class Evaluation(Model):
    """How a training job evaluates the model before it is registered (walk-forward, out-of-sample)."""

    min_train: int = Field(default=500, ge=100, le=10_000)
    window: Literal["expanding", "rolling"] = "expanding"
    rolling_size: int | None = Field(default=None, ge=100, le=10_000)
    refit_every: int = Field(default=20, ge=1, le=1_000)
    horizon_days: int = Field(default=1, ge=1, le=22)
    baseline_lam: float = Field(default=0.94, ge=0.5, lt=1.0)


class TrainVolatilityRequest(Model):
    name: ModelName
    description: str = Field(default="", max_length=500)
    data: ReturnsData
    model: VolatilitySpec
    evaluation: Evaluation = Evaluation()
    forecast_horizon_days: int = Field(default=10, ge=1, le=MAX_HORIZON, description="steps the stored model "
                                       "serves (HAR-RV fits one regression per step)")


class VersionView(Model):
    name: str
    version: int
    model_type: str
    hyperparams: dict[str, Any]
    dataset: dict[str, Any] = Field(description="the dataset definition as requested (inline data: its size)")
    data_hash: str = Field(description="sha256 of the training returns (float64, little-endian)")
    n_train: int
    train_start: Day | None
    train_end: Day | None
    metrics: dict[str, Any] = Field(description="walk-forward out-of-sample losses of the model and its baseline")
    artifact_hash: str
    stage: Stage
    job_id: str | None
    created_at: str
    stage_changed_at: str


class ModelView(Model):
    name: str
    task: str
    description: str
    created_at: str
    production_version: int | None
    versions: list[VersionView]


class ModelRef(Model):
    name: ModelName


class ListModelsRequest(Model):
    task: Literal["volatility", "regime", "direction"] | None = None
    limit: int = Field(default=100, ge=1, le=500)


class ModelList(Model):
    items: list[ModelView]
    count: int


class VersionRef(Model):
    name: ModelName
    version: Version


class PromoteRequest(Model):
    name: ModelName
    version: Version
    stage: Stage = Field(default="production", description="production archives the current champion")
    reason: str = Field(default="", max_length=500)
    require_better_on: ReturnsData | None = Field(
        default=None, description="volatility models: promote to production only if the version beats the "
        "current champion on this out-of-sample window (compare_model_versions: lower QLIKE, DM p < 0.05)")


class Deleted(Model):
    name: str
    version: int
    artifact_removed: bool


class PredictVolatilityRequest(Model):
    name: ModelName
    version: Version | None = Field(default=None, description="default: the production version")
    data: ReturnsData = Field(description="returns up to the forecast origin (the model's parameters stay fixed)")
    horizon_days: int = Field(default=1, ge=1, le=MAX_HORIZON)
    periods_per_year: int = Field(default=252, ge=1, le=100_000)


class PredictVolatilityResponse(Model):
    name: str
    version: int
    stage: Stage
    model_type: str
    last_date: Day | None
    variance: list[FiniteFloat]
    volatility_annual: list[FiniteFloat]


class CompareRequest(Model):
    name: ModelName
    challenger: Version
    champion: Version | None = Field(default=None, description="default: the production version")
    data: ReturnsData = Field(description="the comparison window; it must start after both versions' training")
    warmup: int = Field(default=100, ge=100, le=5_000, description="first returns used only to start the filters "
                        "(arch's backcast reads the first 75)")
    baseline_lam: float = Field(default=0.94, ge=0.5, lt=1.0)


class VersionLosses(Model):
    version: int
    model_type: str
    losses: LossPair


class CompareResponse(Model):
    name: str
    n_forecasts: int
    first_date: Day | None
    last_date: Day | None
    champion: VersionLosses
    challenger: VersionLosses
    baseline: LossPair = Field(description="EWMA on the same window")
    diebold_mariano: list[DieboldMariano] = Field(description="challenger minus champion")
    challenger_better: bool = Field(description="lower QLIKE with DM p < 0.05")
    verdict: str


class StageChange(Model):
    name: str
    version: int
    stage: Stage
    previous_stage: Stage
    archived_version: int | None = Field(description="the champion this promotion replaced, now archived")
    comparison: CompareResponse | None = Field(default=None, description="the comparison promotion required")
