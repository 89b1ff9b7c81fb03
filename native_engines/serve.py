"""A native engine process: serve one engine's GPU-capable operations over its socket.

The operations come from the engine's own declaration (``engines/<name>/ops.py``):
every operation with ``gpu=True`` and a synchronous function is served, nothing is
written twice. Requests are validated with the operation's request model (arrays
arrive as numpy and are accepted as sequences), the function runs with
``ctx.device`` set to the selected torch device, and the response model goes back as
the same JSON bytes the HTTP engine would send. Start-up: select the device, import the
functions, run each operation's declared example once (warm-up), then listen.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from backend.contract import problem
from backend.contract.operation import OpContext, Operation, compute, load_engine
from backend.core import logging as nlogging
from backend.core.errors import NautilusError
from backend.core.memory import trim
from backend.core.settings import Settings, get_settings
from native_engines.device import DeviceInfo, select_device
from native_engines.ipc.server import NativeServer
from native_engines.metrics import report

log = logging.getLogger(__name__)

#: Engines that have a native process, and so a socket ``<run_dir>/<engine>.sock``.
NATIVE_ENGINES = ("ml", "risk", "strategy")


def socket_path(settings: Settings, engine: str) -> Path:
    return settings.run_dir / f"{engine}.sock"


def native_operations(native: str) -> list[Operation]:
    """The operations the native process ``native`` serves: every GPU-capable synchronous operation of any
    engine whose native host it is (its own engine's, and e.g. the features engine's for "ml")."""
    from backend.core.settings import ENGINE_PORTS

    return [op for name in ENGINE_PORTS for op in load_engine(name).operations
            if op.native_host == native and not op.is_async()]


def map_error(exc: BaseException, op: str) -> dict:
    """The same problem-JSON the HTTP service would give for this exception."""
    if isinstance(exc, NautilusError):
        return problem.from_error(exc)
    if isinstance(exc, ValidationError):
        return problem.from_pydantic(exc)
    if isinstance(exc, LookupError) and str(exc).strip("'") == op:
        return problem.problem(404, "UNKNOWN_OPERATION", "Unknown operation", f"no native operation {op!r}")
    error_id = uuid.uuid4().hex[:12]
    log.error("native operation %s failed (error id %s)", op, error_id, exc_info=exc)
    return problem.problem(500, "INTERNAL", "Internal error",
                           f"an internal error occurred; quote error id {error_id} when reporting it",
                           error_id=error_id)


def make_handler(op: Operation, device: DeviceInfo, settings: Settings) -> Callable[..., Any]:
    fn = op.load()

    def handle(body: Any, want: str = "json") -> Any:
        """The response as JSON bytes, or with ``want="tree"`` as a tree whose arrays stay arrays."""
        req = op.request.model_validate(body)
        ctx = OpContext(engine=op.engine, device=device.device, settings=settings)
        try:
            result = compute(fn, req, ctx)
            return result.model_dump() if want == "tree" else result.model_dump_json().encode()
        finally:
            del req
            trim()  # rate-limited; hands freed pages of a large request back to the OS

    return handle


def build_server(engine: str, settings: Settings, device: DeviceInfo) -> NativeServer:
    ops = native_operations(engine)
    handlers = {op.native_key: make_handler(op, device, settings) for op in ops}
    for op in ops:
        if op.example is not None:
            t0 = time.perf_counter()
            handlers[op.native_key](op.example)
            log.info("warmed up %s in %.1f ms on %s", op.native_key, (time.perf_counter() - t0) * 1e3, device.device)
    server = NativeServer(
        engine, socket_path(settings, engine), handlers, instance=settings.instance_id, error_mapper=map_error,
        info=lambda: {"device": device.as_dict(), "protocol": 1},
    )
    server.report = lambda: report(engine, server, device)
    return server


async def _serve(engine: str) -> None:
    settings = get_settings()
    device = select_device()
    log.info("native %s engine on %s (%s)%s", engine, device.device, device.name,
             f"; CPU fallback: {device.fallback_reason}" if device.fallback_reason else "")
    server = build_server(engine, settings, device)
    await server.start()
    log.info("serving %d operation(s) on %s: %s", len(server.handlers), server.path, ", ".join(server.handlers))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("draining %d in-flight call(s)", len(server.inflight))
    await server.drain_and_close()


def main(engine: str) -> None:
    settings = get_settings()
    nlogging.configure(f"native-{engine}", settings.log_level, settings.log_format)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(_serve(engine))
