"""Test infrastructure: real PostgreSQL and Redis, found or started once per session.

PostgreSQL: TEST_DATABASE_URL, else the local server on 5432, else an embedded one.
Each session gets a fresh database ``nautilus_test_<pid>`` with every migration
applied, dropped at the end. Redis: TEST_REDIS_URL, else local 6379, else embedded;
tests use logical database 15 and the session's instance prefix (``test<pid>:``,
tests/support/access.py), whose keys are deleted before and after the session, so
concurrent sessions on one machine never see each other's streams or channels.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio

from backend.launcher import infra
from backend.storage.db import with_database
from backend.storage.migrate import migrate_url
from tests.support.access import ADMIN_KEY, TEST_INSTANCE

TEST_REDIS_DB = 15


@pytest.fixture(scope="session")
def infra_dir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="nautilus-test-"))
    yield d


@pytest.fixture(scope="session")
def server_database_url(infra_dir: Path) -> Iterator[str]:
    """URL of a PostgreSQL server (database 'postgres') for the whole test session."""
    url = os.environ.get("TEST_DATABASE_URL")
    started = False
    if not url:
        if infra.port_open("127.0.0.1", 5432):
            url = "postgresql://postgres@127.0.0.1:5432/postgres"
        else:
            url = with_database(infra.start_embedded_postgres(infra_dir, port=55433), "postgres")
            started = True
    yield url
    if started:
        infra.stop_embedded_postgres(infra_dir / "pgdata")


@pytest.fixture(scope="session")
def database_url(server_database_url: str) -> Iterator[str]:
    """A fresh database with all migrations applied; dropped after the session."""
    name = f"nautilus_test_{os.getpid()}"
    url = with_database(server_database_url, name)

    async def create() -> None:
        conn = await asyncpg.connect(server_database_url)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.close()
        await migrate_url(url)

    async def drop() -> None:
        conn = await asyncpg.connect(server_database_url)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()

    asyncio.run(create())
    yield url
    asyncio.run(drop())


@pytest.fixture(scope="session")
def redis_url(infra_dir: Path) -> Iterator[str]:
    url = os.environ.get("TEST_REDIS_URL")
    pid = None
    if not url:
        if infra.port_open("127.0.0.1", 6379):
            url = f"redis://127.0.0.1:6379/{TEST_REDIS_DB}"
        else:
            base, pid = infra.start_embedded_redis(infra_dir, port=56380)
            url = base.rsplit("/", 1)[0] + f"/{TEST_REDIS_DB}"
    import redis

    client = redis.from_url(url)
    _delete_prefixed(client)
    yield url
    _delete_prefixed(client)
    client.close()
    if pid:
        infra.stop_pid(pid)


def _delete_prefixed(client) -> None:  # noqa: ANN001
    keys = list(client.scan_iter(match=f"{TEST_INSTANCE}:*", count=1000))
    for i in range(0, len(keys), 500):
        client.delete(*keys[i:i + 500])


@pytest.fixture(scope="session")
def admin_key(database_url: str) -> str:
    """The admin key of the test instance, stored hashed in the session's database."""
    from backend.auth import keys

    async def store() -> None:
        conn = await asyncpg.connect(database_url)
        await keys.create_key(conn, keys.BOOTSTRAP_NAME, ["admin"], key=ADMIN_KEY)
        await conn.close()

    asyncio.run(store())
    return ADMIN_KEY


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def db_pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def bus(redis_url: str):  # noqa: ANN201
    from backend.bus import Bus
    from backend.bus.redis_bus import instance_prefix

    b = Bus.from_url(redis_url, prefix=instance_prefix(TEST_INSTANCE))
    yield b
    await b.close()
