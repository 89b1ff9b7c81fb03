"""What happened: fills, positions marked to the live market, smart-router decisions (read)."""

from typing import Annotated, Any

from fastapi import APIRouter, Query

from backend.core.scopes import Scope
from backend.trading import store
from backend.trading.responses import DecisionList, FillList, PositionList
from backend.trading.routes.deps import PROBLEMS, own, page, principal
from backend.trading.service import TradingService

Filter = Annotated[str | None, Query(max_length=64)]


def router(svc: TradingService) -> APIRouter:
    r = APIRouter(tags=["trading: executions"], responses=PROBLEMS)
    Read = principal(svc, Scope.READ)

    @r.get("/fills", response_model=FillList, summary="Fills, newest first")
    async def list_fills(p: Read, account_id: Filter = None, order_id: Filter = None, symbol: Filter = None,
                         venue: Filter = None, limit: int = 100, offset: int = 0) -> dict[str, Any]:
        if account_id:
            own(p, account_id)
        limit, offset = page(svc, limit, offset)
        await svc.durable()
        rows = await store.list_fills(svc.pool, {"account_id": account_id, "order_id": order_id, "symbol": symbol,
                                                 "venue": venue}, limit, offset)
        items = [row for row in rows if p.may_use(row["account_id"])]
        return {"items": items, "count": len(items)}

    @r.get("/positions", response_model=PositionList, summary="Positions with P&L marked to the live market")
    async def positions(p: Read, account_id: Filter = None, strategy: Filter = None,
                        symbol: Filter = None) -> dict[str, Any]:
        await svc.durable()
        eng = svc.engine
        items = [pos.as_dict(eng.marks.get(pos.symbol)) for (a, s, sym), pos in eng.ledger.positions.items()
                 if (account_id is None or a == account_id) and (strategy is None or s == strategy)
                 and (symbol is None or sym == symbol) and p.may_use(a)]
        return {"items": items, "count": len(items)}

    @r.get("/router/decisions", response_model=DecisionList,
           summary="Smart order router decisions with execution quality")
    async def decisions(p: Read, order_id: Filter = None, account_id: Filter = None,
                        limit: int = 100) -> dict[str, Any]:
        limit, _ = page(svc, limit, 0)
        await svc.durable()
        items = await store.list_decisions(svc.pool, {"order_id": order_id, "account_id": account_id}, limit)
        items = [d for d in items if p.may_use(d["account_id"])]
        return {"items": items, "count": len(items)}

    return r
