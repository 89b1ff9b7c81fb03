"""Controls: the kill switch (risk-admin), reconciliation (admin), the core's health (read)."""

from typing import Any

from fastapi import APIRouter

from backend.core.errors import Forbidden
from backend.core.scopes import Scope
from backend.trading.models import KillSwitch
from backend.trading.responses import KillSwitchResult, KillSwitchState, Reconciliation, TradingHealth
from backend.trading.routes.deps import PROBLEMS, own, principal
from backend.trading.service import TradingService


def router(svc: TradingService) -> APIRouter:
    r = APIRouter(tags=["trading: controls"], responses=PROBLEMS)
    Read, Admin, RiskAdmin = (principal(svc, s) for s in (Scope.READ, Scope.ADMIN, Scope.RISK_ADMIN))

    @r.get("/kill-switch", response_model=KillSwitchState, response_model_by_alias=True,
           summary="Kill switch state")
    async def get_kill(p: Read) -> dict[str, Any]:
        await svc.durable()
        return svc.accounts.kill_state()

    @r.post("/kill-switch", response_model=KillSwitchResult,
            summary="Activate or release a kill switch (activating cancels open orders and algorithms)")
    async def set_kill(p: RiskAdmin, req: KillSwitch) -> dict[str, Any]:
        if req.account_id is None and p.account_ids is not None:
            raise Forbidden("a key limited to some accounts may not use the global kill switch", field="account_id")
        if req.account_id is not None:
            own(p, req.account_id)
        return await svc.accounts.set_kill(req.active, req.account_id, req.reason)

    @r.post("/reconciliation", response_model=Reconciliation,
            summary="Prove positions and cash (stored and in memory) equal the replay of all fills")
    async def reconcile(p: Admin) -> dict[str, Any]:
        return await svc.reconcile()

    @r.get("/health", response_model=TradingHealth, summary="Trading core health: writer, outbox, feed, halts")
    async def health(p: Read) -> dict[str, Any]:
        return await svc.health()

    return r
