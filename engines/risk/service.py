"""The risk operations as served: resolve references (database) at the edge, then run pure compute.

Each function here is ``async``: it replaces a market-data reference by inline returns read from
PostgreSQL (and fills missing sectors / volumes), then calls the pure compute function in a worker
thread. Requests that are fully inline never touch the database, so the same function also serves a
process without one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from backend.contract.operation import Model, OpContext
from engines.risk import data
from engines.risk.compute import montecarlo, stress, var
from engines.risk.models.stress import HypotheticalStressRequest, HypotheticalStressResponse

M = TypeVar("M", bound=Model)


async def _inline(req: M, ctx: OpContext) -> M:
    market = getattr(req, "market", None)
    if market is None or not market.is_reference:
        return req
    symbols = [p.symbol for p in req.positions]  # type: ignore[attr-defined]
    return req.model_copy(update={"market": await data.load_market(market, symbols, ctx)})


def _served(fn: Callable[[Any, OpContext], Any]) -> Callable[[Any, OpContext], Any]:
    async def op(req: Any, ctx: OpContext) -> Any:
        return await asyncio.to_thread(fn, await _inline(req, ctx), ctx)

    op.__name__ = fn.__name__
    op.__doc__ = fn.__doc__
    return op


historical_var = _served(var.historical_var)
parametric_var = _served(var.parametric_var)
decompose_var = _served(var.decompose_var)
monte_carlo_var = _served(montecarlo.monte_carlo_var)
historical_stress = _served(stress.historical_stress)


async def hypothetical_stress(req: HypotheticalStressRequest, ctx: OpContext) -> HypotheticalStressResponse:
    """Hypothetical shocks; sectors missing from the request are read from the instruments table."""
    needs_sector = any(s.sector_shocks for s in req.scenarios) and any(p.sector is None for p in req.positions)
    if needs_sector and ctx is not None and ctx.db is not None:
        known = await data.sectors([p.symbol for p in req.positions if p.sector is None], ctx)
        req = req.model_copy(update={"positions": [
            p.model_copy(update={"sector": known.get(p.symbol)}) if p.sector is None else p for p in req.positions]})
    if req.market is not None and req.market.is_reference:
        market = await data.load_market(req.market, [p.symbol for p in req.positions], ctx)
        req = req.model_copy(update={"market": market})
    return await asyncio.to_thread(stress.hypothetical_stress, req, ctx)

