"""Pure ASGI middleware of every HTTP process: the request id, and the request's latency by route.

The id comes from the caller's ``X-Request-Id`` when it is a short token, else a new one; it is set
in ``REQUEST_ID`` for everything the request runs (log lines, calls to engines and native
processes, which pass it on) and returned in the response's ``X-Request-Id``. The latency goes to
``nautilus_http_request_seconds`` labelled by route template (``/api/v1/trading/orders/{order_id}``,
never the raw path: a bounded set), method and status code; a request no route matched is
``unmatched``. ``/metrics`` itself is not timed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from backend.core import metrics
from backend.core.logging import REQUEST_ID, REQUEST_ID_HEADER, accept_request_id

_HEADER = REQUEST_ID_HEADER.lower().encode()
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


def route_label(scope: dict[str, Any]) -> str:
    route = scope.get("route")
    if route is not None and getattr(route, "path", None):
        return route.path  # FastAPI routes: the template
    if "endpoint" in scope:
        return scope["path"]  # plain routes (engine operations) have no parameters
    return "unmatched"


class RequestContext:
    def __init__(self, app: Any, process: str) -> None:
        self.app = app
        self.process = process

    async def __call__(self, scope: dict, receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                token = REQUEST_ID.set(accept_request_id(_find(scope)))
                try:
                    await self.app(scope, receive, send)
                finally:
                    REQUEST_ID.reset(token)
                return
            await self.app(scope, receive, send)
            return
        rid = accept_request_id(_find(scope))
        token = REQUEST_ID.set(rid)
        status = 0
        header = (_HEADER, rid.encode())

        async def tagged_send(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        t0 = time.perf_counter()
        try:
            await self.app(scope, receive, tagged_send)
        finally:
            REQUEST_ID.reset(token)
            if scope["path"] != "/metrics":
                method = scope["method"] if scope["method"] in _METHODS else "OTHER"
                metrics.HTTP_LATENCY.labels(self.process, route_label(scope), method, str(status or 500)).observe(
                    time.perf_counter() - t0)


def _find(scope: dict[str, Any]) -> bytes | None:
    for key, value in scope["headers"]:
        if key == _HEADER:
            return value
    return None
