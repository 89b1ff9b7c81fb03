"""The trading API under /api/v1/trading. Every route needs an API key (``X-API-Key``) with the
scope it names: read, trade, risk-admin or admin; a key limited to some accounts sees only those."""

import time
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from backend.auth.keys import Principal
from backend.core.errors import Forbidden, InvalidInput, NotFound
from backend.core.scopes import Scope
from backend.service.routes import refuse_nul
from backend.trading import store
from backend.trading.models import (
    AmendOrder,
    AssignLimitSet,
    CreateAccount,
    CreateAlgo,
    KillSwitch,
    Limits,
    SubmitOrder,
)
from backend.trading.state import OrderStatus

if TYPE_CHECKING:
    from backend.trading.service import TradingService

PREFIX = "/api/v1/trading"


def build_router(svc: "TradingService") -> APIRouter:
    r = APIRouter(prefix=PREFIX, tags=["trading"])

    def need(scope: Scope):  # noqa: ANN202 - a dependency factory
        async def dep(request: Request) -> Principal:
            """Runs before the body is validated: the key first, then no NUL characters in the body."""
            p = await svc.auth.require(request.headers, scope)
            if request.method in ("POST", "PUT", "PATCH"):
                refuse_nul(await request.body())
            return p
        return dep

    Read = Annotated[Principal, Depends(need(Scope.READ))]
    Trade = Annotated[Principal, Depends(need(Scope.TRADE))]
    RiskAdmin = Annotated[Principal, Depends(need(Scope.RISK_ADMIN))]
    Admin = Annotated[Principal, Depends(need(Scope.ADMIN))]

    def own(p: Principal, account_id: str) -> None:
        if not p.may_use(account_id):
            raise Forbidden(f"this key may not act on account {account_id!r}", field="account_id")

    def page(limit: int, offset: int) -> tuple[int, int]:
        if limit < 1 or limit > svc.config.max_page:
            raise InvalidInput(f"limit must be 1..{svc.config.max_page}", field="limit")
        if offset < 0 or offset > 10_000_000:
            raise InvalidInput("offset must be 0..10000000", field="offset")
        return limit, offset

    # ---- accounts -------------------------------------------------------------
    @r.post("/accounts", status_code=201, summary="Create a paper account")
    async def create_account(req: CreateAccount, p: Admin) -> dict[str, Any]:
        return await svc.create_account(req)

    @r.get("/accounts", summary="Accounts with cash, equity, margin and P&L")
    async def list_accounts(p: Read) -> dict[str, Any]:
        items = [svc.engine.account_view(a) for a in svc.engine.accounts.values() if p.may_use(a.id)]
        return {"items": items, "count": len(items)}

    @r.get("/accounts/{account_id}", summary="One account")
    async def get_account(account_id: str, p: Read) -> dict[str, Any]:
        own(p, account_id)
        return svc.engine.account_view(svc.engine.account(account_id))

    @r.put("/accounts/{account_id}/limits", summary="Replace an account's pre-trade risk limits")
    async def put_limits(account_id: str, limits: Limits, p: RiskAdmin) -> dict[str, Any]:
        own(p, account_id)
        return await svc.set_limits(account_id, limits.model_dump())

    @r.put("/accounts/{account_id}/risk-limit-set",
           summary="Make the account's pre-trade checks follow a risk engine limit set (null: its own limits)")
    async def put_limit_set(account_id: str, req: AssignLimitSet, p: RiskAdmin) -> dict[str, Any]:
        own(p, account_id)
        return await svc.assign_limit_set(account_id, req.set_id)

    # ---- orders ---------------------------------------------------------------
    @r.post("/orders", status_code=201, summary="Submit an order (idempotent on client_order_id)")
    async def submit(req: SubmitOrder, p: Trade) -> dict[str, Any]:
        own(p, req.account_id)
        return await svc.submit(req)

    @r.get("/orders", summary="List orders, newest first, with filters")
    async def list_orders(p: Read, account_id: str | None = Query(None, max_length=64),
                          status: list[OrderStatus] | None = Query(None),
                          symbol: str | None = Query(None, max_length=64),
                          strategy: str | None = Query(None, max_length=64),
                          algo_id: str | None = Query(None, max_length=64),
                          limit: int = 100, offset: int = 0) -> dict[str, Any]:
        if account_id:
            own(p, account_id)
        limit, offset = page(limit, offset)
        filters = {"account_id": account_id, "status": [s.value for s in status] if status else None,
                   "symbol": symbol, "strategy": strategy, "algo_id": algo_id}
        orders = await store.list_orders(svc.pool, filters, limit, offset)
        items = [store.order_dict(o) for o in orders if p.may_use(o.account_id)]
        return {"items": items, "count": len(items)}

    @r.get("/orders/{order_id}", summary="One order")
    async def get_order(order_id: str, p: Read) -> dict[str, Any]:
        o = await svc.get_order(order_id)
        own(p, o["account_id"])
        return o

    async def _owned(p: Principal, order_id: str) -> None:
        o = svc.engine.orders.get(order_id) or await store.fetch_order(svc.pool, order_id)
        if o is None:
            raise NotFound(f"no order {order_id!r}", field="order_id")
        own(p, o.account_id)

    @r.post("/orders/{order_id}/cancel", summary="Cancel an open order")
    async def cancel(order_id: str, p: Trade) -> dict[str, Any]:
        await _owned(p, order_id)
        return await svc.cancel(order_id)

    @r.patch("/orders/{order_id}", summary="Amend quantity and/or prices of an open order")
    async def amend(order_id: str, req: AmendOrder, p: Trade) -> dict[str, Any]:
        await _owned(p, order_id)
        return await svc.amend(order_id, req.qty, req.limit_price, req.stop_price)

    # ---- fills and positions --------------------------------------------------
    @r.get("/fills", summary="Fills, newest first")
    async def list_fills(p: Read, account_id: str | None = Query(None, max_length=64),
                         order_id: str | None = Query(None, max_length=64),
                         symbol: str | None = Query(None, max_length=64),
                         venue: str | None = Query(None, max_length=64),
                         limit: int = 100, offset: int = 0) -> dict[str, Any]:
        if account_id:
            own(p, account_id)
        limit, offset = page(limit, offset)
        rows = await store.list_fills(svc.pool, {"account_id": account_id, "order_id": order_id, "symbol": symbol,
                                                 "venue": venue}, limit, offset)
        items = [{k: v for k, v in row.items()} for row in rows if p.may_use(row["account_id"])]
        return {"items": items, "count": len(items)}

    @r.get("/positions", summary="Positions with P&L marked to the live market")
    async def positions(p: Read, account_id: str | None = Query(None, max_length=64),
                        strategy: str | None = Query(None, max_length=64),
                        symbol: str | None = Query(None, max_length=64)) -> dict[str, Any]:
        eng = svc.engine
        items = [pos.as_dict(eng.marks.get(pos.symbol)) for (a, s, sym), pos in eng.ledger.positions.items()
                 if (account_id is None or a == account_id) and (strategy is None or s == strategy)
                 and (symbol is None or sym == symbol) and p.may_use(a)]
        return {"items": items, "count": len(items)}

    # ---- algorithms -----------------------------------------------------------
    @r.post("/algorithms", status_code=201, summary="Start a TWAP, VWAP or POV parent order")
    async def create_algo(req: CreateAlgo, p: Trade) -> dict[str, Any]:
        own(p, req.account_id)
        return await svc.create_algo(req)

    @r.get("/algorithms", summary="Algorithms with progress")
    async def list_algos(p: Read, account_id: str | None = Query(None, max_length=64)) -> dict[str, Any]:
        now = time.time_ns()
        items = [a.s.view(now) for a in svc.algos.values()
                 if (account_id is None or a.s.account_id == account_id) and p.may_use(a.s.account_id)]
        return {"items": items, "count": len(items)}

    @r.get("/algorithms/{algo_id}", summary="One algorithm's progress")
    async def get_algo(algo_id: str, p: Read) -> dict[str, Any]:
        a = svc.algo(algo_id)
        own(p, a.s.account_id)
        return a.s.view(time.time_ns())

    for action in ("pause", "resume", "cancel"):
        def make(action: str):  # noqa: ANN202
            async def control(algo_id: str, p: Trade) -> dict[str, Any]:
                own(p, svc.algo(algo_id).s.account_id)
                return await svc.control_algo(algo_id, action)
            control.__name__ = f"{action}_algorithm"
            return control
        r.post(f"/algorithms/{{algo_id}}/{action}", summary=f"{action.capitalize()} an algorithm")(make(action))

    # ---- kill switch ----------------------------------------------------------
    @r.get("/kill-switch", summary="Kill switch state")
    async def get_kill(p: Read) -> dict[str, Any]:
        return svc.kill_state()

    @r.post("/kill-switch", summary="Activate or release a kill switch (activating cancels open orders)")
    async def set_kill(req: KillSwitch, p: RiskAdmin) -> dict[str, Any]:
        if req.account_id is None and p.account_ids is not None:
            raise Forbidden("a key limited to some accounts may not use the global kill switch", field="account_id")
        if req.account_id is not None:
            own(p, req.account_id)
        return await svc.set_kill(req.active, req.account_id, req.reason)

    # ---- venues, books, router ------------------------------------------------
    @r.get("/venues", summary="Simulated venues: fees, latency, liquidity profile")
    async def venues(p: Read) -> dict[str, Any]:
        items = [{**v.profile.as_dict(), "instruments": sorted(v.books)} for v in svc.engine.venues.values()]
        return {"items": items, "count": len(items)}

    @r.get("/venues/{venue}/books/{symbol}", summary="Top-N levels of one venue's book")
    async def book(venue: str, symbol: str, p: Read, depth: int = 10) -> dict[str, Any]:
        if depth < 1 or depth > 100:
            raise InvalidInput("depth must be 1..100", field="depth")
        v = svc.engine.venues.get(venue)
        if v is None:
            raise NotFound(f"no venue {venue!r}", field="venue")
        b = v.books.get(symbol)
        levels = b.depth(depth) if b else {"bids": [], "asks": []}
        return {"venue": venue, "symbol": symbol, "bids": [{"price": px, "qty": q} for px, q in levels["bids"]],
                "asks": [{"price": px, "qty": q} for px, q in levels["asks"]],
                "last_price": svc.engine.marks.get(symbol)}

    @r.get("/router/decisions", summary="Smart order router decisions with execution quality")
    async def decisions(p: Read, order_id: str | None = Query(None, max_length=64),
                        account_id: str | None = Query(None, max_length=64), limit: int = 100) -> dict[str, Any]:
        limit, _ = page(limit, 0)
        items = await store.list_decisions(svc.pool, {"order_id": order_id, "account_id": account_id}, limit)
        items = [d for d in items if p.may_use(d["account_id"])]
        return {"items": items, "count": len(items)}

    # ---- reconciliation ----------------------------------------------------
    @r.post("/reconciliation", summary="Prove positions and cash equal the replay of all fills")
    async def reconcile(p: Admin) -> dict[str, Any]:
        return await svc.reconcile()

    @r.get("/health", summary="Trading core health")
    async def health(p: Read) -> dict[str, Any]:
        return await svc.health()

    return r
