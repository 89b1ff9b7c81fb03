"""Market data by reference: daily closes, volumes and sectors read from PostgreSQL (async, ``ctx.db``).

Closes come from ``bars`` (timeframe '1d'); symbols are joined on the dates every one of them has a bar
(UTC calendar date of ``ts``); returns are simple close-to-close. Unknown symbols are 404.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from backend.contract.operation import OpContext
from backend.core.errors import InvalidInput, NotFound
from engines.risk.models.common import MarketData

TIMEFRAME = "1d"
#: Bars averaged for the average daily volume.
ADV_DAYS = 20


async def load_market(market: MarketData, symbols: list[str], ctx: OpContext) -> MarketData:
    """Resolve a reference to inline returns with dates; inline data passes through unchanged."""
    if not market.is_reference:
        return market
    db = ctx.require_db()
    symbols = list(market.symbols or symbols)
    if len(set(symbols)) != len(symbols):
        raise InvalidInput("symbols must be unique", field="market.symbols")
    start = dt.datetime.combine(market.start, dt.time(), dt.UTC) if market.start else None
    end = dt.datetime.combine(market.end + dt.timedelta(days=1), dt.time(), dt.UTC) if market.end else None
    per_symbol = None if market.lookback_days is None else market.lookback_days * 2 + 10
    rows = await db.fetch(
        """SELECT symbol, (ts AT TIME ZONE 'UTC')::date AS d, close FROM (
               SELECT symbol, ts, close, row_number() OVER (PARTITION BY symbol ORDER BY ts DESC) AS rn
               FROM bars WHERE timeframe = $1 AND symbol = ANY($2::text[])
                 AND ($3::timestamptz IS NULL OR ts >= $3) AND ($4::timestamptz IS NULL OR ts < $4)) b
           WHERE $5::int IS NULL OR rn <= $5 ORDER BY ts""",
        TIMEFRAME, symbols, start, end, per_symbol,
    )
    series: dict[str, dict[dt.date, float]] = {s: {} for s in symbols}
    for r in rows:
        series[r["symbol"]][r["d"]] = r["close"]
    missing = [s for s in symbols if not series[s]]
    if missing:
        raise NotFound(f"no daily bars for {', '.join(missing[:10])} in the requested window", field="market.symbols")
    common = sorted(set.intersection(*(set(v) for v in series.values())))
    if market.lookback_days is not None:
        common = common[-(market.lookback_days + 1):]
    if len(common) < 3:
        raise InvalidInput(f"only {len(common)} dates with a close for every symbol; need at least 3",
                           field="market")
    P = np.array([[series[s][d] for s in symbols] for d in common])
    if (P <= 0).any():
        raise InvalidInput("stored closes must be > 0", field="market")
    R = P[1:] / P[:-1] - 1.0
    return MarketData(symbols=symbols, returns=R.tolist(), dates=common[1:])


async def average_daily_volume(symbols: list[str], ctx: OpContext) -> dict[str, float]:
    """Mean volume of each symbol's last ADV_DAYS daily bars (symbols without bars are absent)."""
    rows = await ctx.require_db().fetch(
        """SELECT symbol, avg(volume) AS adv FROM (
               SELECT symbol, volume, row_number() OVER (PARTITION BY symbol ORDER BY ts DESC) AS rn
               FROM bars WHERE timeframe = $1 AND symbol = ANY($2::text[])) b
           WHERE rn <= $3 GROUP BY symbol""",
        TIMEFRAME, symbols, ADV_DAYS,
    )
    return {r["symbol"]: float(r["adv"]) for r in rows if r["adv"] and r["adv"] > 0}


async def sectors(symbols: list[str], ctx: OpContext) -> dict[str, str]:
    rows = await ctx.require_db().fetch(
        "SELECT symbol, sector FROM instruments WHERE symbol = ANY($1::text[]) AND sector IS NOT NULL", symbols)
    return {r["symbol"]: r["sector"] for r in rows}


async def account_positions(account_id: str, strategy: str | None, ctx: OpContext) -> list[dict]:
    """An account's net stored quantities per symbol, valued at each symbol's latest daily close."""
    db = ctx.require_db()
    if not await db.fetchval("SELECT 1 FROM trading_accounts WHERE id = $1", account_id):
        raise NotFound(f"no trading account {account_id!r}", field="account.account_id")
    rows = await db.fetch(
        """SELECT symbol, sum(qty) AS qty FROM trading_positions
           WHERE account_id = $1 AND ($2::text IS NULL OR strategy = $2)
           GROUP BY symbol HAVING sum(qty) <> 0 ORDER BY symbol""", account_id, strategy)
    if not rows:
        raise InvalidInput(f"account {account_id!r} has no open positions"
                           + (f" in strategy {strategy!r}" if strategy else ""), field="account")
    symbols = [r["symbol"] for r in rows]
    marks = {r["symbol"]: r["close"] for r in await db.fetch(
        """SELECT DISTINCT ON (symbol) symbol, close FROM bars
           WHERE timeframe = $1 AND symbol = ANY($2::text[]) ORDER BY symbol, ts DESC""", TIMEFRAME, symbols)}
    missing = [s for s in symbols if s not in marks]
    if missing:
        raise NotFound(f"no daily close to value {', '.join(missing[:10])}", field="account")
    return [{"symbol": r["symbol"], "value": float(r["qty"]) * float(marks[r["symbol"]])} for r in rows]
