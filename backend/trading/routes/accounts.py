"""Accounts: create (admin), read (read), limits and risk limit sets (risk-admin)."""

from typing import Annotated, Any

from fastapi import APIRouter, Path

from backend.core.scopes import Scope
from backend.trading.models import AssignLimitSet, CreateAccount, Limits
from backend.trading.responses import AccountList, AccountView
from backend.trading.routes.deps import PROBLEMS, own, principal
from backend.trading.service import TradingService

AccountId = Annotated[str, Path(max_length=64)]


def router(svc: TradingService) -> APIRouter:
    r = APIRouter(tags=["trading: accounts"], responses=PROBLEMS)
    Read, Admin, RiskAdmin = (principal(svc, s) for s in (Scope.READ, Scope.ADMIN, Scope.RISK_ADMIN))

    @r.post("/accounts", status_code=201, response_model=AccountView, summary="Create a paper account")
    async def create_account(p: Admin, req: CreateAccount) -> dict[str, Any]:
        return await svc.accounts.create(req)

    @r.get("/accounts", response_model=AccountList, summary="Accounts with cash, equity, margin and P&L")
    async def list_accounts(p: Read) -> dict[str, Any]:
        await svc.durable()
        items = [svc.engine.account_view(a) for a in svc.engine.accounts.values() if p.may_use(a.id)]
        return {"items": items, "count": len(items)}

    @r.get("/accounts/{account_id}", response_model=AccountView, summary="One account")
    async def get_account(p: Read, account_id: AccountId) -> dict[str, Any]:
        own(p, account_id)
        await svc.durable()
        return svc.engine.account_view(svc.engine.account(account_id))

    @r.put("/accounts/{account_id}/limits", response_model=AccountView,
           summary="Replace an account's pre-trade risk limits")
    async def put_limits(p: RiskAdmin, account_id: AccountId, limits: Limits) -> dict[str, Any]:
        own(p, account_id)
        return await svc.accounts.set_limits(account_id, limits.model_dump())

    @r.put("/accounts/{account_id}/risk-limit-set", response_model=AccountView,
           summary="Make the account's pre-trade checks follow a risk engine limit set (null: its own limits)")
    async def put_limit_set(p: RiskAdmin, account_id: AccountId, req: AssignLimitSet) -> dict[str, Any]:
        own(p, account_id)
        return await svc.accounts.assign_limit_set(account_id, req.set_id)

    return r
