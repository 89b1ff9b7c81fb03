"""asyncio Unix-domain-socket server for the native protocol.

Many calls are in flight per connection: each ``call`` frame is handed to a worker
thread (torch and numpy release the GIL), and replies go back in completion order,
matched by id. Transport-level ``ping``, ``health`` and ``metrics`` are answered inline. A call
frame's ``rid`` (the request id the gateway gave the call) is set in ``REQUEST_ID`` while its worker
runs it, so the native process's log lines for the call carry it. Every call is measured
(``nautilus_native_*``: outcome, in-flight, queue wait, compute time).
The socket file is created with mode 0600. ``drain_and_close`` stops accepting, waits
(bounded) for in-flight calls, then closes: SIGTERM calls it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from backend.core import metrics
from backend.core.logging import REQUEST_ID
from backend.core.workers import Workers
from native_engines.ipc.frames import PROTOCOL_VERSION, FrameError, make_packer, make_unpacker, read_frame
from native_engines.ipc.shm import SHM_THRESHOLD_BYTES, Attached, ShmPool

#: How often segments unlinked by a client are unmapped here.
SWEEP_EVERY_S = 2.0

log = logging.getLogger(__name__)

#: handler(body_tree) -> bytes (a JSON response) or a result tree (may hold arrays)
Handler = Callable[[Any], Any]
#: error_mapper(exception, op) -> problem dict
ErrorMapper = Callable[[BaseException, str], dict]



class NativeServer:
    def __init__(self, engine: str, path: Path, handlers: dict[str, Handler], *, instance: str,
                 error_mapper: ErrorMapper, info: Callable[[], dict], workers: int = 4,
                 report: Callable[[], list] | None = None) -> None:
        self.engine = engine
        self.path = path
        self.handlers = handlers
        self.error_mapper = error_mapper
        self.info = info
        #: this process's metrics as a plain tree (``native_engines.metrics.report``), for the gateway
        self.report = report or (lambda: [])
        metrics.enable(metrics.NATIVE_CALLS, metrics.NATIVE_INFLIGHT, metrics.NATIVE_QUEUE_WAIT,
                       metrics.NATIVE_COMPUTE)
        self._inflight_gauge = metrics.NATIVE_INFLIGHT.labels(engine)
        self._queue_wait = metrics.NATIVE_QUEUE_WAIT.labels(engine)
        self.workers = Workers(workers, f"native-{engine}")
        self.results = ShmPool(instance, "result")
        self.attached = Attached()
        self.inflight: set[asyncio.Future] = set()
        self.calls = 0
        self.started = time.time()
        self._server: asyncio.AbstractServer | None = None
        self._sweeper: asyncio.Task | None = None

    async def _sweep(self) -> None:
        """Unmap clients' segments they have unlinked, so their pages go back to the OS."""
        while True:
            await asyncio.sleep(SWEEP_EVERY_S)
            self.attached.sweep()

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        old = os.umask(0o177)  # the socket is born 0600: no window where others may connect
        try:
            self._server = await asyncio.start_unix_server(self._connection, path=str(self.path), limit=1 << 20)
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        self._sweeper = asyncio.create_task(self._sweep(), name=f"native-{self.engine}-shm-sweep")

    async def drain_and_close(self, timeout_s: float = 10.0) -> None:
        if self._server is not None:
            self._server.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self.inflight:
            await asyncio.wait(self.inflight, timeout=timeout_s)
        self.workers.shutdown()
        self.results.close()
        self.attached.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        regions: set[tuple[str, int]] = set()

        def place(arr: np.ndarray) -> tuple[str, int] | None:
            if arr.nbytes < SHM_THRESHOLD_BYTES:
                return None
            ref = self.results.place(arr)
            if ref is not None:
                regions.add(ref)
            return ref

        pack = make_packer(place)
        unpack = make_unpacker(self.attached.view)
        try:
            hello = unpack(await read_frame(reader))
            if not isinstance(hello, dict) or hello.get("t") != "hello" or hello.get("v") != PROTOCOL_VERSION:
                writer.write(pack({"t": "err", "id": 0, "problem": {
                    "status": 400, "code": "PROTOCOL_VERSION", "title": "Protocol mismatch",
                    "detail": f"expected hello with protocol version {PROTOCOL_VERSION}"}}))
                await writer.drain()
                return
            writer.write(pack({"t": "hello", "v": PROTOCOL_VERSION, "engine": self.engine,
                               "ops": sorted(self.handlers), "pid": os.getpid()}))
            while True:
                msg = unpack(await read_frame(reader))
                kind = msg.get("t")
                if kind == "call":
                    self._call(msg, writer, pack)
                elif kind == "ping":
                    writer.write(pack({"t": "pong", "id": msg.get("id", 0)}))
                elif kind == "health":
                    writer.write(pack({"t": "ok", "id": msg.get("id", 0), "body": self.health()}))
                elif kind == "metrics":
                    writer.write(pack({"t": "ok", "id": msg.get("id", 0), "body": self.report()}))
                elif kind == "release":
                    for seg, off in msg.get("regions", []):
                        if (seg, off) in regions:
                            regions.discard((seg, off))
                            self.results.free(seg, off)
                else:
                    raise FrameError(f"unknown frame type {kind!r}")
                if writer.transport.get_write_buffer_size() > 1 << 20:
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except FrameError as e:
            log.warning("closing connection: %s", e)
        finally:
            for seg, off in regions:
                self.results.free(seg, off)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _call(self, msg: dict, writer: asyncio.StreamWriter, pack: Callable[[Any], bytes]) -> None:
        """Hand the call to a worker; the reply is written when it completes (in completion order)."""
        call_id, op = msg.get("id", 0), msg.get("op")
        handler = self.handlers.get(op)
        if handler is None:
            writer.write(pack({"t": "err", "id": call_id, "problem": self.error_mapper(LookupError(op), str(op))}))
            return
        rid = msg.get("rid")
        want = msg.get("want")
        args = (msg.get("body"),) if want is None else (msg.get("body"), want)
        fut = self.workers.submit(asyncio.get_running_loop(), self._measured, handler, op,
                                  rid if isinstance(rid, str) else None, time.perf_counter(), *args)
        self.inflight.add(fut)
        self._inflight_gauge.inc()

        def done(f: asyncio.Future) -> None:
            self.inflight.discard(f)
            self._inflight_gauge.dec()
            outcome = "ok"
            try:
                result = f.result()
                self.calls += 1
                frame = pack({"t": "ok", "id": call_id, "json": result} if isinstance(result, bytes | bytearray)
                             else {"t": "ok", "id": call_id, "body": result})
            except BaseException as e:  # noqa: BLE001 - every failure becomes a problem for the caller
                token = REQUEST_ID.set(rid if isinstance(rid, str) else None)
                try:
                    problem = self.error_mapper(e, str(op))
                finally:
                    REQUEST_ID.reset(token)
                outcome = str(problem.get("code", "error"))
                frame = pack({"t": "err", "id": call_id, "problem": problem})
            metrics.NATIVE_CALLS.labels(self.engine, op, outcome).inc()
            if not writer.is_closing():
                writer.write(frame)

        fut.add_done_callback(done)

    def _measured(self, handler: Handler, op: str, rid: str | None, queued_at: float, *args: Any) -> Any:
        """Worker thread: the call under its request id, its queue wait and compute time measured."""
        start = time.perf_counter()
        self._queue_wait.observe(start - queued_at)
        token = REQUEST_ID.set(rid)
        try:
            return handler(*args)
        finally:
            took = time.perf_counter() - start
            if log.isEnabledFor(logging.DEBUG):
                log.debug("native call %s computed in %.2f ms after %.2f ms in the queue", op, took * 1e3,
                          (start - queued_at) * 1e3)
            REQUEST_ID.reset(token)
            metrics.NATIVE_COMPUTE.labels(self.engine, op).observe(took)

    def health(self) -> dict:
        return {**self.info(), "engine": self.engine, "pid": os.getpid(), "calls": self.calls,
                "inflight": len(self.inflight), "uptime_s": round(time.time() - self.started, 3),
                "result_shm_bytes": self.results.total_bytes, "operations": sorted(self.handlers)}
