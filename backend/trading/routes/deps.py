"""What every trading route shares: the scope dependencies, account ownership, paging, and the
problem-JSON responses documented in OpenAPI."""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Request

from backend.auth.keys import Principal
from backend.core.errors import Forbidden, InvalidInput
from backend.core.scopes import Scope
from backend.service.routes import RESPONSES, refuse_nul
from backend.trading.service import TradingService

PREFIX = "/api/v1/trading"
#: problem-JSON responses any trading route may give (documented once)
PROBLEMS: dict[int | str, dict[str, Any]] = {
    code: RESPONSES[code] for code in (401, 403, 413, 415, 422, 429)
} | {
    404: {"description": "No such account, order, algorithm or venue",
          "content": RESPONSES[422]["content"]},
    409: {"description": "Conflict with the current state (e.g. the order is no longer open)",
          "content": RESPONSES[422]["content"]},
    503: {"description": "TRADING_RECOVERING while state is rebuilt from the database, or the core is starting",
          "content": RESPONSES[422]["content"]},
}
MAX_OFFSET = 10_000_000


def need(svc: TradingService, scope: Scope) -> Callable[..., Any]:
    async def dep(request: Request) -> Principal:
        """Runs before the body is validated: the key first, then no NUL characters in the body."""
        p = await svc.auth.require(request.headers, scope)
        if request.method in ("POST", "PUT", "PATCH"):
            refuse_nul(await request.body())
        return p

    return dep


def principal(svc: TradingService, scope: Scope) -> Any:
    """``Annotated[Principal, Depends(...)]`` for a route parameter."""
    return Annotated[Principal, Depends(need(svc, scope))]


def own(p: Principal, account_id: str) -> None:
    if not p.may_use(account_id):
        raise Forbidden(f"this key may not act on account {account_id!r}", field="account_id")


def page(svc: TradingService, limit: int, offset: int) -> tuple[int, int]:
    if limit < 1 or limit > svc.config.max_page:
        raise InvalidInput(f"limit must be 1..{svc.config.max_page}", field="limit")
    if offset < 0 or offset > MAX_OFFSET:
        raise InvalidInput(f"offset must be 0..{MAX_OFFSET}", field="offset")
    return limit, offset
