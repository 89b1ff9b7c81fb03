"""Pure ASGI middleware of every HTTP process: the request id, and the request's latency by route.

The id comes from the caller's ``X-Request-Id`` when it is a short token, else a new one; it is set
in ``REQUEST_ID`` for everything the request runs (log lines, calls to engines and native
processes, which pass it on) and returned in the response's ``X-Request-Id``. The latency goes to
``nautilus_http_request_seconds`` labelled by route template (``/api/v1/trading/orders/{order_id}``,
never the raw path: a bounded set, taken from the app's routes), method and status code; a
path no documented route has is ``other``. ``/metrics`` itself is not timed. At DEBUG level each
request is also logged (logger ``nautilus.access``), so ``NAUTILUS_LOG_LEVEL=DEBUG`` shows one
request's line in every process it passed through.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any

from backend.core import metrics
from backend.core.logging import REQUEST_ID, REQUEST_ID_HEADER, accept_request_id

access_log = logging.getLogger("nautilus.access")
_HEADER = REQUEST_ID_HEADER.lower().encode()
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


class RouteTemplates:
    """Raw path -> the template of the documented route it matches (a dict hit for paths without
    parameters, a few regexes for those with them)."""

    def __init__(self, paths: list[str]) -> None:
        self.static = {p: p for p in paths if "{" not in p}
        self.patterns = [(re.compile("^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(p)) + "$"), p)
                         for p in paths if "{" in p]

    def label(self, path: str) -> str:
        hit = self.static.get(path)
        if hit is not None:
            return hit
        for rx, template in self.patterns:
            if rx.match(path):
                return template
        return "other"


def route_paths(app: Any) -> list[str]:
    """Every route template the app serves: plain routes, and those of included routers with their
    prefixes (FastAPI keeps included routers as objects that list their effective routes)."""
    out = []
    for route in getattr(app, "routes", []):
        contexts = getattr(route, "effective_route_contexts", None)
        if callable(contexts):
            out += [c.path_format for c in contexts() if getattr(c, "path_format", None)]
        elif getattr(route, "path_format", None) or getattr(route, "path", None):
            out.append(getattr(route, "path_format", None) or route.path)
    return sorted(set(out))


class RequestContext:
    def __init__(self, app: Any, process: str) -> None:
        self.app = app
        self.process = process
        self.templates: RouteTemplates | None = None
        #: (path, method, status) -> its histogram child: one dict hit per request instead of labels()
        self._children: dict[tuple[str, str, int], Any] = {}

    def route_label(self, scope: dict[str, Any]) -> str:
        if self.templates is None:
            app = scope.get("app")
            self.templates = RouteTemplates([*route_paths(app), "/health", "/metrics"] if app else [])
        return self.templates.label(scope["path"])

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
            took = time.perf_counter() - t0
            if access_log.isEnabledFor(logging.DEBUG):
                access_log.debug("%s %s -> %d in %.2f ms", scope["method"], scope["path"], status, took * 1e3)
            REQUEST_ID.reset(token)
            if scope["path"] != "/metrics":
                self._child(scope, status or 500).observe(took)

    def _child(self, scope: dict[str, Any], status: int) -> Any:
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        route = self.route_label(scope)
        key = (route, method, status)  # bounded: routes are templates, "other" for anything unknown
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metrics.HTTP_LATENCY.labels(self.process, route, method, str(status))
        return child


def _find(scope: dict[str, Any]) -> bytes | None:
    for key, value in scope["headers"]:
        if key == _HEADER:
            return value
    return None
