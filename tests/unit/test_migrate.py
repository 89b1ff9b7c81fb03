from pathlib import Path

import asyncpg
import pytest

from backend.storage import migrate

pytestmark = pytest.mark.timeout(30)


async def test_migrations_when_applied_then_recorded_once_in_order(database_url, tmp_path: Path):
    conn = await asyncpg.connect(database_url)
    try:
        versions = [r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations ORDER BY 1")]
        assert versions == [v for v, _, _ in migrate.discover()]
        assert await migrate.apply(conn) == []  # idempotent
        assert await conn.fetchval("SELECT to_regclass('instruments') IS NOT NULL")
    finally:
        await conn.close()


def test_discover_when_name_malformed_then_error(tmp_path: Path):
    (tmp_path / "1_bad.sql").write_text("SELECT 1")
    with pytest.raises(ValueError, match="NNNN_name"):
        migrate.discover(tmp_path)
