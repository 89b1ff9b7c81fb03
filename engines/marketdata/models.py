"""Request and response models of the market data engine."""

from __future__ import annotations

import zoneinfo
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from backend.contract.arrays import FiniteFloat, Instant, Symbol
from backend.contract.operation import Model
from engines.marketdata.timeframes import TIMEFRAME_PATTERN

#: Largest inline file content accepted (bytes after base64 decoding).
MAX_INLINE_BYTES = 32 * 1024 * 1024
#: Largest server-side file accepted (bytes, compressed or not; decompressed gzip too).
MAX_FILE_BYTES = 512 * 1024 * 1024
#: Most rows accepted in one load.
MAX_ROWS_PER_LOAD = 5_000_000
#: Most rows returned by one query.
MAX_QUERY_ROWS = 200_000
MAX_SYMBOLS = 500

Timeframe = Annotated[str, Field(pattern=TIMEFRAME_PATTERN, examples=["1m", "5m", "1h", "1d"])]
Venue = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._-]+$")]
ColumnName = Annotated[str, Field(min_length=1, max_length=128)]
Kind = Literal["bars", "trades", "quotes"]


def _zone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as e:
        raise ValueError(f"unknown time zone {name!r}") from e
    return name


TimeZone = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_zone)]
HHMM = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-4]):[0-5][0-9]$")]


# ---- instruments -----------------------------------------------------------
class Instrument(Model):
    symbol: Symbol
    asset_class: Literal["equity", "index", "etf", "future", "option", "fx", "crypto", "bond", "commodity"] = "equity"
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3,5}$")
    tick_size: FiniteFloat = Field(default=0.01, gt=0, le=1e6)
    lot_size: FiniteFloat = Field(default=1.0, gt=0, le=1e9)
    sector: str | None = Field(default=None, max_length=64)
    venues: list[Venue] = Field(default_factory=list, max_length=32)
    tradable: bool = True


#: A symbol as stored: rows written before today's symbol rule may not follow it; they must still
#: be listed and deletable.
StoredSymbol = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f]+$")]


class InstrumentOut(Instrument):
    symbol: StoredSymbol  # type: ignore[assignment]
    created_at: Instant
    updated_at: Instant


class SymbolRequest(Model):
    symbol: Symbol


class DeleteInstrumentRequest(Model):
    symbol: StoredSymbol
    purge_data: bool = Field(default=False, description="Also delete the symbol's bars, trades and quotes.")


class DeleteInstrumentResponse(Model):
    symbol: str
    deleted: bool
    bars_deleted: int = 0
    trades_deleted: int = 0
    quotes_deleted: int = 0


class ListInstrumentsRequest(Model):
    asset_class: str | None = Field(default=None, max_length=32)
    sector: str | None = Field(default=None, max_length=64)
    venue: Venue | None = None
    limit: int = Field(default=1000, ge=1, le=10_000)
    offset: int = Field(default=0, ge=0, le=10_000_000)


class InstrumentList(Model):
    instruments: list[InstrumentOut]
    total: int


# ---- ingestion ---------------------------------------------------------------
class Session(Model):
    """Trading hours in a local time zone; rows outside are rejected as out_of_session."""

    tz: TimeZone = "America/New_York"
    start: HHMM | None = Field(default=None, description="Local session open, e.g. 09:30; none = no hours check.")
    end: HHMM | None = Field(default=None, description="Local session close, e.g. 16:00.")
    weekdays_only: bool = True

    @model_validator(mode="after")
    def _both_or_neither(self) -> Session:
        if (self.start is None) != (self.end is None):
            raise ValueError("give both 'start' and 'end' or neither")
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise ValueError("'start' must be before 'end'")
        return self


