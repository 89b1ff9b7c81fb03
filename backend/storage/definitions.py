"""Versioned definitions: named things users define and engines store (feature sets, user factors,
risk limit sets), declared once as a ``Definitions`` and stored the same way.

    FEATURE_SETS = Definitions("feature_sets", "feature set", columns=("description", "indicators"),
                               jsonb=frozenset({"indicators"}), update_op="update_feature_set")
    row = await FEATURE_SETS.create(conn, {"name": ..., "description": ..., "indicators": [...]})

Every table has ``name`` (unique), ``version`` (1 at creation, +1 on every update), ``created_at``
and ``updated_at``; it is looked up by ``key`` (``name``, or a generated ``id``). A taken name is a
409, a missing one a 404 naming the request field; rows come back whole (``RETURNING *``). Child
rows (a limit set's limits) are the engine's own, written in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson

from backend.core.errors import Conflict, NotFound


@dataclass(frozen=True)
class Definitions:
    table: str
    noun: str
    #: payload columns besides the name
    columns: tuple[str, ...]
    jsonb: frozenset[str] = frozenset()
    #: lookup column: "name", or "id" where the table generates ids
    key: str = "name"
    #: the operation that changes an existing definition (named in the 409 of a duplicate create)
    update_op: str = ""

    def _value(self, column: str, value: Any) -> Any:
        return orjson.dumps(value).decode() if column in self.jsonb and value is not None else value

    def _cast(self, column: str, i: int) -> str:
        return f"${i}::jsonb" if column in self.jsonb else f"${i}"

    async def create(self, db: asyncpg.Connection | asyncpg.Pool, values: dict[str, Any]) -> asyncpg.Record:
        cols = ("name", *self.columns)
        sql = (f"INSERT INTO {self.table} ({', '.join(cols)}) VALUES "
               f"({', '.join(self._cast(c, i + 1) for i, c in enumerate(cols))}) RETURNING *")
        try:
            return await db.fetchrow(sql, *(self._value(c, values.get(c)) for c in cols))
        except asyncpg.UniqueViolationError as e:
            hint = f"; use {self.update_op}" if self.update_op else ""
            raise Conflict(f"a {self.noun} named {values['name']!r} already exists{hint}", field="name") from e

    async def update(self, db: asyncpg.Connection | asyncpg.Pool, key: Any, values: dict[str, Any], *,
                     field: str | None = None) -> asyncpg.Record:
        """Set the given columns (None leaves a column as it is), bump the version."""
        given = [(c, v) for c, v in values.items() if v is not None and c in ("name", *self.columns)]
        sets = [f"{c} = {self._cast(c, i + 2)}" for i, (c, _) in enumerate(given)]
        sql = (f"UPDATE {self.table} SET {', '.join([*sets, 'version = version + 1', 'updated_at = now()'])} "
               f"WHERE {self.key} = $1 RETURNING *")
        try:
            row = await db.fetchrow(sql, key, *(self._value(c, v) for c, v in given))
        except asyncpg.UniqueViolationError as e:
            raise Conflict(f"a {self.noun} named {values.get('name')!r} already exists", field="name") from e
        if row is None:
            raise self.missing(key, field)
        return row

    async def get(self, db: asyncpg.Connection | asyncpg.Pool, key: Any, *, field: str | None = None,
                  lock: bool = False) -> asyncpg.Record:
        row = await db.fetchrow(f"SELECT * FROM {self.table} WHERE {self.key} = $1" + (" FOR UPDATE" if lock else ""),
                                key)
        if row is None:
            raise self.missing(key, field)
        return row

    async def delete(self, db: asyncpg.Connection | asyncpg.Pool, key: Any, *, field: str | None = None) -> None:
        if await db.fetchval(f"DELETE FROM {self.table} WHERE {self.key} = $1 RETURNING {self.key}", key) is None:
            raise self.missing(key, field)

    async def page(self, db: asyncpg.Connection | asyncpg.Pool, limit: int, offset: int = 0,
                   order: str | None = None) -> tuple[list[asyncpg.Record], int]:
        """One page in ``order`` (default: the key), and the total count."""
        rows = await db.fetch(f"SELECT * FROM {self.table} ORDER BY {order or self.key} LIMIT $1 OFFSET $2",
                              limit, offset)
        return rows, await db.fetchval(f"SELECT count(*) FROM {self.table}")

    def missing(self, key: Any, field: str | None = None) -> NotFound:
        what = f"named {key!r}" if self.key == "name" else f"with {self.key} {key}"
        return NotFound(f"no {self.noun} {what}", field=field or self.key)
