"""Request and response models of the features engine."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from backend.contract.arrays import MAX_SERIES_LEN, FiniteFloat, FloatSeries, Instant, Symbol, float_vector
from backend.contract.operation import Model

#: Most symbols in one batch request.
MAX_SYMBOLS = 1_000
#: Most indicator instances in one request or feature set.
MAX_INDICATORS = 64
#: Most output values (columns x bars) one request may produce.
MAX_OUTPUT_VALUES = 20_000_000
#: Most live bars in one incremental update.
MAX_LIVE_BARS = 10_000
#: An output column: float64 values aligned with the bars, NaN (JSON: null) in the warm-up. In the binary
#: encoding it travels as one typed array.
OutputColumn = float_vector(min_len=0, missing=True)

IndicatorName = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_]*$")]
ParamName = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_]*$")]
Alias = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9_-]*$")]
SetName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_.-]*$")]
Timeframe = Annotated[str, Field(min_length=2, max_length=8, pattern=r"^[0-9]+(s|m|h|d|w|mo)$")]


class IndicatorSpec(Model):
    """One indicator instance: a catalog name, parameters (defaults fill the rest), an optional column alias."""

    name: IndicatorName
    params: dict[ParamName, FiniteFloat] = Field(default_factory=dict, max_length=8)
    alias: Alias | None = Field(default=None, description="Column name; default e.g. 'macd_12_26_9'.")


IndicatorList = Annotated[list[IndicatorSpec], Field(min_length=1, max_length=MAX_INDICATORS)]


class BarSeries(Model):
    """One symbol's bars as aligned arrays (oldest first). Only the inputs the indicators need are required."""

    symbol: Symbol
    open: FloatSeries | None = None
    high: FloatSeries | None = None
    low: FloatSeries | None = None
    close: FloatSeries
    volume: FloatSeries | None = None
    benchmark: FloatSeries | None = Field(default=None, description="Benchmark close, aligned (for 'beta').")


class Column(Model):
    name: str
    indicator: str
    output: str
    params: dict[str, float]
    source: str


class SymbolColumns(Model):
    symbol: str
    ts: list[Instant] | None = None
    values: dict[str, OutputColumn] = Field(description="Column -> values aligned with the bars; null = warm-up.")


class ComputeIndicatorsRequest(Model):
    series: Annotated[list[BarSeries], Field(min_length=1, max_length=MAX_SYMBOLS)]
    indicators: IndicatorList


class IndicatorsResponse(Model):
    columns: list[Column]
    results: list[SymbolColumns]
    backend: str = Field(description="'talib' (CPU batch path) or 'torch:<device>'.")


class ComputeStoredIndicatorsRequest(Model):
    """Indicators over stored bars; give exactly one of ``indicators`` or ``feature_set``."""

    symbols: Annotated[list[Symbol], Field(min_length=1, max_length=MAX_SYMBOLS)]
    timeframe: Timeframe = "1d"
    start: Instant | None = None
    end: Instant | None = None
    indicators: IndicatorList | None = None
    feature_set: SetName | None = None
    benchmark_symbol: Symbol | None = Field(default=None, description="Stored symbol whose close feeds 'beta'.")
    last_n: int | None = Field(default=None, ge=1, le=MAX_SERIES_LEN, description="Return only the last N bars.")

    @model_validator(mode="after")
    def _one_source(self) -> ComputeStoredIndicatorsRequest:
        if (self.indicators is None) == (self.feature_set is None):
            raise ValueError("give exactly one of 'indicators' or 'feature_set'")
        return self


class GpuIndicatorsRequest(Model):
    """Core indicators for many equal-length symbols at once on the engine's torch device."""

    series: Annotated[list[BarSeries], Field(min_length=1, max_length=MAX_SYMBOLS)]
    indicators: IndicatorList
    dtype: Literal["float64", "float32"] = Field(
        default="float64", description="float64: within rtol 1e-9 of TA-Lib; float32: within 1e-3 of the scale."
    )


class ListIndicatorsRequest(Model):
    source: Literal["talib", "ours"] | None = None


class ParamInfo(Model):
    name: str
    default: float
    min: float
    max: float
    integer: bool


class IndicatorInfo(Model):
    name: str
    title: str
    source: str
    inputs: list[str]
    outputs: list[str]
    params: list[ParamInfo]
    memory: str = Field(description="'window' (finite lookback) or 'recursive' (depends on all history).")
    gpu: bool


class ListIndicatorsResponse(Model):
    indicators: list[IndicatorInfo]


class LiveBar(Model):
    ts: Instant
    open: FiniteFloat = Field(gt=0)
    high: FiniteFloat = Field(gt=0)
    low: FiniteFloat = Field(gt=0)
    close: FiniteFloat = Field(gt=0)
    volume: FiniteFloat = Field(default=0.0, ge=0)
    benchmark: FiniteFloat | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _consistent(self) -> LiveBar:
        if self.low > min(self.open, self.close) or self.high < max(self.open, self.close):
            raise ValueError("needs low <= open, close <= high")
        return self


class UpdateIndicatorsRequest(Model):
    """Append live bars to a symbol's incremental state (created on first use); exactly one indicator source."""

    symbol: Symbol
    indicators: IndicatorList | None = None
    feature_set: SetName | None = None
    bars: Annotated[list[LiveBar], Field(min_length=1, max_length=MAX_LIVE_BARS)]

    @model_validator(mode="after")
    def _one_source(self) -> UpdateIndicatorsRequest:
        if (self.indicators is None) == (self.feature_set is None):
            raise ValueError("give exactly one of 'indicators' or 'feature_set'")
        return self


class UpdateIndicatorsResponse(Model):
    symbol: str
    stream_key: str
    bars_seen: int
    last_ts: Instant
    columns: list[Column]
    ts: list[Instant]
    values: dict[str, OutputColumn]


class ResetStreamRequest(Model):
    symbol: Symbol
    indicators: IndicatorList | None = None
    feature_set: SetName | None = None

    @model_validator(mode="after")
    def _one_source(self) -> ResetStreamRequest:
        if (self.indicators is None) == (self.feature_set is None):
            raise ValueError("give exactly one of 'indicators' or 'feature_set'")
        return self


class ResetStreamResponse(Model):
    symbol: str
    stream_key: str
    removed: bool


class FeatureSet(Model):
    name: SetName
    description: str = Field(default="", max_length=1_000)
    indicators: IndicatorList


class FeatureSetRecord(Model):
    name: str
    description: str
    indicators: list[IndicatorSpec]
    version: int
    created_at: Instant
    updated_at: Instant


class FeatureSetName(Model):
    name: SetName


class ListFeatureSetsRequest(Model):
    limit: int = Field(default=100, ge=1, le=1_000)
    offset: int = Field(default=0, ge=0, le=10_000_000)


class FeatureSetList(Model):
    feature_sets: list[FeatureSetRecord]
    total: int


class Deleted(Model):
    name: str
    deleted: bool
