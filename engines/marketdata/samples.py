"""Real sample history shipped inside well-kept packages, loaded with one call or one command.

  skfolio_sp500        skfolio.datasets.load_sp500_dataset: adjusted daily closes of 20 S&P 500
                       stocks, 1990-01-02 .. 2022-12-28 (close-only: open/high/low = close, volume 0)
  skfolio_sp500_index  skfolio.datasets.load_sp500_index: the S&P 500 index, same dates, close-only (SP500)
  arch_sp500           arch.data.sp500: daily OHLCV of the S&P 500 index 1999-2018 (^GSPC)
  arch_nasdaq          arch.data.nasdaq: daily OHLCV of the NASDAQ Composite 1999-2018 (^IXIC)

Each dataset is one load through the same validation and upsert path as a user's
file. Command: ``python -m engines.marketdata.samples [dataset ...]`` (DATABASE_URL).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable

import numpy as np
import pandas as pd

from backend.contract.operation import OpContext
from engines.marketdata.ingest import Batch, load_batch
from engines.marketdata.models import LoadReport, LoadSamplesRequest, LoadSamplesResponse
from engines.marketdata.timeframes import parse_timeframe
from engines.marketdata.validation import SessionRule

#: GICS sector and primary listing of the skfolio S&P 500 sample stocks.
SAMPLE_STOCKS: dict[str, tuple[str, str]] = {
    "AAPL": ("Information Technology", "XNAS"), "AMD": ("Information Technology", "XNAS"),
    "BAC": ("Financials", "XNYS"), "BBY": ("Consumer Discretionary", "XNYS"), "CVX": ("Energy", "XNYS"),
    "GE": ("Industrials", "XNYS"), "HD": ("Consumer Discretionary", "XNYS"), "JNJ": ("Health Care", "XNYS"),
    "JPM": ("Financials", "XNYS"), "KO": ("Consumer Staples", "XNYS"), "LLY": ("Health Care", "XNYS"),
    "MRK": ("Health Care", "XNYS"), "MSFT": ("Information Technology", "XNAS"), "PEP": ("Consumer Staples", "XNAS"),
    "PFE": ("Health Care", "XNYS"), "PG": ("Consumer Staples", "XNYS"), "RRC": ("Energy", "XNYS"),
    "UNH": ("Health Care", "XNYS"), "WMT": ("Consumer Staples", "XNYS"), "XOM": ("Energy", "XNYS"),
}
CLOSE_ONLY = "close-only dataset (adjusted closes): open, high and low are set to the close and volume to 0"


def _daily_ns(index: pd.Index) -> np.ndarray:
    return pd.DatetimeIndex(index).normalize().as_unit("ns").asi8


def _close_only(prices: pd.DataFrame) -> Batch:
    """A wide price table (dates x symbols) -> long close-only bars."""
    long = prices.stack(future_stack=True)
    symbols = long.index.get_level_values(1).astype(str).to_numpy(dtype=object)
    ts = _daily_ns(long.index.get_level_values(0))
    close = long.to_numpy(dtype=np.float64)
    values = {"open": close, "high": close, "low": close, "close": close, "volume": np.zeros_like(close)}
    return Batch("bars", ts, values, symbols, None, [CLOSE_ONLY])


def _ohlcv(df: pd.DataFrame, symbol: str) -> Batch:
    values = {k: df[k.capitalize()].to_numpy(dtype=np.float64) for k in ("open", "high", "low", "close", "volume")}
    return Batch("bars", _daily_ns(df.index), values, np.full(len(df), symbol, dtype=object), None, [])


def _skfolio_sp500() -> Batch:
    from skfolio.datasets import load_sp500_dataset

    return _close_only(load_sp500_dataset())


def _skfolio_index() -> Batch:
    from skfolio.datasets import load_sp500_index

    return _close_only(load_sp500_index())


def _arch(name: str, symbol: str) -> Callable[[], Batch]:
    def load() -> Batch:
        import importlib

        return _ohlcv(importlib.import_module(f"arch.data.{name}").load(), symbol)

    return load


#: dataset -> (loader, source label, instrument defaults)
DATASETS: dict[str, tuple[Callable[[], Batch], str, dict]] = {
    "skfolio_sp500": (_skfolio_sp500, "sample:skfolio.datasets.load_sp500_dataset", {"asset_class": "equity"}),
    "skfolio_sp500_index": (_skfolio_index, "sample:skfolio.datasets.load_sp500_index", {"asset_class": "index"}),
    "arch_sp500": (_arch("sp500", "^GSPC"), "sample:arch.data.sp500", {"asset_class": "index"}),
    "arch_nasdaq": (_arch("nasdaq", "^IXIC"), "sample:arch.data.nasdaq", {"asset_class": "index"}),
}


async def _register_stocks(ctx: OpContext) -> None:
    from engines.marketdata import store
    from engines.marketdata.models import Instrument

    for symbol, (sector, venue) in SAMPLE_STOCKS.items():
        await store.upsert_instrument(ctx.db, Instrument(symbol=symbol, sector=sector, venues=[venue]))


async def load_samples(req: LoadSamplesRequest, ctx: OpContext) -> LoadSamplesResponse:
    """Load the chosen sample datasets: one validated, idempotent load each."""

    ctx.require_db()
    daily = parse_timeframe("1d")
    reports: list[LoadReport] = []
    for name in dict.fromkeys(req.datasets):
        loader, source, defaults = DATASETS[name]
        if name == "skfolio_sp500":
            await _register_stocks(ctx)
        batch = await asyncio.to_thread(loader)
        reports.append(await load_batch(
            ctx, batch, source=source, timeframe=daily, session=SessionRule(tz="UTC"), spike_threshold=10.0,
            max_reject_fraction=0.01, create_instruments=True, dry_run=False, instrument_defaults=defaults,
        ))
    return LoadSamplesResponse(loads=reports)


async def _main(datasets: list[str]) -> int:
    from backend.core.settings import get_settings
    from backend.storage.db import create_pool
    from backend.storage.migrate import migrate_url

    url = get_settings().database_url
    if not url:
        print("DATABASE_URL is not set", file=sys.stderr)
        return 2
    await migrate_url(url)
    pool = await create_pool(url)
    try:
        resp = await load_samples(LoadSamplesRequest(datasets=datasets), OpContext(engine="marketdata", db=pool))
    finally:
        await pool.close()
    print(f"{'dataset':45} {'status':10} {'rows':>8} {'inserted':>9} {'updated':>8} {'rejected':>8}  symbols")
    for r in resp.loads:
        q = r.quality
        print(f"{r.source:45} {r.status:10} {q.rows_in:>8} {r.rows_inserted:>9} {r.rows_updated:>8} "
              f"{q.rows_rejected:>8}  {len(q.rows_by_symbol)} {q.rejected_by_reason or ''}")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("datasets", nargs="*", metavar="dataset", help=f"any of {', '.join(DATASETS)} (default: all)")
    args = parser.parse_args()
    unknown = [d for d in args.datasets if d not in DATASETS]
    if unknown:
        parser.error(f"unknown dataset(s) {unknown}; choose from {list(DATASETS)}")
    raise SystemExit(asyncio.run(_main(args.datasets or list(DATASETS))))


if __name__ == "__main__":
    main()
