"""Direction models: will the close be higher h bars ahead? Gradient-boosted trees (scikit-learn's
histogram GBM) and a torch MLP on the features engine's indicators, a torch LSTM on windows of past returns;
evaluated walk-forward with purging and an embargo, next to naive baselines on the same rows."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from backend.contract.arrays import Day, FiniteFloat, Symbol, float_matrix, float_vector
from backend.contract.operation import Model
from engines.features.models import IndicatorList, SetName
from engines.ml.models.data import MAX_RETURNS, Timeframe

Prices = float_vector(min_len=2, max_len=MAX_RETURNS + 1)


class BarsData(Model):
    """Exactly one of inline bars (``close``, and whatever else the indicators read) or a stored ``symbol``."""

    close: Prices | None = None
    open: Prices | None = None
    high: Prices | None = None
    low: Prices | None = None
    volume: Prices | None = None
    dates: list[Day] | None = Field(default=None, max_length=MAX_RETURNS + 1)
    symbol: Symbol | None = None
    start: Day | None = None
    end: Day | None = None
    timeframe: Timeframe = "1d"

    @model_validator(mode="after")
    def _one_source(self) -> BarsData:
        if (self.close is None) == (self.symbol is None):
            raise ValueError("give exactly one of close (inline bars) or symbol (stored bars)")
        return self

    @property
    def is_reference(self) -> bool:
        return self.close is None


class HgbSpec(Model):
    model_type: Literal["hgb"]
    max_iter: int = Field(default=100, ge=5, le=1_000)
    learning_rate: float = Field(default=0.05, gt=0.0, le=1.0)
    max_depth: int | None = Field(default=3, ge=1, le=16)
    l2_regularization: float = Field(default=1.0, ge=0.0, le=1e3)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)


class MlpSpec(Model):
    model_type: Literal["mlp"]
    hidden: list[Annotated[int, Field(ge=2, le=512)]] = Field(default=[32, 16], min_length=1, max_length=4)
    epochs: int = Field(default=30, ge=1, le=500)
    learning_rate: float = Field(default=1e-3, gt=0.0, le=1.0)
    weight_decay: float = Field(default=1e-4, ge=0.0, le=1.0)
    batch_size: int = Field(default=256, ge=8, le=8192)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)


class LstmSpec(Model):
    model_type: Literal["lstm"]
    window: int = Field(default=20, ge=5, le=120, description="past returns in each input sequence")
    hidden: int = Field(default=16, ge=2, le=256)
    epochs: int = Field(default=20, ge=1, le=500)
    learning_rate: float = Field(default=1e-3, gt=0.0, le=1.0)
    batch_size: int = Field(default=256, ge=8, le=8192)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)


DirectionSpec = Annotated[HgbSpec | MlpSpec | LstmSpec, Field(discriminator="model_type")]


class EvaluateDirectionRequest(Model):
    data: BarsData
    model: DirectionSpec
    indicators: IndicatorList | None = Field(default=None, description="features of hgb and mlp")
    feature_set: SetName | None = Field(default=None, description="a stored feature set instead of indicators")
    horizon_bars: int = Field(default=1, ge=1, le=20, description="label: sign of the log return over h bars")
    min_train: int = Field(default=500, ge=200, le=10_000)
    refit_every: int = Field(default=250, ge=20, le=5_000)
    embargo_bars: int = Field(default=5, ge=0, le=100, description="bars dropped after each training window")
    placebo: bool = Field(default=False, description="train on labels shuffled within each training window "
                          "(seeded): a model that still 'wins' is finding noise")

    @model_validator(mode="after")
    def _features(self) -> EvaluateDirectionRequest:
        tabular = self.model.model_type != "lstm"
        if tabular and (self.indicators is None) == (self.feature_set is None):
            raise ValueError(f"{self.model.model_type} needs exactly one of indicators or feature_set")
        if not tabular and (self.indicators is not None or self.feature_set is not None):
            raise ValueError("lstm reads windows of past returns: give no indicators or feature_set")
        return self


class Scores(Model):
    auc: FiniteFloat | None = Field(description="ROC AUC (null when every label is the same)")
    log_loss: FiniteFloat
    brier: FiniteFloat
    hit_rate: FiniteFloat = Field(description="share of rows whose predicted side (p > 0.5) was right")


class DirectionDM(Model):
    baseline: str
    statistic: FiniteFloat = Field(description="negative: the model's log-loss is lower")
    p_value: FiniteFloat


class DirectionWindow(Model):
    n_forecasts: int
    first_row: int = Field(description="bar index of the first out-of-sample forecast")
    first_date: Day | None
    last_date: Day | None
    refits: int
    up_share: FiniteFloat = Field(description="share of up labels out-of-sample")


class EvaluateDirectionResponse(Model):
    model_type: str
    features: list[str]
    horizon_bars: int
    placebo: bool
    window: DirectionWindow
    model: Scores
    baselines: dict[str, Scores] = Field(description="historical_frequency (training share of ups), persistence "
                                         "(training P(up | last h-bar return up / down)), on the same rows")
    diebold_mariano: list[DirectionDM] = Field(description="log-loss, model minus each baseline")
    beats_baseline: bool = Field(description="lower log-loss than every baseline with DM p < 0.05")
    verdict: str


class TrainDirectionRequest(EvaluateDirectionRequest):
    """Evaluate walk-forward (as ``evaluate_direction``), then fit on every usable row and register."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
    description: str = Field(default="", max_length=500)


#: Most rows in one prediction request.
MAX_PREDICT_ROWS = 100_000


