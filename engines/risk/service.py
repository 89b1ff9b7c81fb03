"""The risk operations' I/O step: resolve references (database) before pure compute.

Each function here is an operation's ``prepare`` (see ``backend.contract.operation``): it
replaces a market-data reference by inline returns read from PostgreSQL (and fills missing
sectors), leaving the request fully inline. The compute functions stay pure, so a native
engine (which has no database) serves them; whoever holds the database runs the prepare
step first: the HTTP risk engine, or the gateway before a native call. Requests that are
already inline pass through untouched.
"""

from __future__ import annotations

from typing import TypeVar

from backend.contract.operation import Model, OpContext
from engines.risk import data
from engines.risk.models.common import Position
from engines.risk.models.stress import HypotheticalStressRequest

M = TypeVar("M", bound=Model)


async def inline_market(req: M, ctx: OpContext) -> M:
    """Resolve an account reference into positions, then ``req.market`` when it is a reference."""
    account = getattr(req, "account", None)
    if account is not None:
        positions = await data.account_positions(account.account_id, account.strategy, ctx)
        req = req.model_copy(update={"positions": [Position(**p) for p in positions], "account": None})
    market = getattr(req, "market", None)
    if market is None or not market.is_reference:
        return req
    symbols = [p.symbol for p in req.positions]  # type: ignore[attr-defined]
    return req.model_copy(update={"market": await data.load_market(market, symbols, ctx)})


async def inline_hypothetical(req: HypotheticalStressRequest, ctx: OpContext) -> HypotheticalStressRequest:
    """Sectors missing from the request come from the instruments table; references are resolved."""
    needs_sector = any(s.sector_shocks for s in req.scenarios) and any(p.sector is None for p in req.positions)
    if needs_sector and ctx is not None and ctx.db is not None:
        known = await data.sectors([p.symbol for p in req.positions if p.sector is None], ctx)
        req = req.model_copy(update={"positions": [
            p.model_copy(update={"sector": known.get(p.symbol)}) if p.sector is None else p for p in req.positions]})
    return await inline_market(req, ctx)
