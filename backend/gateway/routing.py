"""Route one operation call to the best available backend of its engine.

Backends are tried in preference order (native first once it exists, then HTTP
replicas). A backend whose breaker is open is skipped without a call. A transport
failure on an idempotent operation moves on to the next backend (a fallback); on a
non-idempotent one it is reported at once, since the first backend may have acted.
With no backend left the caller gets a fast 503 naming the engine.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from backend.contract.operation import OpContext, Operation
from backend.core import metrics
from backend.core.errors import BackendTimeout, BackendUnavailable, TransportError
from backend.gateway.backends import Backend, Reply, is_fatal
from backend.gateway.circuit import CircuitState

log = logging.getLogger(__name__)


class EngineRoute:
    """The ordered backends of one engine."""

    def __init__(self, engine: str, backends: Sequence[Backend],
                 ctx_factory: Callable[[], OpContext] | None = None) -> None:
        self.engine = engine
        self.backends = list(backends)
        self.ctx_factory = ctx_factory
        self._prepares: dict[str, Callable[..., Any] | None] = {}

    async def _prepared(self, op: Operation, model: Any) -> Any:
        """Run the operation's I/O step here (the gateway has the database) for a native call. The
        original body is kept for an HTTP fallback, whose engine runs the step itself."""
        if op.name not in self._prepares:
            self._prepares[op.name] = op.load_prepare()
        prepare = self._prepares[op.name]
        ctx = self.ctx_factory() if self.ctx_factory else OpContext(engine=self.engine)
        return await asyncio.wait_for(prepare(model, ctx), op.timeout_s)  # type: ignore[misc]

    async def call(self, op: Operation, body: bytes, model: object = None, content_type: str = "application/json",
                   accept: str | None = None) -> Reply:
        t0 = time.perf_counter()
        last: TransportError | None = None
        tried = 0
        for backend in self.backends:
            if not backend.serves(op) or not backend.breaker.allows_calls:
                continue
            if tried and not op.idempotent:
                break
            if tried:
                metrics.GATEWAY_FALLBACKS.labels(self.engine).inc()
            tried += 1
            try:
                target = model
                if not backend.runs_prepare and op.prepare_path is not None and model is not None:
                    target = await self._prepared(op, model)
                reply = await backend.call(op, body, target, content_type, accept)
            except TransportError as e:
                backend.breaker.record_failure(e.detail, fatal=is_fatal(e))
                log.warning("%s failed for %s: %s", backend.name, op.route, e.detail)
                last = e
                continue
            backend.breaker.record_success()
            status = "ok" if reply.status < 400 else str(reply.status)
            metrics.GATEWAY_REQUESTS.labels(self.engine, op.name, backend.kind, status).inc()
            metrics.GATEWAY_LATENCY.labels(self.engine, op.name, backend.kind).observe(time.perf_counter() - t0)
            return reply
        metrics.GATEWAY_REQUESTS.labels(self.engine, op.name, "none", "unavailable").inc()
        if isinstance(last, BackendTimeout):
            raise BackendTimeout(last.detail, engine=self.engine)
        if last is not None:
            raise BackendUnavailable(f"{self.engine} engine unavailable: {last.detail}", engine=self.engine)
        raise BackendUnavailable(
            f"{self.engine} engine unavailable: every backend's circuit is open (probing for recovery)",
            engine=self.engine,
        )


class Prober:
    """Background task: probe open circuits' /health and close them when it answers."""

    def __init__(self, routes: dict[str, EngineRoute], interval_s: float, timeout_s: float) -> None:
        self.routes = routes
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="circuit-prober")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def probe_once(self) -> None:
        open_backends = [b for r in self.routes.values() for b in r.backends
                         if b.breaker.state is CircuitState.OPEN]
        await asyncio.gather(*(self._probe(b) for b in open_backends))

    async def _probe(self, backend: Backend) -> None:
        backend.breaker.fire("probe")
        result = await backend.health(self.timeout_s)
        backend.breaker.fire("probe_ok" if result.get("reachable") else "probe_fail")
        if result.get("reachable"):
            log.info("%s is back: circuit closed", backend.name)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.probe_once()
            except Exception:  # noqa: BLE001 - the prober must outlive any one failure
                log.exception("circuit probe failed")
