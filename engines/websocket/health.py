"""Engine health on the bus: the :8600 process probes every engine's ``/health`` and publishes
``health.engine.<name>`` (``{engine, status, latency_ms, detail}``; status ``ok``, ``degraded`` or
``down``) on each probe round, so dashboards and notification rules see an engine go down."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import aiohttp

from backend.auth.guard import INTERNAL_HEADER
from backend.bus import Bus
from backend.core.settings import ENGINE_PORTS, Settings

log = logging.getLogger(__name__)

HEALTH_TOPIC_PREFIX = "health.engine."
PROBE_TIMEOUT_S = 2.0


def health_topic(engine: str) -> str:
    return HEALTH_TOPIC_PREFIX + engine


class HealthWatcher:
    def __init__(self, bus: Bus, settings: Settings, interval_s: float = 5.0, me: str = "websocket") -> None:
        self.bus, self.settings, self.interval_s = bus, settings, interval_s
        self.targets = {name: settings.engine_replicas(name)[0] for name in ENGINE_PORTS if name != me}
        self.last: dict[str, dict[str, Any]] = {}
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ws-health-watcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def probe(self, http: aiohttp.ClientSession, engine: str, url: str) -> dict[str, Any]:
        headers = {INTERNAL_HEADER: self.settings.internal_token} if self.settings.internal_token else {}
        t0 = time.perf_counter()
        try:
            async with http.get(url + "/health", headers=headers,
                                timeout=aiohttp.ClientTimeout(total=PROBE_TIMEOUT_S)) as r:
                body = await r.json(content_type=None)
                status = body.get("status", "degraded") if r.status == 200 else "degraded"
                detail = None if status == "ok" else f"HTTP {r.status}: {str(body)[:200]}"
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as e:
            status, detail = "down", f"{type(e).__name__}: {e}"[:200]
        return {"engine": engine, "status": status, "latency_ms": round((time.perf_counter() - t0) * 1e3, 3),
                "detail": detail, "previous": self.last.get(engine, {}).get("status")}

    async def round(self, http: aiohttp.ClientSession) -> list[dict[str, Any]]:
        results = await asyncio.gather(*(self.probe(http, e, u) for e, u in self.targets.items()))
        for r in results:
            self.last[r["engine"]] = r
            with contextlib.suppress(Exception):  # Redis down: the next round says it again
                await self.bus.broadcast(health_topic(r["engine"]), health_topic(r["engine"]), "engine_health", r)
        return results

    async def _run(self) -> None:
        async with aiohttp.ClientSession() as http:
            while True:
                try:
                    await self.round(http)
                except Exception:  # noqa: BLE001 - a probe round must never end the watcher
                    log.warning("health round failed", exc_info=True)
                await asyncio.sleep(self.interval_s)
