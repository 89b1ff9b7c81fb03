"""The HTTP service factory: an engine's declared operations -> a FastAPI app.

Every engine app serves:
  POST /api/v1/<engine>/<operation>   one route per declared operation
  GET  /health                         status, version, uptime, database and bus connectivity
  GET  /metrics                        Prometheus text
  GET  /operations                     the operations with their JSON schemas
Errors leave as problem-JSON through ``install_problem_handlers`` (the one place).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from backend.auth.guard import Authenticator, Guard, client_allowed
from backend.contract import binary, problem
from backend.contract.operation import EngineSpec, OpContext, Operation, compute
from backend.core import metrics
from backend.core.errors import BackendTimeout, Forbidden, NautilusError, PayloadTooLarge, RateLimited
from backend.core.logging import REQUEST_ID
from backend.core.memory import LargeBodies
from backend.core.settings import Settings, get_settings
from backend.core.workers import Workers
from backend.service.docs import documented_app
from backend.service.request_context import RequestContext
from backend.service.routes import add_operation_route, merge_openapi

log = logging.getLogger(__name__)

#: Largest body of a route that declares no limit of its own (bytes); operations declare theirs
#: (``Operation.max_body_bytes``), registered in ``app.state.body_limits`` by route path.
DEFAULT_ROUTE_BODY_BYTES = 1024 * 1024


def problem_response(body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=body["status"], media_type=problem.PROBLEM_CONTENT_TYPE, headers=headers)


def install_problem_handlers(app: FastAPI) -> None:
    """Map every error to problem-JSON: domain errors keep their code; bugs are 500 INTERNAL."""

    @app.exception_handler(NautilusError)
    async def _domain(request: Request, exc: NautilusError) -> JSONResponse:
        headers = {"Retry-After": str(exc.extra["retry_after_s"])} if isinstance(exc, RateLimited) else None
        return problem_response(problem.from_error(exc, instance=request.url.path), headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: ("NOT_FOUND", "Not found"), 405: ("METHOD_NOT_ALLOWED", "Method not allowed")}
        code, title = codes.get(exc.status_code, ("HTTP_ERROR", "HTTP error"))
        detail = (f"no route {request.method} {request.url.path}" if exc.status_code in (404, 405)
                  else str(exc.detail))
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # every method the path serves, not just the first route's
            headers["Allow"] = ", ".join(allowed_methods(request))
        return problem_response(problem.problem(exc.status_code, code, title, detail, instance=request.url.path),
                                headers or None)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(problem.from_validation(list(exc.errors()), instance=request.url.path))

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        # the exception text stays in the log (it may hold internals); the caller gets an id to quote
        error_id = uuid.uuid4().hex[:12]
        log.exception("unhandled error %s on %s", error_id, request.url.path)
        return problem_response(
            problem.problem(500, "INTERNAL", "Internal error",
                            f"an internal error occurred; quote error id {error_id} when reporting it",
                            instance=request.url.path, error_id=error_id)
        )

    app.state.body_limits = {}
    app.add_middleware(BodyLimit, limits=app.state.body_limits)


class _TooLarge(Exception):
    pass


class BodyLimit:
    """Pure ASGI middleware: a body over its route's limit (``limits[path]``, else
    ``DEFAULT_ROUTE_BODY_BYTES``) gets 413 problem-JSON, declared (Content-Length) or streamed
    (counted as the chunks arrive, before anything parses them). Pure ASGI because Starlette's
    ``@app.middleware("http")`` costs a large share of a small call's latency."""

    def __init__(self, app: Any, limits: dict[str, int]) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: dict, receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.get(scope["path"], DEFAULT_ROUTE_BODY_BYTES)
        for key, value in scope["headers"]:
            if key == b"content-length" and value.isdigit() and int(value) > limit:
                await self._reject(scope, send, f"request body of {int(value)} bytes exceeds {limit}")
                return
        seen = 0
        started = False

        async def counted_receive() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return message

        async def tracked_send(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except _TooLarge:
            if not started:
                await self._reject(scope, send, f"request body exceeds {limit} bytes")

    @staticmethod
    async def _reject(scope: dict, send: Callable[..., Any], detail: str) -> None:
        err = PayloadTooLarge(detail, field="body")
        response = problem_response(problem.from_error(err, instance=scope.get("path")))
        await response({"type": "http"}, None, send)  # type: ignore[arg-type]


def allowed_methods(request: Request) -> list[str]:
    """Methods some route of the app serves at this request's path."""
    from starlette.routing import Match

    methods: set[str] = set()
    for route in request.app.router.routes:
        route_methods = getattr(route, "methods", None)
        if route_methods and route.matches(request.scope)[0] is not Match.NONE:
            methods |= set(route_methods)
    return sorted(methods)


def install_guard(app: FastAPI, settings: Settings, origins: list[str]) -> None:
    """Outermost middleware: Host, Origin, content type and NUL checks (``backend.auth.guard``)."""
    app.add_middleware(Guard, allowed_hosts=settings.served_hosts(), allowed_origins=origins,
                       body_types=[binary.MEDIA_TYPE])


def make_authenticator(settings: Settings, db: Callable[[], Any]) -> Authenticator:
    return Authenticator(db, internal_token=settings.internal_token, rate_limits=settings.rate_limits())


def metrics_guard(request: Request, settings: Settings) -> None:
    """/metrics answers only the networks in ``NAUTILUS_METRICS_ALLOW`` (loopback by default)."""
    if not client_allowed(request.client.host if request.client else None, settings.metrics_allow):
        raise Forbidden("metrics are served to the networks in NAUTILUS_METRICS_ALLOW only", field="client")


_WORKERS: Workers | None = None
#: Compute threads per engine process (numpy/torch release the GIL while they work).
COMPUTE_THREADS = 4


def _workers() -> Workers:
    global _WORKERS
    if _WORKERS is None:
        _WORKERS = Workers(COMPUTE_THREADS, "compute")
    return _WORKERS


class OperationRunner:
    """Calls one operation's function with its context, timeout and metrics."""

    def __init__(self, op: Operation, ctx_factory: Callable[[], OpContext]) -> None:
        self.op = op
        self.fn = op.load()
        self.prepare = op.load_prepare()
        self.is_async = asyncio.iscoroutinefunction(self.fn)
        self.ctx_factory = ctx_factory
        self.wait = metrics.ENGINE_QUEUE_WAIT.labels(op.engine)

    async def __call__(self, req: Any) -> Any:
        ctx = self.ctx_factory()
        t0 = time.perf_counter()
        status = "ok"
        try:
            if self.prepare is not None:
                req = await asyncio.wait_for(self.prepare(req, ctx), self.op.timeout_s)
            work = self.fn(req, ctx) if self.is_async else _workers().submit(
                asyncio.get_running_loop(), _in_worker, self.wait, REQUEST_ID.get(), time.perf_counter(),
                self.fn, req, ctx)
            return await asyncio.wait_for(work, self.op.timeout_s)
        except TimeoutError as e:
            status = "timeout"
            raise BackendTimeout(f"{self.op.engine}.{self.op.name} exceeded {self.op.timeout_s}s") from e
        except NautilusError as e:
            status = e.code
            raise
        except Exception:
            status = "error"
            raise
        finally:
            metrics.ENGINE_REQUESTS.labels(self.op.engine, self.op.name, status).inc()
            metrics.ENGINE_LATENCY.labels(self.op.engine, self.op.name).observe(time.perf_counter() - t0)


def _in_worker(wait: Any, rid: str | None, queued_at: float, fn: Callable[..., Any], req: Any, ctx: OpContext
               ) -> Any:
    """A compute thread: the call under its request id, its wait for the thread measured."""
    wait.observe(time.perf_counter() - queued_at)
    token = REQUEST_ID.set(rid)
    try:
        return compute(fn, req, ctx)
    finally:
        REQUEST_ID.reset(token)


def make_engine_app(
    spec: EngineSpec, settings: Settings | None = None, extend: Callable[[FastAPI], None] | None = None
) -> FastAPI:
    """Build the engine's service. Database and bus are optional: without them it runs degraded."""
    settings = settings or get_settings()
    state: dict[str, Any] = {"db": None, "bus": None, "jobs": None, "started": time.time()}

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # noqa: ANN202
        from backend.bus import Bus
        from backend.storage.db import create_pool

        if settings.database_url:
            try:
                state["db"] = await create_pool(
                    settings.database_url, max_size=settings.db_pool_max_size, timeout_s=settings.db_connect_timeout_s
                )
            except NautilusError as e:
                log.warning("starting without database: %s", e.detail)
        if settings.redis_url:
            state["bus"] = Bus.for_settings(settings)
        app.state.db, app.state.bus = state["db"], state["bus"]
        if spec.jobs and state["db"] is not None:
            from backend.jobs.metrics import install as install_job_metrics
            from backend.jobs.runner import JobRunner

            runner = JobRunner(spec.name, spec.jobs, ctx_factory, workers=settings.job_workers)
            await runner.start()
            state["jobs"] = runner
            install_job_metrics(spec.name, state["db"])
        yield
        if state["jobs"] is not None:
            await state["jobs"].stop()
        if state["db"] is not None:
            await state["db"].close()
        if state["bus"] is not None:
            await state["bus"].close()

    app = documented_app(
        title=f"Nautilus {spec.name} engine", version=spec.version, description=spec.description, lifespan=lifespan
    )
    install_problem_handlers(app)
    install_guard(app, settings, origins=[])  # no browser calls an engine directly
    app.add_middleware(RequestContext, process=spec.name)  # outermost: the gateway's request id, timed
    auth = make_authenticator(settings, lambda: state["db"])
    app.state.auth = auth
    app.state.settings = settings
    large = LargeBodies(settings.max_large_requests)

    def ctx_factory() -> OpContext:
        return OpContext(engine=spec.name, db=state["db"], bus=state["bus"], settings=settings, jobs=state["jobs"])

    shadow = FastAPI(title=app.title, version=app.version)
    for op in spec.operations:
        runner = OperationRunner(op, ctx_factory)

        async def handle(request: Request, model: Any, body: bytes, runner: OperationRunner = runner) -> Response:
            result = await runner(model)
            if binary.wants_binary(request.headers.get("accept")):
                return Response(binary.encode(result.model_dump()), media_type=binary.MEDIA_TYPE)
            return Response(result.model_dump_json(), media_type="application/json")

        add_operation_route(app, shadow, op, handle, description=op.summary, auth=auth, large=large)
    merge_openapi(app, shadow)

    @app.get("/health", tags=["service"])
    async def health(request: Request) -> dict[str, Any]:
        """Open to anyone; the detail (versions, pid, connectivity) only to the gateway or a key."""
        from backend.storage.db import ping

        db, bus = await asyncio.gather(
            ping(state["db"], settings.health_timeout_s) if settings.database_url else _not_configured(),
            state["bus"].ping(settings.health_timeout_s) if state["bus"] else _not_configured(),
        )
        degraded = (settings.database_url and not db["ok"]) or (settings.redis_url and not bus["ok"])
        if await auth.optional(request.headers) is None:
            return {"service": spec.name, "status": "degraded" if degraded else "ok"}
        return {
            "service": spec.name,
            "status": "degraded" if degraded else "ok",
            "version": spec.version,
            "pid": os.getpid(),
            "uptime_s": round(time.time() - state["started"], 3),
            "database": db,
            "bus": bus,
            "operations": len(spec.operations),
            **({"jobs": state["jobs"].view()} if state["jobs"] is not None else {}),
        }

    @app.get("/operations", tags=["service"])
    async def operations(request: Request) -> dict[str, Any]:
        await auth.require(request.headers, "read")
        return {"engine": spec.name, "operations": [op.describe() for op in spec.operations]}

    @app.get("/metrics", tags=["service"])
    async def prometheus(request: Request) -> Response:
        metrics_guard(request, settings)
        metrics.UP_SECONDS.labels(spec.name).set(time.time() - state["started"])
        await metrics.refresh()
        body, ctype = metrics.render()
        return Response(body, media_type=ctype)

    if extend is not None:
        extend(app)
    return app


async def _not_configured() -> dict[str, Any]:
    return {"ok": False, "error": "not configured"}
