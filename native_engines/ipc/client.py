"""Client of a native engine: a small pool of pipelined connections.

``call(op, body)`` places large arrays of ``body`` in this client's shared-memory pool
(created once, reused by every call), sends only their references, and frees them when
the reply arrives. Result arrays that come back in the engine's shared memory are copied
out and released at once. Replies are matched to calls by id, so any number of calls
may be in flight on one connection. A lost connection fails its in-flight calls with
``NativeUnavailable``; the next call reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from pathlib import Path
from typing import Any

import numpy as np

from backend.core.logging import REQUEST_ID
from native_engines.ipc.frames import PROTOCOL_VERSION, FrameError, make_packer, make_unpacker, read_frame
from native_engines.ipc.shm import SHM_THRESHOLD_BYTES, Attached, ShmPool


class NativeUnavailable(ConnectionError):
    """The engine could not be reached or the connection broke mid-call."""


class NativeCallError(Exception):
    """The engine answered with a problem (a domain error or a bug on its side)."""

    def __init__(self, problem: dict) -> None:
        super().__init__(problem.get("detail", "native call failed"))
        self.problem = problem


class _Connection:
    def __init__(self, client: NativeClient) -> None:
        self.client = client
        self.pending: dict[int, tuple[asyncio.Future, list[tuple[str, int]]]] = {}
        self.ids = itertools.count(1)
        self.writer: asyncio.StreamWriter | None = None
        self.reader_task: asyncio.Task | None = None
        self.hello: dict = {}
        self.lock = asyncio.Lock()

    @property
    def alive(self) -> bool:
        return self.writer is not None and not self.writer.is_closing()

    async def connect(self, timeout_s: float) -> None:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_unix_connection(str(self.client.path), limit=1 << 20), timeout_s)
        except (TimeoutError, OSError) as e:
            raise NativeUnavailable(f"cannot connect to {self.client.path}: {e}") from e
        writer.write(self.client.pack({"t": "hello", "v": PROTOCOL_VERSION, "client": self.client.name}))
        try:
            hello = self.client.unpack(await asyncio.wait_for(read_frame(reader), timeout_s))
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError) as e:
            writer.close()
            raise NativeUnavailable(f"handshake with {self.client.path} failed: {e!r}") from e
        if hello.get("t") != "hello" or hello.get("v") != PROTOCOL_VERSION:
            writer.close()
            raise NativeUnavailable(f"protocol mismatch: {hello.get('problem', hello)}")
        self.hello = hello
        self.writer = writer
        self.reader_task = asyncio.create_task(self._read(reader))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        error: BaseException = NativeUnavailable("connection closed by the engine")
        try:
            while True:
                payload = await read_frame(reader)
                self.client._resolved = []
                msg = self.client.unpack(payload)
                msg["_regions"] = self.client._resolved
                msg["_conn"] = self
                entry = self.pending.pop(msg.get("id", 0), None)
                if entry is None:
                    continue
                fut, regions = entry
                for seg, off in regions:
                    self.client.pool_free(seg, off)
                if not fut.done():
                    fut.set_result(msg)
        except (asyncio.IncompleteReadError, ConnectionError, FrameError) as e:
            error = NativeUnavailable(f"connection to {self.client.path} lost: {e!r}")
        finally:
            if self.writer is not None:
                self.writer.close()
            for fut, regions in self.pending.values():
                for seg, off in regions:
                    self.client.pool_free(seg, off)
                if not fut.done():
                    fut.set_exception(error)
            self.pending.clear()

    async def request(self, frame: dict) -> dict:
        """Pack (placing arrays), send, and wait for the reply with the same id."""
        call_id = next(self.ids)
        placed: list[tuple[str, int]] = []
        self.client._placed = placed
        try:
            data = self.client.pack({**frame, "id": call_id})  # synchronous: no interleaving
        except Exception:
            for seg, off in placed:
                self.client.pool_free(seg, off)
            raise
        finally:
            self.client._placed = None
        fut = asyncio.get_running_loop().create_future()
        self.pending[call_id] = (fut, placed)
        assert self.writer is not None
        self.writer.write(data)
        if self.writer.transport.get_write_buffer_size() > 1 << 20:
            await self.writer.drain()
        return await fut

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.reader_task is not None:
            self.reader_task.cancel()
            await asyncio.gather(self.reader_task, return_exceptions=True)


class NativeClient:
    def __init__(self, path: str | Path, *, name: str = "client", connections: int = 2,
                 pool: ShmPool | None = None, connect_timeout_s: float = 1.0) -> None:
        self.path = Path(path)
        self.name = name
        self.pool = pool
        self.connect_timeout_s = connect_timeout_s
        self.conns = [_Connection(self) for _ in range(max(1, connections))]
        self._rr = itertools.cycle(range(len(self.conns)))
        self.attached = Attached()
        self._placed: list[tuple[str, int]] | None = None
        self._resolved: list[list] = []
        self.pack = make_packer(self._place)
        self.unpack = make_unpacker(self._resolve)

    def _place(self, arr: np.ndarray) -> tuple[str, int] | None:
        if self.pool is None or self._placed is None or arr.nbytes < SHM_THRESHOLD_BYTES:
            return None
        ref = self.pool.place(arr)
        if ref is not None:
            self._placed.append(ref)
        return ref

    def _resolve(self, segment: str, offset: int, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
        self._resolved.append([segment, offset])
        return self.attached.view(segment, offset, dtype, shape)

    def pool_free(self, segment: str, offset: int) -> None:
        if self.pool is not None:
            self.pool.free(segment, offset)

    async def _conn(self) -> _Connection:
        conn = self.conns[next(self._rr)]
        if not conn.alive:
            async with conn.lock:
                if not conn.alive:
                    await conn.connect(self.connect_timeout_s)
        return conn

    async def _send(self, frame: dict, timeout_s: float) -> dict:
        conn = await self._conn()
        try:
            return await asyncio.wait_for(conn.request(frame), timeout_s)
        except NativeUnavailable:
            raise
        except (ConnectionError, OSError) as e:
            raise NativeUnavailable(str(e)) from e

    async def call(self, op: str, body: Any, *, timeout_s: float = 30.0, want: str | None = None) -> Any:
        """Call ``op``; returns JSON bytes (engine operations) or, with ``want="tree"``, the result tree
        with its arrays (copied out of the engine's shared memory). The request id being served
        (``REQUEST_ID``) travels with the call, so the engine's log lines for it carry it."""
        frame = {"t": "call", "op": op, "body": body}
        if want is not None:
            frame["want"] = want
        rid = REQUEST_ID.get()
        if rid is not None:
            frame["rid"] = rid
        msg = await self._send(frame, timeout_s)
        if msg["t"] == "err":
            raise NativeCallError(msg["problem"])
        if "json" in msg:
            return msg["json"]
        return self._copy_out(msg)

    def _copy_out(self, msg: dict) -> Any:
        """Copy arrays that live in the engine's shared memory, then release them."""

        def walk(x: Any) -> Any:
            if isinstance(x, np.ndarray):
                return np.array(x, copy=True)
            if isinstance(x, dict):
                return {k: walk(v) for k, v in x.items()}
            if isinstance(x, list):
                return [walk(v) for v in x]
            return x

        out = walk(msg["body"]) if msg["_regions"] else msg["body"]
        if msg["_regions"]:
            conn = msg["_conn"]  # the engine tracks result regions per connection
            if conn.alive and conn.writer is not None:
                conn.writer.write(self.pack({"t": "release", "regions": msg["_regions"]}))
            self.attached.sweep()  # the engine's earlier oversize result segments, if it has unlinked them
        return out

    async def ping(self, timeout_s: float = 1.0) -> None:
        msg = await self._send({"t": "ping"}, timeout_s)
        if msg.get("t") != "pong":
            raise NativeUnavailable(f"unexpected reply to ping: {msg.get('t')}")

    async def health(self, timeout_s: float = 1.0) -> dict:
        return self._copy_out(await self._send({"t": "health"}, timeout_s))

    async def metrics(self, timeout_s: float = 1.0) -> list:
        """The engine's metric families (``native_engines.metrics.report``)."""
        return self._copy_out(await self._send({"t": "metrics"}, timeout_s))

    async def close(self) -> None:
        for c in self.conns:
            await c.close()
        self.attached.close()
        with contextlib.suppress(Exception):
            if self.pool is not None:
                self.pool.close()
