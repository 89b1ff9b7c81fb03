"""Routes for API keys under ``/api/v1/auth``: who am I, and (admin) create, list, revoke.

A key's plaintext is returned once, by the call that creates it; only its SHA-256 is stored.
"""


from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import Field

from backend.auth import keys
from backend.auth.guard import Authenticator
from backend.auth.keys import Principal
from backend.contract.operation import Model
from backend.core.errors import BackendUnavailable, NotFound
from backend.core.scopes import Scope

Ident = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
KeyName = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f]+$")]


class CreateApiKey(Model):
    name: KeyName
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=len(Scope))]
    account_ids: Annotated[list[Ident], Field(max_length=1000)] | None = Field(
        default=None, description="trading accounts the key may act on; omit for every account")


class CreatedApiKey(Model):
    id: str
    key: str = Field(description="the plaintext key: shown this once, store it now")
    name: str
    scopes: list[str]
    account_ids: list[str] | None


class WhoAmI(Model):
    key_id: str
    name: str
    scopes: list[str]
    account_ids: list[str] | None


class ApiKeyInfo(Model):
    id: str
    name: str
    scopes: list[str]
    account_ids: list[str] | None
    created_at: str
    revoked_at: str | None


class ApiKeyList(Model):
    items: list[ApiKeyInfo]
    count: int


class Revoked(Model):
    id: str
    revoked: bool


def build_router(auth: Authenticator, db: Callable[[], Any]) -> APIRouter:
    r = APIRouter(prefix="/api/v1/auth", tags=["auth"])

    def pool() -> Any:
        p = db()
        if p is None:
            raise BackendUnavailable("API keys are unavailable: no database connection")
        return p

    async def caller(request: Request) -> Principal:
        return await auth.principal(request.headers)

    async def admin(request: Request) -> Principal:  # a dependency: runs before the body is validated
        return await auth.require(request.headers, Scope.ADMIN)

    Caller = Annotated[Principal, Depends(caller)]
    Admin = Annotated[Principal, Depends(admin)]

    @r.get("/whoami", response_model=WhoAmI, summary="The calling key's name, scopes and accounts")
    async def whoami(p: Caller) -> dict[str, Any]:
        return p.view()

    @r.post("/keys", status_code=201, response_model=CreatedApiKey,
            summary="Create a scoped API key (admin); the plaintext key is shown once")
    async def create(p: Admin, req: CreateApiKey) -> dict[str, Any]:
        key_id, key = await keys.create_key(pool(), req.name, [s.value for s in req.scopes], req.account_ids)
        return {"id": key_id, "key": key, "name": req.name, "scopes": sorted(s.value for s in req.scopes),
                "account_ids": req.account_ids}

    @r.get("/keys", response_model=ApiKeyList, summary="Active API keys (admin); never their plaintext")
    async def list_(p: Admin) -> dict[str, Any]:
        items = await keys.list_keys(pool())
        return {"items": items, "count": len(items)}

    @r.delete("/keys/{key_id}", response_model=Revoked, summary="Revoke an API key (admin)")
    async def revoke(p: Admin, key_id: Annotated[str, Path(max_length=64)]) -> dict[str, Any]:
        if not await keys.revoke(pool(), key_id):
            raise NotFound(f"no active key {key_id!r}", field="key_id")
        return {"id": key_id, "revoked": True}

    return r
