"""The websocket engine served in the test's event loop (real uvicorn, real TCP: back-pressure is real),
and a small client that reads frames as lists of messages."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn

from backend.auth.websocket import WS_MAX_FRAME_BYTES
from backend.contract.operation import load_engine
from backend.service.app import make_engine_app
from engines.websocket.routes import extend
from tests.support.access import instance_settings
from tests.support.procs import free_port


@asynccontextmanager
async def serve_websocket_engine(**settings: Any) -> AsyncIterator[tuple[str, Any]]:
    """(ws://host:port/ws, app) of a websocket engine of the test instance, stopped on exit."""
    app = make_engine_app(load_engine("websocket"), instance_settings(**settings), extend=extend)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False,
                                           lifespan="on", ws="websockets", ws_ping_interval=None,
                                           ws_max_size=WS_MAX_FRAME_BYTES))
    task = asyncio.create_task(server.serve())
    for _ in range(600):
        if server.started:
            break
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    try:
        yield f"ws://127.0.0.1:{port}/ws", app
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


#: Messages of a frame not yet handed out, per connection (a frame may hold several).
_LEFT: dict[Any, list[dict[str, Any]]] = {}


async def receive(ws: Any, timeout_s: float = 20.0) -> list[dict[str, Any]]:
    """The messages left of the last frame, else of the next one (one message or a JSON array of them)."""
    left = _LEFT.pop(ws, None)
    if left:
        return left
    body = json.loads(await asyncio.wait_for(ws.recv(), timeout_s))
    return body if isinstance(body, list) else [body]


async def receive_until(ws: Any, predicate: Any, timeout_s: float = 20.0, skip_control: bool = True
                        ) -> list[dict[str, Any]]:
    """Messages received until one satisfies ``predicate`` (included); pings are skipped."""
    got: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout_s):
        while True:
            msgs = await receive(ws, timeout_s)
            for i, m in enumerate(msgs):
                if skip_control and m.get("type") == "ping":
                    continue
                got.append(m)
                if predicate(m):
                    if msgs[i + 1:]:
                        _LEFT[ws] = msgs[i + 1:]
                    return got


class StalledClient:
    """A websocket client that subscribes and then never reads, with a small receive buffer, so the
    server's sends really block (client libraries keep reading into their own buffers)."""

    def __init__(self, url: str, api_key: str) -> None:
        host_port = url.split("//", 1)[1].split("/", 1)[0]
        host, port = host_port.rsplit(":", 1)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect((host, int(port)))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(f"GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nX-API-Key: {api_key}\r\n\r\n"
                          .encode())
        self._buf = b""
        while b"\r\n\r\n" not in self._buf:
            self._buf += self.sock.recv(4096)
        self._buf = self._buf.split(b"\r\n\r\n", 1)[1]

    def send_json(self, body: Any) -> None:
        payload = json.dumps(body).encode()
        assert len(payload) < 126
        mask = os.urandom(4)
        self.sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask
                          + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def _read(self, n: int) -> bytes:
        while len(self._buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed without a close frame")
            self._buf += chunk
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def close_code(self, timeout_s: float = 30.0) -> int:
        """Read (and discard) frames until the server's close frame; its code."""
        self.sock.settimeout(timeout_s)
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            payload = self._read(n)
            if b0 & 0x0F == 0x8:
                return struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else 1005

    def close(self) -> None:
        self.sock.close()
