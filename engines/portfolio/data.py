"""The portfolio engine's reads from PostgreSQL (async, ``ctx.db``): account holdings, marks, lots.

An account's holdings are the trading core's stored net quantity per symbol (``trading_positions``,
summed over strategies unless one is named) and its cash (``trading_accounts``); each symbol is marked
at its latest stored daily close (``bars``, timeframe '1d') and traded in its instrument's lot size
(``instruments.lot_size``, 1 when the instrument is not listed). Unknown accounts are 404.
"""

from __future__ import annotations

from dataclasses import dataclass

from backend.contract.operation import OpContext
from backend.core.errors import NotFound
from engines.risk.data import TIMEFRAME


@dataclass(frozen=True)
class Holdings:
    account_id: str
    cash: float
    quantities: dict[str, float]  # symbol -> net quantity (non-zero)


async def holdings(account_id: str, strategy: str | None, ctx: OpContext, field: str = "account") -> Holdings:
    db = ctx.require_db()
    cash = await db.fetchval("SELECT cash FROM trading_accounts WHERE id = $1", account_id)
    if cash is None:
        raise NotFound(f"no trading account {account_id!r}", field=f"{field}.account_id")
    rows = await db.fetch(
        """SELECT symbol, sum(qty) AS qty FROM trading_positions
           WHERE account_id = $1 AND ($2::text IS NULL OR strategy = $2)
           GROUP BY symbol HAVING abs(sum(qty)) > 1e-9 ORDER BY symbol""", account_id, strategy)
    return Holdings(account_id, float(cash), {r["symbol"]: float(r["qty"]) for r in rows})


async def marks(symbols: list[str], ctx: OpContext) -> dict[str, float]:
    """Latest stored daily close of each symbol (symbols without bars are absent)."""
    rows = await ctx.require_db().fetch(
        """SELECT DISTINCT ON (symbol) symbol, close FROM bars
           WHERE timeframe = $1 AND symbol = ANY($2::text[]) ORDER BY symbol, ts DESC""", TIMEFRAME, symbols)
    return {r["symbol"]: float(r["close"]) for r in rows}


async def lot_sizes(symbols: list[str], ctx: OpContext) -> dict[str, float]:
    rows = await ctx.require_db().fetch(
        "SELECT symbol, lot_size FROM instruments WHERE symbol = ANY($1::text[])", symbols)
    return {r["symbol"]: float(r["lot_size"]) for r in rows}


def missing_marks(symbols: list[str], known: dict[str, float], field: str) -> None:
    missing = [s for s in symbols if s not in known]
    if missing:
        raise NotFound(f"no daily close to value {', '.join(missing[:10])}", field=field)
