"""asyncpg pool creation with bounded waits."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from backend.core.errors import BackendUnavailable


async def create_pool(url: str, *, max_size: int = 4, timeout_s: float = 3.0) -> asyncpg.Pool:
    """Open a pool; a server that does not answer within ``timeout_s`` is BackendUnavailable."""
    try:
        return await asyncio.wait_for(
            asyncpg.create_pool(url, min_size=1, max_size=max_size, command_timeout=30, timeout=timeout_s),
            timeout_s + 1,
        )
    except (TimeoutError, OSError, asyncpg.PostgresError) as e:
        raise BackendUnavailable(f"database not reachable: {e}") from e


async def ping(pool: asyncpg.Pool | None, timeout_s: float = 1.0) -> dict:
    """Health probe: {'ok': bool, 'latency_ms': float, 'error'?: str}."""
    if pool is None:
        return {"ok": False, "error": "not configured"}
    t0 = time.perf_counter()
    try:
        await asyncio.wait_for(pool.fetchval("SELECT 1"), timeout_s)
        return {"ok": True, "latency_ms": round((time.perf_counter() - t0) * 1e3, 3)}
    except Exception as e:  # noqa: BLE001 - a health probe reports any failure
        return {"ok": False, "error": f"{type(e).__name__}: {e}"}


def with_database(url: str, database: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/") or "postgres"


async def ensure_database(url: str, timeout_s: float = 5.0) -> None:
    """Create the URL's database if it does not exist (connecting to 'postgres')."""
    name = database_name(url)
    conn = await asyncpg.connect(with_database(url, "postgres"), timeout=timeout_s)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
