"""Backends the gateway can route an operation to, behind one protocol.

``HttpBackend`` calls an engine's HTTP service. A native (Unix-socket) backend
implements the same protocol. ``call`` returns the backend's answer, domain errors
included (4xx problem-JSON is an answer); it raises ``TransportError`` only when the
backend could not answer at all, which is what trips breakers and triggers retries.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from backend.contract.operation import Operation
from backend.core.errors import BackendTimeout, BackendUnavailable, TransportError
from backend.core.logging import REQUEST_ID, REQUEST_ID_HEADER
from backend.gateway.circuit import CircuitBreaker


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str
    backend: str
    latency_ms: float


class Backend(Protocol):
    name: str
    kind: str
    #: False where the backend has no database: the router runs ``op.prepare`` before calling it.
    runs_prepare: bool
    breaker: CircuitBreaker

    def serves(self, op: Operation) -> bool: ...

    async def call(self, op: Operation, body: bytes, model: Any = None, content_type: str = "application/json",
                   accept: str | None = None) -> Reply: ...

    async def health(self, timeout_s: float) -> dict: ...


class HttpBackend:
    """One replica of an engine's HTTP service."""

    kind = "http"
    #: The engine service runs an operation's prepare (I/O) step itself.
    runs_prepare = True

    def __init__(self, engine: str, base_url: str, session: aiohttp.ClientSession | None = None, *,
                 connect_timeout_s: float, failure_threshold: int, headers: dict[str, str] | None = None) -> None:
        self.engine = engine
        self.base_url = base_url.rstrip("/")
        self.name = f"http:{engine}@{self.base_url.split('://', 1)[-1]}"
        self.session = session  # set by the gateway's lifespan when it opens the shared session
        self.connect_timeout_s = connect_timeout_s
        self.breaker = CircuitBreaker(self.name, failure_threshold)
        #: sent with every call and probe (the instance's internal token: engines serve only the gateway)
        self.headers = dict(headers or {})
        self._post_headers = {"content-type": "application/json", **self.headers}

    def serves(self, op: Operation) -> bool:
        return True

    async def call(self, op: Operation, body: bytes, model: Any = None, content_type: str = "application/json",
                   accept: str | None = None) -> Reply:
        """Forward the body as the client sent it (JSON or msgpack), asking for what the client accepts."""
        timeout = aiohttp.ClientTimeout(total=op.timeout_s + 1.0, sock_connect=self.connect_timeout_s)
        headers = self._post_headers if content_type == "application/json" and not accept else {
            **self._post_headers, "content-type": content_type, **({"accept": accept} if accept else {})}
        rid = REQUEST_ID.get()
        if rid is not None:
            headers = {**headers, REQUEST_ID_HEADER: rid}
        t0 = time.perf_counter()
        try:
            async with self.session.post(
                self.base_url + op.route, data=body, headers=headers, timeout=timeout
            ) as resp:
                payload = await resp.read()
                return Reply(resp.status, payload, resp.headers.get("content-type", "application/json"),
                             self.name, (time.perf_counter() - t0) * 1e3)
        except aiohttp.ClientConnectorError as e:
            raise BackendUnavailable(f"{self.engine} engine not reachable at {self.base_url}: {e.os_error}",
                                     engine=self.engine, fatal=True) from e
        except (TimeoutError, aiohttp.ServerTimeoutError) as e:
            raise BackendTimeout(f"{self.engine} engine did not answer within {op.timeout_s}s",
                                 engine=self.engine) from e
        except (aiohttp.ClientError, OSError) as e:
            raise BackendUnavailable(f"{self.engine} engine connection failed: {type(e).__name__}: {e}",
                                     engine=self.engine) from e

    async def health(self, timeout_s: float) -> dict:
        t0 = time.perf_counter()
        try:
            async with self.session.get(self.base_url + "/health", headers=self.headers,
                                        timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp:
                detail = await resp.json(content_type=None)
                ok = resp.status == 200
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as e:
            return {"reachable": False, "error": f"{type(e).__name__}: {e}".strip(": ")}
        return {"reachable": ok, "latency_ms": round((time.perf_counter() - t0) * 1e3, 3), "detail": detail}


def is_fatal(err: TransportError) -> bool:
    return bool(err.extra.get("fatal"))