class IngestRequest(Model):
    """One file: a server-side ``path`` under the import directory, inline CSV ``content`` or
    ``content_base64`` (Parquet, or CSV possibly gzipped). Exactly one source."""

    kind: Kind = "bars"
    path: str | None = Field(default=None, max_length=1024, description="Relative to the import directory.")
    content: str | None = Field(default=None, max_length=MAX_INLINE_BYTES, description="CSV text.")
    content_base64: str | None = Field(default=None, max_length=MAX_INLINE_BYTES * 4 // 3 + 4)
    format: Literal["csv", "parquet"] | None = Field(default=None, description="Inferred when omitted.")
    symbol: Symbol | None = Field(default=None, description="All rows' symbol; else the file's symbol column.")
    venue: Venue | None = Field(default=None, description="Ticks: all rows' venue; else the venue column or ''.")
    timeframe: Timeframe | None = Field(default=None, description="Required for bars.")
    columns: dict[Annotated[str, Field(max_length=32)], ColumnName] = Field(
        default_factory=dict, max_length=16,
        description="Canonical field -> file column, e.g. {'ts': 'Date', 'close': 'Adj Close'}."
    )
    tz: TimeZone = Field(default="UTC", description="Time zone of naive timestamps.")
    ts_format: str | None = Field(default=None, max_length=64, description="strftime format; ISO 8601 if omitted.")
    ts_unit: Literal["auto", "s", "ms", "us", "ns"] = Field(default="auto", description="Unit of numeric timestamps.")
    session: Session | None = None
    spike_threshold: FiniteFloat | None = Field(
        default=10.0, ge=3.0, le=1000.0, description="Robust z-score of a jump-and-revert; null disables."
    )
    max_reject_fraction: FiniteFloat = Field(
        default=0.25, ge=0.0, le=1.0, description="Above this share of rejected rows nothing is written."
    )
    create_instruments: bool = Field(default=False, description="Create unknown symbols instead of rejecting rows.")
    dry_run: bool = Field(default=False, description="Validate and report; write nothing.")

    @model_validator(mode="after")
    def _one_source(self) -> IngestRequest:
        given = [n for n in ("path", "content", "content_base64") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'path', 'content', 'content_base64'")
        if self.kind == "bars" and self.timeframe is None:
            raise ValueError("'timeframe' is required for bars")
        return self


class RejectExample(Model):
    row: int = Field(description="0-based data row in the file (header excluded).")
    reason: str
    symbol: str | None = None
    ts: str | None = None
    values: dict[str, float | str | None] = Field(default_factory=dict)


class GapExample(Model):
    symbol: str
    after: Instant
    before: Instant
    missing_bars: int


class QualityReport(Model):
    rows_in: int
    rows_accepted: int
    rows_rejected: int
    rejected_by_reason: dict[str, int] = Field(description="Reason -> count; sums to rows_rejected.")
    examples: list[RejectExample] = Field(description="The first few rejected rows of each reason.")
    gaps: int = Field(default=0, description="Gaps against the expected calendar (reported, not rejected).")
    missing_bars: int = 0
    gap_examples: list[GapExample] = Field(default_factory=list)
    rows_by_symbol: dict[str, int] = Field(default_factory=dict, description="Accepted rows per symbol.")
    first_ts: Instant | None = None
    last_ts: Instant | None = None
    warnings: list[str] = Field(default_factory=list)


class LoadReport(Model):
    load_id: int | None = Field(description="Null for a dry run.")
    kind: Kind
    source: str
    timeframe: str | None = None
    status: Literal["committed", "rejected", "dry_run"]
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_unchanged: int = 0
    instruments_created: list[str] = Field(default_factory=list)
    quality: QualityReport
    seconds: float


class LoadReportRequest(Model):
    load_id: int = Field(ge=1, le=2**63 - 1)


class ListLoadsRequest(Model):
    limit: int = Field(default=50, ge=1, le=1000)


class LoadList(Model):
    loads: list[LoadReport]


SampleName = Literal["skfolio_sp500", "skfolio_sp500_index", "arch_sp500", "arch_nasdaq"]


class LoadSamplesRequest(Model):
    datasets: list[SampleName] = Field(
        default=["skfolio_sp500", "skfolio_sp500_index", "arch_sp500", "arch_nasdaq"], min_length=1, max_length=4
    )


class LoadSamplesResponse(Model):
    loads: list[LoadReport]


# ---- queries -----------------------------------------------------------------
class QueryBarsRequest(Model):
    symbol: Symbol
    timeframe: Timeframe = "1d"
    start: Instant | None = Field(default=None, description="Inclusive; naive = UTC.")
    end: Instant | None = Field(default=None, description="Exclusive; naive = UTC.")
    resample_to: Timeframe | None = Field(default=None, description="A larger multiple: 1m -> 5m -> 1h -> 1d.")
    tz: TimeZone = Field(default="UTC", description="Day boundaries when resampling to 1d.")
    limit: int = Field(default=10_000, ge=1, le=MAX_QUERY_ROWS, description="Most bars returned (the latest).")


class Bars(Model):
    symbol: str
    timeframe: str
    ts: list[Instant]
    open: list[float]
    high: list[float]
    low: list[float]
    close: list[float]
    volume: list[float]
    source_timeframe: str
    truncated: bool = Field(description="True when more bars matched than 'limit'.")


class QueryTicksRequest(Model):
    symbol: Symbol
    kind: Literal["trades", "quotes"] = "trades"
    venue: Venue | None = None
    start: Instant | None = None
    end: Instant | None = None
    limit: int = Field(default=10_000, ge=1, le=MAX_QUERY_ROWS)


class Ticks(Model):
    symbol: str
    kind: str
    ts: list[Instant]
    venue: list[str]
    seq: list[int]
    columns: dict[str, list[float | str | None]]
    truncated: bool


class ResampleRequest(Model):
    """Resample inline bars (no storage)."""

    timeframe: Timeframe
    resample_to: Timeframe
    tz: TimeZone = "UTC"
    ts: Annotated[list[Instant], Field(min_length=1, max_length=1_000_000)]
    open: Annotated[list[FiniteFloat], Field(max_length=1_000_000)]
    high: Annotated[list[FiniteFloat], Field(max_length=1_000_000)]
    low: Annotated[list[FiniteFloat], Field(max_length=1_000_000)]
    close: Annotated[list[FiniteFloat], Field(max_length=1_000_000)]
    volume: Annotated[list[FiniteFloat], Field(max_length=1_000_000)]

    @model_validator(mode="after")
    def _aligned(self) -> ResampleRequest:
        n = len(self.ts)
        for name in ("open", "high", "low", "close", "volume"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"'{name}' has {len(getattr(self, name))} values, 'ts' has {n}")
        return self


# ---- live feed ---------------------------------------------------------------
class ModelParams(Model):
    """GBM with Merton jumps and an intraday U-shaped volatility over a 6.5 h session."""

    s0: FiniteFloat = Field(default=100.0, gt=0, le=1e7, description="Initial price of every symbol.")
    mu: FiniteFloat = Field(default=0.05, ge=-5, le=5, description="Annual drift.")
    sigma: FiniteFloat = Field(default=0.25, gt=0, le=5, description="Annual volatility (session average).")
    jump_intensity: FiniteFloat = Field(default=0.1, ge=0, le=1000, description="Expected jumps per trading day.")
    jump_mean: FiniteFloat = Field(default=0.0, ge=-1, le=1, description="Mean log jump size.")
    jump_std: FiniteFloat = Field(default=0.02, ge=0, le=1, description="Std of log jump size.")
    u_shape: FiniteFloat = Field(
        default=2.0, ge=0, le=20, description="Volatility at open/close is (1 + u_shape) times midday."
    )
    spread_bps: FiniteFloat = Field(default=2.0, gt=0, le=1000)
    tick_size: FiniteFloat = Field(default=0.01, gt=0, le=1e4)
    trade_probability: FiniteFloat = Field(default=0.3, ge=0, le=1, description="Chance a step also trades.")
    step_ms: FiniteFloat = Field(default=100.0, ge=0.001, le=3_600_000, description="Simulated time per step.")


class StartFeedRequest(Model):
    feed_id: str = Field(default="sim", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    mode: Literal["model", "replay"] = "model"
    symbols: Annotated[list[Symbol], Field(min_length=1, max_length=MAX_SYMBOLS)] = ["SIM"]
    venue: Venue = "SIM"
    seed: int = Field(default=0, ge=0, le=2**63 - 1)
    model: ModelParams = ModelParams()
    start: Instant | None = Field(
        default=None,
        description="Model: the New York trading date whose 09:30 open starts the clock; replay: history start.",
    )
    end: Instant | None = Field(default=None, description="Replay: history end (exclusive).")
    timeframe: Timeframe = Field(default="1m", description="Model: bar length emitted; replay: stored bars replayed.")
    speed: FiniteFloat | None = Field(
        default=1.0, gt=0, le=1e9, description="Simulated seconds per wall second; null = as fast as possible."
    )
    max_messages: int | None = Field(default=None, ge=1, le=10**10, description="Stop after this many messages.")
    fanout: bool = Field(default=True, description="Also publish each message on its pub/sub topic channel.")
    batched: bool = Field(
        default=False,
        description="Publish each send's ticks as one columnar entry per stream (envelope types quotes/trades/bars, "
        "payload of equal-length arrays) instead of one entry per tick: ~10x the throughput. Read them with "
        "engines.marketdata.consumer (MarketDataConsumer or expand); readers taking one envelope per entry "
        "(the trading core) do not understand them.",
    )
    measure_latency: bool = Field(default=True, description="Run the in-engine consumer that measures latency.")

    @field_validator("symbols")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("symbols must be unique")
        return v


class FeedRef(Model):
    feed_id: str = Field(default="sim", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")


class LatencySummary(Model):
    count: int
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None


class FeedStatus(Model):
    feed_id: str
    state: Literal["starting", "running", "stopping", "stopped", "finished", "failed"]
    mode: str
    symbols: list[str]
    published: dict[str, int] = Field(description="Messages per stream.")
    messages_per_second: float
    sim_time: Instant | None
    started_at: Instant
    stopped_at: Instant | None
    error: str | None
    latency: LatencySummary


class FeedList(Model):
    feeds: list[FeedStatus]


class ListFeedsRequest(Model):
    """No parameters."""
