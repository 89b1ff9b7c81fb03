"""API keys, stored as SHA-256 hashes in ``api_keys``; the plaintext is shown once, at creation.

Keys are 32 random bytes (``ntk_<urlsafe>``), so an unsalted SHA-256 is safe to store and a
lookup is one indexed query. A key holds scopes (``backend.core.scopes``) and may be limited to
some trading accounts. Lookups are cached for ``CACHE_TTL_S`` per process; revoking clears this
process's cache, so another process may honour a revoked key for at most that long.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from backend.core.scopes import ALL_SCOPES, Scope, grants

HEADER = "X-API-Key"
#: Name of the admin key the start script generates (and ``rotate-admin-key`` replaces).
BOOTSTRAP_NAME = "bootstrap-admin"
MAX_KEY_CHARS = 200
CACHE_TTL_S = 5.0
_CACHE_MAX = 10_000


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a stored key, or the gateway itself (``INTERNAL``)."""

    key_id: str
    name: str
    scopes: frozenset[str]
    account_ids: frozenset[str] | None  # None: every account

    def allows(self, scope: Scope | str) -> bool:
        return grants(self.scopes, scope)

    def may_use(self, account_id: str) -> bool:
        return self.account_ids is None or account_id in self.account_ids

    def view(self) -> dict[str, Any]:
        return {"key_id": self.key_id, "name": self.name, "scopes": sorted(self.scopes),
                "account_ids": sorted(self.account_ids) if self.account_ids is not None else None}


#: The gateway calling an engine with the instance's internal token: it has already authorised the caller.
INTERNAL = Principal("internal", "gateway", frozenset(ALL_SCOPES), None)


def new_key() -> str:
    return "ntk_" + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def create_key(db: asyncpg.Pool | asyncpg.Connection, name: str, scopes: list[str],
                     account_ids: list[str] | None = None, key: str | None = None) -> tuple[str, str]:
    """Store a key (generated unless given); returns (key id, plaintext key: show it once)."""
    unknown = sorted(set(scopes) - set(ALL_SCOPES))
    if unknown:
        raise ValueError(f"unknown scopes {unknown}")
    key = key or new_key()
    key_id = uuid.uuid4().hex[:16]
    stored = await db.fetchval(
        "INSERT INTO api_keys (id, name, key_hash, scopes, account_ids) VALUES ($1,$2,$3,$4,$5) "
        "ON CONFLICT (key_hash) DO UPDATE SET scopes = EXCLUDED.scopes, account_ids = EXCLUDED.account_ids, "
        "revoked_at = NULL RETURNING id", key_id, name, hash_key(key), sorted(set(scopes)), account_ids)
    forget_all()
    return stored, key


async def revoke(db: asyncpg.Pool | asyncpg.Connection, key_id: str) -> bool:
    done = await db.execute("UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL", key_id)
    forget_all()
    return not done.endswith(" 0")


async def list_keys(db: asyncpg.Pool | asyncpg.Connection, include_revoked: bool = False) -> list[dict[str, Any]]:
    rows = await db.fetch("SELECT id, name, scopes, account_ids, created_at, revoked_at FROM api_keys"
                          + ("" if include_revoked else " WHERE revoked_at IS NULL") + " ORDER BY created_at")
    return [{"id": r["id"], "name": r["name"], "scopes": list(r["scopes"]), "account_ids": r["account_ids"],
             "created_at": r["created_at"].isoformat(),
             "revoked_at": r["revoked_at"].isoformat() if r["revoked_at"] else None} for r in rows]


async def any_admin(db: asyncpg.Pool | asyncpg.Connection) -> bool:
    return bool(await db.fetchval(
        "SELECT 1 FROM api_keys WHERE 'admin' = ANY(scopes) AND revoked_at IS NULL LIMIT 1"))


async def rotate_admin(db: asyncpg.Connection) -> str:
    """Revoke every bootstrap admin key and create a new one; returns its plaintext (show it once)."""
    async with db.transaction():
        await db.execute("UPDATE api_keys SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL",
                         BOOTSTRAP_NAME)
        _, key = await create_key(db, BOOTSTRAP_NAME, [Scope.ADMIN.value])
    return key


#: hash -> (principal or None for unknown, monotonic expiry)
_CACHE: dict[str, tuple[Principal | None, float]] = {}


def forget_all() -> None:
    _CACHE.clear()


async def lookup(db: asyncpg.Pool, key: str) -> Principal | None:
    """The principal of an active key, or None. Malformed keys never reach the database."""
    if not key or len(key) > MAX_KEY_CHARS or not key.isascii():
        return None
    h = hash_key(key)
    now = time.monotonic()
    hit = _CACHE.get(h)
    if hit is not None and hit[1] > now:
        return hit[0]
    r = await db.fetchrow("SELECT id, name, scopes, account_ids FROM api_keys WHERE key_hash = $1 "
                          "AND revoked_at IS NULL", h)
    p = None if r is None else Principal(r["id"], r["name"], frozenset(r["scopes"]),
                                         frozenset(r["account_ids"]) if r["account_ids"] is not None else None)
    if len(_CACHE) >= _CACHE_MAX:
        _CACHE.clear()
    _CACHE[h] = (p, now + CACHE_TTL_S)
    return p
