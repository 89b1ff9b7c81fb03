"""Rules as the notifier holds them: loaded from PostgreSQL, reloaded after any change made in this
process (``rules_changed``, called by the operations) and at least every ``RELOAD_S``."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson

#: Reload at least this often (rules changed by another process of the instance).
RELOAD_S = 5.0
_GENERATION = [0]


def rules_changed() -> None:
    """Tell this process's notifier that rules changed (the next event reloads them)."""
    _GENERATION[0] += 1


@dataclass(frozen=True)
class LoadedRule:
    id: str
    name: str
    event: str
    conditions: tuple[dict[str, Any], ...]
    priority: str
    channels: tuple[dict[str, Any], ...]
    group_by: tuple[str, ...]
    window_s: float
    escalate_after_s: float | None
    escalate_to: tuple[dict[str, Any], ...]

    def matches(self, payload: dict[str, Any]) -> bool:
        return all(_holds(payload.get(c["field"]), c["op"], c["value"]) for c in self.conditions)

    def dedup_key(self, payload: dict[str, Any]) -> str:
        return "|".join([self.id, *(str(payload.get(f)) for f in self.group_by)])


def _holds(v: Any, op: str, want: Any) -> bool:
    if op == "eq":
        return v == want
    if op == "ne":
        return v != want
    if op == "in":
        return v in want
    if not isinstance(v, int | float) or isinstance(v, bool):
        return False
    return {"gt": v > want, "gte": v >= want, "lt": v < want, "lte": v <= want}[op]


class RuleBook:
    def __init__(self, db: Any) -> None:
        self.db = db
        self.by_event: dict[str, list[LoadedRule]] = {}
        self._generation = -1
        self._loaded_at = 0.0

    async def current(self) -> dict[str, list[LoadedRule]]:
        if self._generation != _GENERATION[0] or time.monotonic() - self._loaded_at > RELOAD_S:
            generation = _GENERATION[0]
            rows = await self.db.fetch(
                "SELECT id, name, event_kind, conditions, priority, channels, group_by, window_s, escalate_after_s, "
                "escalate_channels FROM notification_rules WHERE enabled ORDER BY created_at, id")
            by_event: dict[str, list[LoadedRule]] = {}
            for r in rows:
                by_event.setdefault(r["event_kind"], []).append(LoadedRule(
                    r["id"], r["name"], r["event_kind"], tuple(orjson.loads(r["conditions"])), r["priority"],
                    tuple(orjson.loads(r["channels"])), tuple(r["group_by"]), r["window_s"], r["escalate_after_s"],
                    tuple(orjson.loads(r["escalate_channels"]))))
            self.by_event, self._generation, self._loaded_at = by_event, generation, time.monotonic()
        return self.by_event
