"""Scoped API keys for the trading endpoints, stored as SHA-256 hashes.

Keys are 32 random bytes (``ntk_<urlsafe>``), so an unsalted SHA-256 is safe to store and
lets a lookup be one indexed query. Scopes: ``read`` (every key has it), ``trade`` (orders,
algorithms), ``admin`` (accounts, limits, kill switch, keys). A key may be limited to some
accounts. Reads may be left open to loopback clients by configuration.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass

import asyncpg

SCOPES = ("read", "trade", "admin")
HEADER = "X-API-Key"


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: str
    name: str
    scopes: frozenset[str]
    account_ids: frozenset[str] | None  # None: all accounts

    def allows(self, scope: str) -> bool:
        return scope == "read" or scope in self.scopes or "admin" in self.scopes

    def may_use(self, account_id: str) -> bool:
        return self.account_ids is None or account_id in self.account_ids


LOOPBACK = Principal("loopback", "loopback reader", frozenset({"read"}), None)


def new_key() -> str:
    return "ntk_" + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def create_key(pool: asyncpg.Pool, name: str, scopes: list[str], account_ids: list[str] | None = None,
                     key: str | None = None) -> tuple[str, str]:
    """Store a key (generated unless given); returns (key id, plaintext key: shown once)."""
    key = key or new_key()
    key_id = uuid.uuid4().hex[:16]
    await pool.execute(
        "INSERT INTO trading_api_keys (id, name, key_hash, scopes, account_ids) VALUES ($1,$2,$3,$4,$5) "
        "ON CONFLICT (key_hash) DO UPDATE SET scopes = EXCLUDED.scopes, revoked_at = NULL",
        key_id, name, hash_key(key), scopes, account_ids)
    return key_id, key


#: hash -> (principal, monotonic expiry); revocation clears it, so the TTL only bounds other processes
_CACHE: dict[str, tuple[Principal | None, float]] = {}
CACHE_TTL_S = 5.0


def forget_all() -> None:
    _CACHE.clear()


async def lookup(pool: asyncpg.Pool, key: str) -> Principal | None:
    import time

    h = hash_key(key)
    hit = _CACHE.get(h)
    now = time.monotonic()
    if hit is not None and hit[1] > now and hit[0] is not None:
        return hit[0]
    p = await _lookup(pool, h)
    if len(_CACHE) > 10_000:
        _CACHE.clear()
    _CACHE[h] = (p, now + CACHE_TTL_S)
    return p


async def _lookup(pool: asyncpg.Pool, key_hash: str) -> Principal | None:
    r = await pool.fetchrow("SELECT id, name, scopes, account_ids FROM trading_api_keys "
                            "WHERE key_hash = $1 AND revoked_at IS NULL", key_hash)
    if r is None:
        return None
    return Principal(r["id"], r["name"], frozenset(r["scopes"]),
                     frozenset(r["account_ids"]) if r["account_ids"] is not None else None)


async def any_admin(pool: asyncpg.Pool) -> bool:
    return bool(await pool.fetchval(
        "SELECT 1 FROM trading_api_keys WHERE 'admin' = ANY(scopes) AND revoked_at IS NULL LIMIT 1"))
