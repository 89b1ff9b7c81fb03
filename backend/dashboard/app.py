"""The dashboard server: serves the built React app from ``frontend/dist`` on the dashboard port.

    GET /             the app (hashed assets under /assets, cached for good; index.html never cached)
    GET /config.json  {"gateway_port": N}: the browser calls the gateway on the page's own host at that
                      port (NAUTILUS_PORT_OFFSET moves both), so its origin is one the gateway's CORS allows
    GET /health       {"status": "ok"} when the app is built, else "degraded" with how to build it

Nothing here touches the API key: the app keeps it in the tab's session storage and sends it to the
gateway only. A Content-Security-Policy lets the page talk to its own origin and the gateway only.
"""

from __future__ import annotations

import re
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.staticfiles import StaticFiles

from backend.core.settings import REPO_ROOT, Settings

DIST = REPO_ROOT / "frontend" / "dist"
BUILD_HINT = "the dashboard is not built: run scripts/build_frontend.sh (the start script does)"
_HOSTNAME = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]{1,253})$")


def _csp(request: Request, gateway_port: int) -> str:
    """The page may load only its own files and call only its origin and the gateway on the same host."""
    host = request.url.hostname or ""
    host = f"[{host}]" if ":" in host else host
    gateway = f" http://{host}:{gateway_port} ws://{host}:{gateway_port}" if _HOSTNAME.match(host) else ""
    return ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            f"connect-src 'self'{gateway}; frame-src 'self'; object-src 'none'; base-uri 'none'; "
            "frame-ancestors 'none'; form-action 'self'")


def make_dashboard_app(settings: Settings, dist: Path = DIST) -> Starlette:
    def built() -> bool:
        return (dist / "index.html").is_file()

    async def health(request: Request) -> Response:
        if built():
            return JSONResponse({"status": "ok", "gateway_port": settings.gateway_port})
        return JSONResponse({"status": "degraded", "detail": BUILD_HINT})

    async def config(request: Request) -> Response:
        return JSONResponse({"gateway_port": settings.gateway_port}, headers={"Cache-Control": "no-store"})

    async def index(request: Request) -> Response:
        if not built():
            return PlainTextResponse(BUILD_HINT, status_code=503)
        return FileResponse(dist / "index.html", headers={
            "Cache-Control": "no-cache", "Content-Security-Policy": _csp(request, settings.gateway_port),
            "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"})

    app = Starlette(routes=[
        Route("/health", health),
        Route("/config.json", config),
        Route("/", index),
        Route("/index.html", index),
    ])
    assets = dist / "assets"

    class Assets(StaticFiles):
        """Hashed file names: a file never changes under one name, so browsers may keep it."""

        def file_response(self, *args, **kwargs) -> Response:  # noqa: ANN002, ANN003
            response = super().file_response(*args, **kwargs)
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
            response.headers["X-Content-Type-Options"] = "nosniff"
            return response

    app.mount("/assets", Assets(directory=assets, check_dir=False), name="assets")
    return app
