"""Orders: submit, amend, cancel (trade); list and get (read)."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from backend.auth.keys import Principal
from backend.core.errors import NotFound
from backend.core.scopes import Scope
from backend.trading import store
from backend.trading.models import AmendOrder, SubmitOrder
from backend.trading.responses import OrderList, OrderView
from backend.trading.routes.deps import PROBLEMS, own, page, principal
from backend.trading.service import TradingService
from backend.trading.state import OrderStatus

OrderId = Annotated[str, Path(max_length=64)]
Filter = Annotated[str | None, Query(max_length=64)]


def router(svc: TradingService) -> APIRouter:
    r = APIRouter(tags=["trading: orders"], responses=PROBLEMS)
    Read, Trade = principal(svc, Scope.READ), principal(svc, Scope.TRADE)

    @r.post("/orders", status_code=201, response_model=OrderView,
            summary="Submit an order (idempotent on client_order_id); 201 only once it is durable")
    async def submit(p: Trade, req: SubmitOrder) -> dict[str, Any]:
        own(p, req.account_id)
        return await svc.intake.submit(req)

    @r.get("/orders", response_model=OrderList, summary="List orders, newest first, with filters")
    async def list_orders(p: Read, account_id: Filter = None, status: list[OrderStatus] | None = Query(None),
                          symbol: Filter = None, strategy: Filter = None, algo_id: Filter = None,
                          limit: int = 100, offset: int = 0) -> dict[str, Any]:
        if account_id:
            own(p, account_id)
        limit, offset = page(svc, limit, offset)
        await svc.durable()
        filters = {"account_id": account_id, "status": [s.value for s in status] if status else None,
                   "symbol": symbol, "strategy": strategy, "algo_id": algo_id}
        orders = await store.list_orders(svc.pool, filters, limit, offset)
        items = [store.order_dict(o) for o in orders if p.may_use(o.account_id)]
        return {"items": items, "count": len(items)}

    @r.get("/orders/{order_id}", response_model=OrderView, summary="One order")
    async def get_order(p: Read, order_id: OrderId) -> dict[str, Any]:
        o = await svc.intake.get_order(order_id)
        own(p, o["account_id"])
        return o

    async def owned(p: Principal, order_id: str) -> None:
        o = svc.engine.orders.get(order_id) or await store.fetch_order(svc.pool, order_id)
        if o is None:
            raise NotFound(f"no order {order_id!r}", field="order_id")
        own(p, o.account_id)

    @r.post("/orders/{order_id}/cancel", response_model=OrderView, summary="Cancel an open order")
    async def cancel(p: Trade, order_id: OrderId) -> dict[str, Any]:
        await owned(p, order_id)
        return await svc.intake.cancel(order_id)

    @r.patch("/orders/{order_id}", response_model=OrderView, summary="Amend quantity and/or prices of an open order")
    async def amend(p: Trade, order_id: OrderId, req: AmendOrder) -> dict[str, Any]:
        await owned(p, order_id)
        return await svc.intake.amend(order_id, req.qty, req.limit_price, req.stop_price)

    return r
