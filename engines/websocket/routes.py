"""The websocket engine's live endpoint ``GET /ws`` and the process-wide parts it runs.

The process runs one hub (``hub.py``: one pub/sub pattern subscription and one stream reader for
every client), the engine health watcher (``health.py``) and the notifier (``notify/``), all started
in the app's lifespan. A client authenticates with an API key (``X-API-Key`` header, or the first
message ``{"action": "auth", "api_key": "..."}``) and subscribes to topic patterns; the scope each
topic family needs is checked at subscribe time (``topics.py``). The protocol and close codes are in
``session.py``; every topic and its message schema in docs/streams.md.
"""

from __future__ import annotations

import contextlib
import logging
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, WebSocket

from backend.auth.websocket import authenticate
from backend.core.settings import get_settings
from engines.websocket.health import HealthWatcher
from engines.websocket.hub import Hub
from engines.websocket.session import CLOSE_NO_BUS, Session, SessionLimits

log = logging.getLogger(__name__)


def extend(app: FastAPI) -> None:
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: FastAPI):  # noqa: ANN202
        async with inner(a) as state:
            settings = getattr(a.state, "settings", None) or get_settings()
            parts: list[Any] = []
            a.state.hub = None
            a.state.ws_limits = SessionLimits(settings.ws_max_queue_items, settings.ws_heartbeat_s,
                                              settings.ws_heartbeat_timeout_s)
            if a.state.bus is not None:
                hub = Hub(a.state.bus)
                await hub.start()
                a.state.hub = hub
                parts.append(hub)
                watcher = HealthWatcher(a.state.bus, settings, settings.health_probe_interval_s)
                watcher.start()
                parts.append(watcher)
                if a.state.db is not None:
                    from engines.websocket.notify.notifier import Notifier

                    notifier = Notifier(a.state.db, a.state.bus, settings, hub)
                    await notifier.start()
                    parts.append(notifier)
            try:
                yield state
            finally:
                for p in reversed(parts):
                    with contextlib.suppress(Exception):
                        await p.stop()

    app.router.lifespan_context = lifespan

    @app.websocket("/ws")
    async def ws(socket: WebSocket) -> None:
        await socket.accept()
        principal = await authenticate(socket, socket.app.state.auth, scope=None)
        if principal is None:
            return
        hub = getattr(socket.app.state, "hub", None)
        if hub is None:
            with contextlib.suppress(Exception):
                await socket.send_json({"type": "error", "code": "BUS_UNAVAILABLE",
                                        "detail": "the message bus is not configured (REDIS_URL)"})
                await socket.close(code=CLOSE_NO_BUS)
            return
        await Session(socket, hub, principal, socket.app.state.ws_limits).run()
