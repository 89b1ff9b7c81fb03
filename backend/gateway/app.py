"""The gateway (:8001): one public API over every engine, plus the trading core.

For every operation that every engine declares it publishes
``POST /api/v1/<engine>/<operation>`` with the operation's real request and
response models (validated here, so a bad request never leaves the gateway), and
routes the call through ``EngineRoute``. Every routed response carries
``X-Backend`` (which backend served it) and ``X-Backend-Latency-Ms``.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import time
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import Response

from backend.auth import keys
from backend.auth.guard import INTERNAL_HEADER
from backend.contract.operation import EngineSpec, OpContext, Operation, load_engine
from backend.core import metrics
from backend.core.logging import REQUEST_ID_HEADER
from backend.core.memory import LargeBodies
from backend.core.scopes import Scope
from backend.core.settings import ENGINE_PORTS, Settings, get_settings
from backend.gateway import access, scrape, system, wsproxy
from backend.gateway.backends import HttpBackend
from backend.gateway.latency import LatencyWindow
from backend.gateway.listing import EngineList
from backend.gateway.native import NativeBackend
from backend.gateway.observers import AccountVar
from backend.gateway.routing import EngineRoute, Prober
from backend.service.app import install_guard, install_problem_handlers, make_authenticator, metrics_guard
from backend.service.docs import documented_app
from backend.service.request_context import RequestContext
from backend.service.routes import add_operation_route, merge_openapi
from native_engines.ipc.client import NativeClient
from native_engines.serve import NATIVE_ENGINES, socket_path

log = logging.getLogger(__name__)
VERSION = "0.1.0"


def load_catalog() -> dict[str, EngineSpec]:
    """Every engine's declaration, imported without its compute modules."""
    return {name: load_engine(name) for name in ENGINE_PORTS}


def _trading_service(settings: Settings) -> Any | None:
    """The trading core, when the package is present."""
    try:
        module = importlib.import_module("backend.trading.service")
    except ModuleNotFoundError as e:
        if e.name and e.name.startswith("backend.trading"):
            return None
        raise
    return module.TradingService(settings)


def _route_handler(op: Operation, route: EngineRoute, var: AccountVar):  # noqa: ANN202
    async def handle(request: Request, model: Any, body: bytes) -> Response:
        reply = await route.call(op, body, model, request.headers.get("content-type", "application/json"),
                                 request.headers.get("accept"))
        if reply.status == 200:
            var.observe(op.engine, op.name, model, reply.body)
        return Response(
            reply.body, status_code=reply.status, media_type=reply.content_type,
            headers={"X-Backend": reply.backend, "X-Backend-Latency-Ms": f"{reply.latency_ms:.3f}",
                     "Server-Timing": f"backend;dur={reply.latency_ms:.3f}"},
        )

    return handle


