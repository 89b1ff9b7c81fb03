"""The gateway's backend for a native engine: the same protocol as ``HttpBackend``,
over the engine's Unix socket, serving only its GPU-capable operations."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from backend.contract import binary
from backend.contract.operation import Operation
from backend.core.errors import BackendTimeout, BackendUnavailable
from backend.gateway.backends import Reply
from backend.gateway.circuit import CircuitBreaker
from native_engines.ipc.client import NativeCallError, NativeClient, NativeUnavailable
from native_engines.ipc.shm import ShmPool

#: Numeric lists at least this long leave as arrays (through shared memory when large).
ARRAY_MIN_LEN = 4096


def arrays_out_of_band(tree: Any) -> Any:
    """Turn long numeric lists (and rectangular lists of them) into float64 arrays."""
    if isinstance(tree, dict):
        return {k: arrays_out_of_band(v) for k, v in tree.items()}
    if isinstance(tree, list):
        if tree and isinstance(tree[0], float | int) and not isinstance(tree[0], bool) and len(tree) >= ARRAY_MIN_LEN:
            try:
                return np.asarray(tree, dtype=np.float64)
            except (TypeError, ValueError):
                return tree
        if tree and isinstance(tree[0], list) and len(tree) * len(tree[0]) >= ARRAY_MIN_LEN:
            try:
                arr = np.asarray(tree, dtype=np.float64)
                if arr.ndim == 2:
                    return arr
            except (TypeError, ValueError):
                pass
        return [arrays_out_of_band(v) for v in tree]
    return tree


class NativeBackend:
    kind = "native"
    #: A native engine has no database: references are resolved before the call.
    runs_prepare = False

    def __init__(self, engine: str, path: Path, instance: str, *, failure_threshold: int,
                 connect_timeout_s: float) -> None:
        self.engine = engine
        self.path = path
        self.name = f"native:{engine}@{path.name}"
        self.breaker = CircuitBreaker(self.name, failure_threshold)
        self.client = NativeClient(path, name="gateway", connections=2,
                                   pool=ShmPool(instance, "gateway"),
                                   connect_timeout_s=connect_timeout_s)

    def serves(self, op: Operation) -> bool:
        return op.native_host == self.engine

    async def call(self, op: Operation, body: bytes, model: Any = None, content_type: str = "application/json",
                   accept: str | None = None) -> Reply:
        """The validated model goes as a tree whose arrays stay arrays (shared memory when large); a client
        that accepts msgpack gets the result's arrays the same way back, others get the engine's JSON."""
        tree = arrays_out_of_band(model.model_dump()) if model is not None else None
        want_tree = binary.wants_binary(accept)
        t0 = time.perf_counter()
        try:
            payload = await self.client.call(op.native_key, tree, timeout_s=op.timeout_s,
                                             want="tree" if want_tree else None)
        except NativeCallError as e:
            problem = e.problem
            return Reply(problem.get("status", 500), orjson.dumps(problem), "application/problem+json",
                         self.name, (time.perf_counter() - t0) * 1e3)
        except NativeUnavailable as e:
            raise BackendUnavailable(f"native {self.engine} engine: {e}", engine=self.engine, fatal=True) from e
        except TimeoutError as e:
            raise BackendTimeout(f"native {self.engine} engine did not answer within {op.timeout_s}s",
                                 engine=self.engine) from e
        if want_tree:
            return Reply(200, binary.encode(payload), binary.MEDIA_TYPE, self.name, (time.perf_counter() - t0) * 1e3)
        return Reply(200, payload, "application/json", self.name, (time.perf_counter() - t0) * 1e3)

    async def health(self, timeout_s: float) -> dict:
        t0 = time.perf_counter()
        try:
            detail = await self.client.health(timeout_s)
        except (TimeoutError, NativeUnavailable, OSError) as e:
            return {"reachable": False, "error": f"{type(e).__name__}: {e}"}
        return {"reachable": True, "latency_ms": round((time.perf_counter() - t0) * 1e3, 3),
                "detail": {"status": "ok", **detail}}

    async def close(self) -> None:
        await self.client.close()
