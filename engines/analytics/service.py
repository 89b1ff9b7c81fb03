"""The analytics operations' I/O step: an account reference -> its stored fills and marks (PostgreSQL).

Fills come from ``trading_fills`` (one strategy, or all), marks are the daily closes (``bars``,
timeframe '1d') of the fills' symbols from the first fill's day on, and the starting equity is the
account's starting cash unless the request gives one. Unknown accounts are 404.
"""

from __future__ import annotations

import datetime as dt
from typing import TypeVar

from backend.contract.operation import Model, OpContext
from backend.core.errors import InvalidInput, NotFound
from engines.analytics.models_pnl import MAX_FILLS, MAX_MARKS, Fill, Mark, PnlRequest
from engines.risk.data import TIMEFRAME

M = TypeVar("M", bound=Model)


async def account_pnl_inputs(req: PnlRequest, ctx: OpContext) -> PnlRequest:
    if req.account is None:
        return req
    db = ctx.require_db()
    a = req.account
    start_cash = await db.fetchval("SELECT starting_cash FROM trading_accounts WHERE id = $1", a.account_id)
    if start_cash is None:
        raise NotFound(f"no trading account {a.account_id!r}", field="account.account_id")
    rows = await db.fetch(
        """SELECT ts_ns, symbol, side, qty, price, fee FROM trading_fills
           WHERE account_id = $1 AND ($2::text IS NULL OR strategy = $2) ORDER BY seq LIMIT $3""",
        a.account_id, a.strategy, MAX_FILLS + 1)
    if len(rows) > MAX_FILLS:
        raise InvalidInput(f"more than {MAX_FILLS} fills; narrow it to a strategy", field="account")
    if not rows:
        raise InvalidInput(f"account {a.account_id!r} has no fills" + (f" in strategy {a.strategy!r}" if a.strategy
                                                                      else ""), field="account")
    fills = [Fill(ts=dt.datetime.fromtimestamp(r["ts_ns"] / 1e9, dt.UTC), symbol=r["symbol"], side=r["side"],
                  qty=r["qty"], price=r["price"], fee=r["fee"]) for r in rows]
    first = min(f.ts for f in fills)
    marks = await db.fetch(
        """SELECT (ts AT TIME ZONE 'UTC')::date AS d, symbol, close FROM bars
           WHERE timeframe = $1 AND symbol = ANY($2::text[]) AND ts >= $3 ORDER BY ts LIMIT $4""",
        TIMEFRAME, sorted({f.symbol for f in fills}), first.replace(hour=0, minute=0, second=0, microsecond=0),
        MAX_MARKS)
    return req.model_copy(update={
        "account": None, "fills": fills, "marks": [Mark(date=m["d"], symbol=m["symbol"], close=m["close"])
                                                   for m in marks],
        "starting_equity": req.starting_equity if req.starting_equity is not None else float(start_cash) or None})


async def account_returns(req: M, ctx: OpContext) -> M:
    """Tear sheets of an account: its daily returns from the P&L of its stored fills and marks."""
    account = getattr(req, "account", None)
    if account is None:
        return req
    from engines.analytics.pnl import pnl

    resolved = await account_pnl_inputs(PnlRequest(account=account), ctx)
    if resolved.starting_equity is None:
        raise InvalidInput("the account has no starting cash: returns are undefined", field="account")
    days = pnl(resolved).days
    if len(days) < 3:
        raise InvalidInput(f"the account's P&L covers {len(days)} days; a tear sheet needs at least 3",
                           field="account")
    return req.model_copy(update={"account": None, "returns": [d.ret for d in days[1:]],
                                  "dates": [d.date for d in days[1:]]})