def make_gateway_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    catalog = load_catalog()
    routes: dict[str, EngineRoute] = {}
    state: dict[str, Any] = {"started": time.time(), "db": None, "bus": None}
    # the internal token also lets the platform's own processes call the gateway (e.g. a paper-trading
    # strategy in the strategy engine submitting orders); only processes the launcher started have it
    auth = make_authenticator(settings, lambda: state["db"])
    trading = _trading_service(settings)
    if trading is not None:
        trading.auth = auth
    http_backends: list[HttpBackend] = []
    natives = {n: NativeBackend(n, socket_path(settings, n), settings.instance_id,
                                failure_threshold=settings.breaker_failure_threshold,
                                connect_timeout_s=settings.connect_timeout_s)
               for n in NATIVE_ENGINES} if settings.native_enabled else {}
    for name, spec in catalog.items():
        hosts = {op.native_host for op in spec.operations if op.native_host in natives}
        backends: list[Any] = [natives[h] for h in sorted(hosts)]  # a native process shared by its engines
        replicas = [HttpBackend(name, url, connect_timeout_s=settings.connect_timeout_s,
                                failure_threshold=settings.breaker_failure_threshold,
                                headers={INTERNAL_HEADER: settings.internal_token} if settings.internal_token else None)
                    for url in settings.engine_replicas(name)]
        http_backends += replicas
        backends += replicas
        routes[name] = EngineRoute(name, backends, lambda name=name: OpContext(
            engine=name, db=state["db"], bus=state["bus"], settings=settings))
    prober = Prober(routes, settings.breaker_probe_interval_s, settings.health_timeout_s)
    # every native process reports its metrics over its socket, through its backend's client
    native_clients = {name: b.client for name, b in natives.items()}
    scrape.install(settings, native_clients)
    window = LatencyWindow({"operations": metrics.GATEWAY_LATENCY, "routes": metrics.HTTP_LATENCY})
    account_var = AccountVar()

    async def native_health() -> dict[str, dict]:
        async def one(client: NativeClient) -> dict | None:
            try:
                return await client.health(settings.health_timeout_s)
            except Exception:  # noqa: BLE001 - a native process that does not answer has no reading
                return None

        checks = await asyncio.gather(*(one(c) for c in native_clients.values()))
        return {e: c for e, c in zip(native_clients, checks, strict=True) if c is not None}

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # noqa: ANN202
        from backend.bus import Bus
        from backend.core.errors import NautilusError
        from backend.storage.db import create_pool

        # one client session for every HTTP backend, opened here where the event loop exists
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=512, limit_per_host=256, keepalive_timeout=30, ttl_dns_cache=300)
        )
        for backend in http_backends:
            backend.session = session
        state["http"] = session
        if settings.database_url:
            try:
                state["db"] = await create_pool(settings.database_url, max_size=max(settings.db_pool_max_size, 8),
                                                timeout_s=settings.db_connect_timeout_s)
            except NautilusError as e:
                log.warning("gateway starting without database: %s", e.detail)
        if settings.redis_url:
            state["bus"] = Bus.for_settings(settings)
        if settings.admin_api_key and state["db"] is not None:
            await keys.create_key(state["db"], keys.BOOTSTRAP_NAME, [Scope.ADMIN.value], key=settings.admin_api_key)
        if trading is not None and state["db"] is not None:
            try:
                await trading.start(state["db"], state["bus"])
                state["trading_started"] = True
            except Exception as e:  # noqa: BLE001 - the rest of the API keeps serving; health says why
                state["trading_error"] = f"{type(e).__name__}: {e}"
                log.exception("trading core failed to start")
        elif trading is not None:
            state["trading_error"] = "no database: the trading core needs PostgreSQL"
            log.error("trading core not started: %s", state["trading_error"])
        prober.start()
        window.start()
        yield
        await window.stop()
        await prober.stop()
        if state.get("trading_started"):
            await trading.stop()
        await session.close()
        for b in natives.values():
            await b.close()
        if state["db"] is not None:
            await state["db"].close()
        if state["bus"] is not None:
            await state["bus"].close()

    app = documented_app(
        title="Nautilus hybrid trading platform",
        version=VERSION,
        description="Public REST API. Engine operations live under `/api/v1/<engine>/<operation>`; "
        "every response names the backend that served it (X-Backend) and its latency (X-Backend-Latency-Ms).",
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    shadow = FastAPI(title=app.title, version=app.version)
    large = LargeBodies(settings.max_large_requests)
    for spec in catalog.values():
        for op in spec.operations:
            desc = f"Served by the {op.engine} engine" + (" (GPU-capable)" if op.gpu else "") + "."
            add_operation_route(app, shadow, op, _route_handler(op, routes[spec.name], account_var), desc,
                                auth=auth, large=large)
    merge_openapi(app, shadow)
    app.include_router(access.build_router(auth, lambda: state["db"]))
    app.include_router(system.build_router(settings, auth, window, native_health))
    wsproxy.install(app, settings, auth, state)
    if trading is not None:
        from backend.trading.routes import build_router

        app.include_router(build_router(trading))

        app.add_middleware(TradingGate, state=state)
    app.add_middleware(CORSMiddleware, allow_origins=settings.origins(), allow_methods=["GET", "POST", "PUT",
                       "PATCH", "DELETE"], allow_headers=[keys.HEADER, "Content-Type", REQUEST_ID_HEADER],
                       max_age=600,
                       expose_headers=["X-Backend", "X-Backend-Latency-Ms", "Retry-After", REQUEST_ID_HEADER])
    install_guard(app, settings, settings.origins())
    app.add_middleware(RequestContext, process="gateway")  # outermost: every answer has an id and a time

    @app.get("/api/v1/engines", tags=["platform"], response_model=EngineList)
    async def engines(request: Request) -> dict[str, Any]:
        """Every engine, its backends with circuit state, and its operations."""
        await auth.require(request.headers, Scope.READ)
        return {
            "engines": [
                {
                    "name": spec.name,
                    "description": spec.description,
                    "backends": [{"name": b.name, "kind": b.kind, "circuit": b.breaker.snapshot()}
                                 for b in routes[spec.name].backends],
                    "operations": [{"name": op.name, "route": op.route, "summary": op.summary, "gpu": op.gpu,
                                    "idempotent": op.idempotent, "scope": str(op.scope)}
                                   for op in spec.operations],
                }
                for spec in catalog.values()
            ]
        }

    @app.get("/health", tags=["platform"])
    async def health(request: Request) -> dict[str, Any]:
        """Aggregate health: every service with its status and latency, and the infrastructure.
        Open to anyone; without a key with the read scope it says only ok or degraded."""
        from backend.launcher.infra import Infra
        from backend.storage.db import ping

        caller = await auth.optional(request.headers)
        detailed = caller is not None and caller.allows(Scope.READ)

        backends = [b for r in routes.values() for b in r.backends]
        checks = await asyncio.gather(*(b.health(settings.health_timeout_s) for b in backends))
        db, bus = await asyncio.gather(
            ping(state["db"], settings.health_timeout_s) if state["db"] else _absent(),
            state["bus"].ping(settings.health_timeout_s) if state["bus"] else _absent(),
        )
        infra = Infra.load(settings.run_dir)
        services = []
        for b, c in zip(backends, checks, strict=True):
            detail = c.get("detail") or {}
            status = detail.get("status", "ok") if c["reachable"] else "down"
            entry = {
                "name": b.engine, "kind": b.kind, "backend": b.name, "status": status,
                "latency_ms": c.get("latency_ms"), "circuit": b.breaker.state.name.lower(),
                "uptime_s": detail.get("uptime_s"), "operations": detail.get("operations"),
                **({"error": c["error"]} if "error" in c else {}),
            }
            if b.kind == "native":  # what the native process says of itself: device, memory, load
                device = detail.get("device") or {}
                entry.update({"device": device.get("device"), "device_name": device.get("name"),
                              "device_memory": device.get("memory"), "torch": device.get("torch"),
                              "fallback_reason": device.get("fallback_reason"), "inflight": detail.get("inflight"),
                              "calls": detail.get("calls"), "result_shm_bytes": detail.get("result_shm_bytes")})
            services.append(entry)
        if trading is not None and state.get("trading_started"):
            services.append({"name": "trading", "kind": "in-process", **(await trading.health())})
        elif trading is not None:
            services.append({"name": "trading", "kind": "in-process", "status": "down",
                             "error": state.get("trading_error", "starting")})
        degraded = any(s["status"] != "ok" for s in services) or not db.get("ok") or not bus.get("ok")
        if not detailed:
            return {"status": "degraded" if degraded else "ok"}
        from backend.launcher.supervisor import read_status

        supervised = read_status(settings.run_dir)
        return {
            "status": "degraded" if degraded else "ok",
            "gateway": {"version": VERSION, "uptime_s": round(time.time() - state["started"], 3)},
            "infrastructure": {
                "database": {"mode": infra.database_mode if infra else "configured", **db},
                "redis": {"mode": infra.redis_mode if infra else "configured", **bus},
            },
            "services": services,
            # every process under the supervisor: pid, state, restarts, last exit (None when not supervised)
            "processes": supervised.get("children") if supervised else None,
        }

    @app.get("/metrics", tags=["platform"])
    async def prometheus(request: Request) -> Response:
        metrics_guard(request, settings)
        metrics.UP_SECONDS.labels("gateway").set(time.time() - state["started"])
        await metrics.refresh()
        body, ctype = metrics.render()
        return Response(body, media_type=ctype)

    app.state.routes = routes
    app.state.prober = prober
    app.state.latency_window = window
    return app


class TradingGate:
    """Pure ASGI middleware: trading routes answer 503 (problem-JSON) until the core has started."""

    def __init__(self, app: Any, state: dict[str, Any]) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if (scope["type"] == "http" and scope["path"].startswith("/api/v1/trading")
                and not self.state.get("trading_started")):
            from backend.contract import problem as problem_mod
            from backend.core.errors import BackendUnavailable
            from backend.service.app import problem_response

            err = BackendUnavailable(f"trading core unavailable: {self.state.get('trading_error', 'starting')}",
                                     engine="trading")
            await problem_response(problem_mod.from_error(err, instance=scope["path"]))(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def _absent() -> dict[str, Any]:
    return {"ok": False, "error": "not configured"}
