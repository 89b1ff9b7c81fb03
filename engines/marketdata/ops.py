"""Operations of the market data engine: instruments, ingestion, queries, the simulated live feed."""

from backend.contract.operation import EngineSpec, Operation
from backend.core.scopes import Scope
from engines.marketdata import models as m

# A declaration table: every entry has the same shape (engine, name, scope, models, function, summary);
# the repetition is deliberate boilerplate, read by the three transports, not shared logic.
_E = "marketdata"


def _op(name: str, scope: Scope, req: type, resp: type, fn: str, summary: str, **kw) -> Operation:  # noqa: ANN003
    return Operation(engine=_E, name=name, scope=scope, request=req, response=resp,
                     fn_path=f"engines.marketdata.{fn}", summary=summary, **kw)


ENGINE = EngineSpec(
    name=_E,
    description="Ingestion, validation, storage and distribution of market data.",
    operations=(
        _op("upsert_instrument", Scope.DATA_ADMIN, m.Instrument, m.InstrumentOut, "catalog:upsert_instrument",
            "Create or update an instrument (symbol, asset class, currency, tick/lot size, sector, venues)"),
        _op("get_instrument", Scope.READ, m.SymbolRequest, m.InstrumentOut, "catalog:get_instrument", "One instrument"),
        _op("list_instruments", Scope.READ, m.ListInstrumentsRequest, m.InstrumentList, "catalog:list_instruments",
            "Instruments, filtered by asset class, sector or venue"),
        _op("delete_instrument", Scope.DATA_ADMIN, m.DeleteInstrumentRequest, m.DeleteInstrumentResponse,
            "catalog:delete_instrument",
            "Delete an instrument (409 while it has data, unless purge_data)", idempotent=False),
        _op("ingest_file", Scope.DATA_ADMIN, m.IngestRequest, m.LoadReport, "ingest:ingest_file",
            "Import bars, trades or quotes from CSV/Parquet (server path or inline), validated, in one transaction",
            timeout_s=600.0),
        _op("load_samples", Scope.DATA_ADMIN, m.LoadSamplesRequest, m.LoadSamplesResponse, "samples:load_samples",
            "Load the real sample datasets shipped in skfolio and arch (idempotent)", timeout_s=600.0),
        _op("get_load", Scope.READ, m.LoadReportRequest, m.LoadReport, "catalog:get_load", "One load's report"),
        _op("list_loads", Scope.READ, m.ListLoadsRequest, m.LoadList, "catalog:list_loads",
            "Recent loads with their reports"),
        _op("query_bars", Scope.READ, m.QueryBarsRequest, m.Bars, "catalog:query_bars",
            "Stored bars by symbol, timeframe and range, optionally resampled (1m -> 5m -> 1h -> 1d)",
            timeout_s=120.0),
        _op("resample_bars", Scope.COMPUTE, m.ResampleRequest, m.Bars, "catalog:resample_bars",
            "Resample inline OHLCV bars to a larger timeframe (nothing stored)"),
        _op("query_ticks", Scope.READ, m.QueryTicksRequest, m.Ticks, "catalog:query_ticks",
            "Stored trades or quotes by symbol and range", timeout_s=120.0),
        _op("start_feed", Scope.DATA_ADMIN, m.StartFeedRequest, m.FeedStatus, "feed:start_feed",
            "Start a simulated live feed (seeded GBM+jumps model, or replay of stored history)", idempotent=False),
        _op("stop_feed", Scope.DATA_ADMIN, m.FeedRef, m.FeedStatus, "feed:stop_feed", "Stop a feed", idempotent=False),
        _op("feed_status", Scope.READ, m.FeedRef, m.FeedStatus, "feed:feed_status",
            "A feed's state, message counts, rate, simulated clock and latency"),
        _op("list_feeds", Scope.READ, m.ListFeedsRequest, m.FeedList, "feed:list_feeds",
            "All feeds of this engine process"),
    ),
)
