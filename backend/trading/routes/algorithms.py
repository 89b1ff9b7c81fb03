"""Execution algorithms: start and control (trade), list and get (read)."""

import time
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from backend.core.scopes import Scope
from backend.trading.models import CreateAlgo
from backend.trading.responses import AlgoList, AlgoView
from backend.trading.routes.deps import PROBLEMS, own, principal
from backend.trading.service import TradingService

AlgoId = Annotated[str, Path(max_length=64)]
ACTIONS = ("pause", "resume", "cancel")


def router(svc: TradingService) -> APIRouter:
    r = APIRouter(tags=["trading: algorithms"], responses=PROBLEMS)
    Read, Trade = principal(svc, Scope.READ), principal(svc, Scope.TRADE)

    @r.post("/algorithms", status_code=201, response_model=AlgoView, summary="Start a TWAP, VWAP or POV parent order")
    async def create_algo(p: Trade, req: CreateAlgo) -> dict[str, Any]:
        own(p, req.account_id)
        return await svc.algos.create(req)

    @r.get("/algorithms", response_model=AlgoList, summary="Algorithms with progress")
    async def list_algos(p: Read, account_id: Annotated[str | None, Query(max_length=64)] = None) -> dict[str, Any]:
        await svc.durable()
        now = time.time_ns()
        items = [a.s.view(now) for a in svc.algos.runners.values()
                 if (account_id is None or a.s.account_id == account_id) and p.may_use(a.s.account_id)]
        return {"items": items, "count": len(items)}

    @r.get("/algorithms/{algo_id}", response_model=AlgoView, summary="One algorithm's progress")
    async def get_algo(p: Read, algo_id: AlgoId) -> dict[str, Any]:
        await svc.durable()
        a = svc.algos.get(algo_id)
        own(p, a.s.account_id)
        return a.s.view(time.time_ns())

    for action in ACTIONS:
        def make(action: str):  # noqa: ANN202 - one route per action, same shape
            async def control(p: Trade, algo_id: AlgoId) -> dict[str, Any]:
                own(p, svc.algos.get(algo_id).s.account_id)
                return await svc.algos.control(algo_id, action)
            control.__name__ = f"{action}_algorithm"
            return control
        r.post(f"/algorithms/{{algo_id}}/{action}", response_model=AlgoView,
               summary=f"{action.capitalize()} an algorithm")(make(action))
    return r