class InlineNet(Model):
    """A torch network by value: its spec, input width and flattened tensors (``state_dict`` names)."""

    spec: Annotated[MlpSpec | LstmSpec, Field(discriminator="model_type")]
    n_features: int = Field(ge=1, le=512, description="mlp: features per row; lstm: the window")
    state: dict[Annotated[str, Field(max_length=64, pattern=r"^[A-Za-z0-9_.]+$")],
                float_vector(min_len=1, max_len=1_000_000)] = Field(max_length=64)


class AsOf(Model):
    symbol: Symbol
    as_of: Day = Field(description="the prediction is made with the bars up to and including this date")
    timeframe: Timeframe = "1d"
    history_bars: int = Field(default=500, ge=30, le=10_000, description="bars read before as_of for the "
                              "features' warm-up")


class ResolvedArtifact(Model):
    """Filled by the platform's prepare step from the registry; whatever a client sends here is replaced."""

    name: Annotated[str, Field(max_length=64)]
    version: Annotated[int, Field(ge=1, le=1_000_000)]
    stage: Annotated[str, Field(max_length=32)]
    model_type: Annotated[str, Field(max_length=32)]
    path: Annotated[str, Field(max_length=4096)]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class PredictDirectionRequest(Model):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")] | None = Field(
        default=None, description="a registered direction model (default version: production)")
    version: int | None = Field(default=None, ge=1, le=1_000_000)
    inline: InlineNet | None = Field(default=None, description="or a torch network by value")
    rows: float_matrix(max_rows=MAX_PREDICT_ROWS, max_cols=512) | None = Field(
        default=None, description="mlp and hgb: one row of feature values per prediction (the model's features, "
        "in order); lstm: one row of the last `window` log returns")
    at: AsOf | None = Field(default=None, description="or by reference: the engine builds the registered "
                            "version's features from stored bars up to this date")
    artifact: ResolvedArtifact | None = None

    @model_validator(mode="after")
    def _one_model(self) -> PredictDirectionRequest:
        if (self.name is None) == (self.inline is None):
            raise ValueError("give exactly one of name (registry) or inline (a network by value)")
        if (self.rows is None) == (self.at is None):
            raise ValueError("give exactly one of rows (features by value) or at (symbol and date)")
        if self.at is not None and self.name is None:
            raise ValueError("features by reference need a registered model (name)")
        return self


class PredictDirectionResponse(Model):
    model_type: str
    name: str | None
    version: int | None
    bar_date: Day | None = Field(default=None, description="by reference: the date of the bar predicted from")
    probability_up: float_vector(min_len=0, max_len=MAX_PREDICT_ROWS)
    device: str = Field(description="where the model is resident")


class CompareDirectionRequest(Model):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
    challenger: int = Field(ge=1, le=1_000_000)
    champion: int | None = Field(default=None, ge=1, le=1_000_000, description="default: the production version")
    data: BarsData = Field(description="the comparison window; its labelled rows must come after both versions' "
                           "training data")


class DirectionVersionScores(Model):
    version: int
    model_type: str
    scores: Scores


class CompareDirectionResponse(Model):
    name: str
    n_forecasts: int
    first_date: Day | None
    last_date: Day | None
    champion: DirectionVersionScores
    challenger: DirectionVersionScores
    diebold_mariano: DirectionDM = Field(description="log-loss, challenger minus champion")
    challenger_better: bool = Field(description="lower log-loss with DM p < 0.05")
    verdict: str


class TuneDirectionRequest(Model):
    """Choose among candidate models by purged k-fold cross-validation on the first part of the rows, then
    evaluate the chosen one walk-forward on the rest (which the choice never saw)."""

    data: BarsData
    candidates: list[DirectionSpec] = Field(min_length=2, max_length=8)
    indicators: IndicatorList | None = None
    feature_set: SetName | None = None
    horizon_bars: int = Field(default=1, ge=1, le=20)
    folds: int = Field(default=5, ge=3, le=10)
    tuning_fraction: float = Field(default=0.5, ge=0.2, le=0.8, description="share of the usable rows the "
                                   "cross-validation sees; the walk-forward evaluation starts after them")
    refit_every: int = Field(default=250, ge=20, le=5_000)
    embargo_bars: int = Field(default=5, ge=0, le=100)

    @model_validator(mode="after")
    def _features(self) -> TuneDirectionRequest:
        kinds = {c.model_type == "lstm" for c in self.candidates}
        if len(kinds) > 1:
            raise ValueError("candidates must all be lstm or all be tabular (hgb, mlp): they share the features")
        tabular = kinds == {False}
        if tabular and (self.indicators is None) == (self.feature_set is None):
            raise ValueError("tabular candidates need exactly one of indicators or feature_set")
        if not tabular and (self.indicators is not None or self.feature_set is not None):
            raise ValueError("lstm candidates read return windows: give no indicators or feature_set")
        if not tabular and len({c.window for c in self.candidates}) > 1:  # type: ignore[union-attr]
            raise ValueError("lstm candidates must share one window (the rows compared must be the same)")
        return self


class CandidateScore(Model):
    index: int
    model: dict
    cv_log_loss: FiniteFloat = Field(description="mean over the purged folds")
    cv_log_loss_std: FiniteFloat


class TuneDirectionResponse(Model):
    folds: int
    tuning_rows: int
    candidates: list[CandidateScore]
    chosen: int = Field(description="index of the candidate with the lowest cross-validated log-loss")
    evaluation: EvaluateDirectionResponse = Field(description="the chosen candidate, walk-forward on the rows "
                                                  "after the tuning part, next to the baselines")
