"""The portfolio operations' I/O step (``prepare``): references -> inline data, before pure compute.

An account reference becomes the universe (its symbols, when the market names none) and the previous
weights (market value / net asset value); a market reference becomes inline returns read from the
stored bars (``engines.risk.data.load_market``); groups missing from a request with group limits come
from the instruments' sectors. Rebalance requests get holdings, marks and lot sizes the same way.
"""

from __future__ import annotations

from typing import TypeVar

from backend.contract.operation import OpContext
from backend.core.errors import InvalidInput
from engines.portfolio import data
from engines.portfolio.models.optimize import OptimizeRequest
from engines.portfolio.models.rebalance import Holding, RebalanceRequest
from engines.portfolio.models.walkforward import WalkForwardRequest
from engines.risk import data as market_data

R = TypeVar("R", bound=OptimizeRequest)


async def inline_optimize(req: R, ctx: OpContext) -> R:
    update: dict = {}
    market = req.market
    constraints = req.constraints
    if req.account is not None:
        h = await data.holdings(req.account.account_id, req.account.strategy, ctx)
        symbols = list(market.symbols or sorted(h.quantities))
        if not symbols:
            raise InvalidInput(f"account {h.account_id!r} holds nothing: name the universe in market.symbols",
                               field="market.symbols")
        if constraints.previous_weights is None:
            held = sorted(h.quantities)
            px = await data.marks(held, ctx)
            data.missing_marks(held, px, "account")
            values = {s: h.quantities[s] * px[s] for s in held}
            nav = h.cash + sum(values.values())
            if nav <= 0:
                raise InvalidInput(f"account {h.account_id!r} has a net asset value of {nav:.2f}", field="account")
            outside = sorted(set(held) - set(symbols))
            if outside:
                raise InvalidInput(f"the account holds {outside[:10]} outside market.symbols", field="market.symbols")
            constraints = constraints.model_copy(update={"previous_weights": {s: v / nav for s, v in values.items()}})
        if market.symbols is None:
            market = market.model_copy(update={"symbols": symbols})
        update["account"] = None
    if market.is_reference:
        if not market.symbols:
            raise InvalidInput("name the universe: market.symbols (or an account)", field="market.symbols")
        market = await market_data.load_market(market, list(market.symbols), ctx)
    if constraints.group_limits and market.symbols:
        groups = dict(constraints.groups or {})
        unknown = [s for s in market.symbols if s not in groups]
        if unknown:
            groups |= await market_data.sectors(unknown, ctx)
            constraints = constraints.model_copy(update={"groups": groups})
    update |= {"market": market, "constraints": constraints}
    return req.model_copy(update=update)


async def inline_rebalance(req: RebalanceRequest, ctx: OpContext) -> RebalanceRequest:
    """Holdings, cash, marks and lots of the account; the account stays named (execution submits for it)."""
    if req.account is None:
        return req
    h = await data.holdings(req.account.account_id, req.account.strategy, ctx)
    symbols = sorted(set(h.quantities) | set(req.target_weights))
    given = dict(req.prices or {})
    px = given | await data.marks([s for s in symbols if s not in given], ctx)
    data.missing_marks(symbols, px, "prices")
    lots = await data.lot_sizes(symbols, ctx)
    lots |= dict(req.lot_sizes or {})
    return req.model_copy(update={
        "cash": h.cash,
        "holdings": [Holding(symbol=s, qty=q) for s, q in sorted(h.quantities.items())],
        "prices": {s: px[s] for s in symbols}, "lot_sizes": {s: lots.get(s, 1.0) for s in symbols}})


async def inline_walkforward(req: WalkForwardRequest, ctx: OpContext) -> WalkForwardRequest:
    if not req.market.is_reference:
        return req
    if not req.market.symbols:
        raise InvalidInput("name the universe: market.symbols", field="market.symbols")
    return req.model_copy(update={"market": await market_data.load_market(req.market, list(req.market.symbols), ctx)})
