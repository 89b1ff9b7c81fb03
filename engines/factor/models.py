"""Request and response models of the factor engine."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from backend.contract.arrays import MAX_ASSETS, FiniteFloat, Instant, Symbol
from backend.contract.operation import Model

#: symbol -> sector (at most one entry per asset)
Sectors = Annotated[dict[Symbol, Annotated[str, Field(min_length=1, max_length=64)]], Field(max_length=MAX_ASSETS)]

#: Most dates x symbols in one panel.
MAX_PANEL_VALUES = 5_000_000
MAX_OFFSET = 10_000_000
MAX_FACTORS = 32
MAX_HORIZONS = 12

FactorName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]
Timeframe = Annotated[str, Field(min_length=2, max_length=8, pattern=r"^[0-9]+(s|m|h|d|w|mo)$")]
Step = Literal["winsorize", "zscore", "rank", "neutralize"]
Matrix = Annotated[
    list[Annotated[list[FiniteFloat | None], Field(min_length=1, max_length=MAX_ASSETS)]],
    Field(min_length=2, max_length=100_000),
]


class FactorSpec(Model):
    """A library factor (``name`` + ``params``), a stored user factor (``name``) or an inline ``expression``."""

    name: FactorName | None = None
    params: dict[Annotated[str, Field(max_length=32)], FiniteFloat] = Field(default_factory=dict, max_length=8)
    expression: Annotated[str, Field(min_length=1, max_length=2_000)] | None = None
    alias: FactorName | None = None

    @model_validator(mode="after")
    def _one(self) -> FactorSpec:
        if (self.name is None) == (self.expression is None):
            raise ValueError("give exactly one of 'name' or 'expression'")
        return self


class Processing(Model):
    steps: Annotated[list[Step], Field(max_length=8)] = Field(
        default_factory=list, description="Applied in order on each date."
    )
    winsor_lower: FiniteFloat = Field(default=0.01, ge=0.0, lt=0.5)
    winsor_upper: FiniteFloat = Field(default=0.99, gt=0.5, le=1.0)


class ProcessCrossSectionRequest(Model):
    values: Matrix = Field(description="[dates][symbols], null = missing.")
    symbols: Annotated[list[Symbol], Field(min_length=1, max_length=MAX_ASSETS)]
    sectors: Sectors | None = None
    processing: Processing


class MatrixResponse(Model):
    values: list[list[float | None]]


class EvaluationOptions(Model):
    horizons: Annotated[list[Annotated[int, Field(ge=1, le=252)]], Field(min_length=1, max_length=MAX_HORIZONS)] = [1]
    quantiles: int = Field(default=5, ge=2, le=20)
    min_names: int = Field(default=5, ge=3, le=MAX_ASSETS)
    correlation: Literal["spearman", "pearson"] = "spearman"


class EvaluateFactorsRequest(Model):
    """Inline panels: one [dates][symbols] matrix per factor, and the close prices on the same grid."""

    factors: dict[FactorName, Matrix] = Field(min_length=1, max_length=MAX_FACTORS)
    close: Matrix
    options: EvaluationOptions = EvaluationOptions()


class Stats(Model):
    mean: float | None
    std: float | None
    t_stat: float | None
    ir: float | None
    positive_share: float | None
    n_dates: int


class HorizonIC(Model):
    horizon: int
    ic: Stats
    rank_ic: Stats


class FactorEvaluation(Model):
    factor: str
    decay: list[HorizonIC] = Field(description="IC and rank IC per horizon (IC decay).")
    quantile_mean_returns: list[float | None] = Field(description="Bottom to top bucket, first horizon.")
    spread: Stats = Field(description="Top minus bottom bucket forward return, first horizon.")
    factor_return: Stats = Field(description="Univariate cross-sectional regression slope, first horizon.")


class EvaluationResponse(Model):
    factors: list[FactorEvaluation]
    names: list[str]
    correlation: list[list[float | None]] = Field(description="Mean cross-sectional correlation between factors.")
    joint_factor_returns: list[Stats] = Field(description="Multivariate regression slopes, in 'names' order.")


class ComputeFactorsRequest(Model):
    """Factors over a universe of stored instruments (bars of one timeframe)."""

    symbols: Annotated[list[Symbol], Field(min_length=2, max_length=MAX_ASSETS)]
    factors: Annotated[list[FactorSpec], Field(min_length=1, max_length=MAX_FACTORS)]
    timeframe: Timeframe = "1d"
    start: Instant | None = None
    end: Instant | None = None
    benchmark_symbol: Symbol | None = Field(
        default=None, description="Market for beta/idio_vol; default: the universe's equal-weighted return."
    )
    processing: Processing = Processing()
    sectors: Sectors | None = Field(
        default=None, description="For 'neutralize'; default: the instruments table."
    )
    last_n: int | None = Field(default=None, ge=1, le=100_000, description="Return only the last N dates.")


class FactorPanel(Model):
    name: str
    values: list[list[float | None]]


class ComputeFactorsResponse(Model):
    dates: list[Instant]
    symbols: list[str]
    factors: list[FactorPanel]


class EvaluateStoredFactorsRequest(ComputeFactorsRequest):
    options: EvaluationOptions = EvaluationOptions()


class FactorDefinition(Model):
    name: FactorName
    description: str = Field(default="", max_length=1_000)
    expression: Annotated[str, Field(min_length=1, max_length=2_000)]
    higher_is: Literal["better", "worse"] = "better"


class FactorRecord(Model):
    name: str
    description: str
    expression: str
    higher_is: str
    version: int
    created_at: Instant
    updated_at: Instant


class FactorNameRequest(Model):
    name: FactorName


class ListFactorsRequest(Model):
    limit: int = Field(default=100, ge=1, le=1_000)
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)


class LibraryFactor(Model):
    name: str
    title: str
    params: dict[str, list[int]] = Field(description="name -> [default, min, max]")


class FactorList(Model):
    library: list[LibraryFactor]
    functions: list[str]
    user: list[FactorRecord]
    total_user: int


class ValidateExpressionRequest(Model):
    expression: Annotated[str, Field(min_length=1, max_length=2_000)]


class ValidateExpressionResponse(Model):
    valid: bool
    history_bars: int = Field(description="Largest window in the expression.")


class Deleted(Model):
    name: str
    deleted: bool
