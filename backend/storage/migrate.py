"""Apply numbered SQL migrations (``migrations/NNNN_name.sql``) in order, once each.

Applied versions are recorded in ``schema_migrations``; a transaction-level
advisory lock makes concurrent starts safe. Run: ``python -m backend.storage.migrate``.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import asyncpg

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_KEY = 0x4E415554  # 'NAUT'


def discover(directory: Path = MIGRATIONS_DIR) -> list[tuple[int, str, Path]]:
    """(version, name, path) sorted by version; duplicate versions are an error."""
    found: dict[int, tuple[int, str, Path]] = {}
    for path in sorted(directory.glob("*.sql")):
        m = _NAME.match(path.name)
        if not m:
            raise ValueError(f"migration file name not NNNN_name.sql: {path.name}")
        version = int(m.group(1))
        if version in found:
            raise ValueError(f"two migrations with version {version}")
        found[version] = (version, m.group(2), path)
    return [found[v] for v in sorted(found)]


async def apply(conn: asyncpg.Connection, directory: Path = MIGRATIONS_DIR) -> list[int]:
    """Apply pending migrations; returns the versions applied now."""
    await conn.execute(
        """CREATE TABLE IF NOT EXISTS schema_migrations (
               version integer PRIMARY KEY,
               name text NOT NULL,
               applied_at timestamptz NOT NULL DEFAULT now())"""
    )
    applied_now: list[int] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for version, name, path in discover(directory):
            if version in done:
                continue
            await conn.execute(path.read_text())
            await conn.execute("INSERT INTO schema_migrations(version, name) VALUES ($1, $2)", version, name)
            applied_now.append(version)
    return applied_now


async def migrate_url(url: str) -> list[int]:
    from backend.storage.db import ensure_database

    await ensure_database(url)
    conn = await asyncpg.connect(url, timeout=5)
    try:
        return await apply(conn)
    finally:
        await conn.close()


def main() -> None:
    from backend.core.settings import get_settings

    url = get_settings().database_url
    if not url:
        raise SystemExit("DATABASE_URL is not set")
    applied = asyncio.run(migrate_url(url))
    print(f"migrations applied: {applied or 'none pending'}")


if __name__ == "__main__":
    main()
