"""Authentication of a websocket: the ``X-API-Key`` header (or the internal token), else the first
message ``{"action": "auth", "api_key": "..."}`` (browsers cannot set headers on a websocket).
Failure closes the socket with 4401 (no or unknown key) or 4403 (the key lacks the scope). The key a
client authenticated with stays in ``socket.state.api_key`` (the gateway passes it on to the engine)."""

from __future__ import annotations

import asyncio
import contextlib
import json

from starlette.websockets import WebSocket, WebSocketDisconnect

from backend.auth.guard import Authenticator
from backend.auth.keys import Principal
from backend.core.errors import NautilusError
from backend.core.scopes import Scope

AUTH_TIMEOUT_S = 10.0
#: Largest websocket frame a server reads (uvicorn closes the connection with 1009 above it, before the
#: frame is read whole); client messages are small JSON (the engine answers over 4,096 characters with an error).
WS_MAX_FRAME_BYTES = 64 * 1024
CLOSE_UNAUTHORIZED, CLOSE_FORBIDDEN = 4401, 4403


async def authenticate(socket: WebSocket, auth: Authenticator, scope: Scope | None = Scope.READ
                       ) -> Principal | None:
    """The socket's principal (accepted already), or None after closing it with the reason.
    ``scope`` None: any valid key (the caller checks scopes per use)."""
    principal = await auth.optional(socket.headers)
    socket.state.api_key = socket.headers.get("X-API-Key")
    if principal is None:
        try:
            msg = json.loads(await asyncio.wait_for(socket.receive_text(), AUTH_TIMEOUT_S))
            key = msg.get("api_key") if isinstance(msg, dict) and msg.get("action") == "auth" else None
            principal = await auth.principal({"X-API-Key": key}) if isinstance(key, str) else None
            socket.state.api_key = key
        except (TimeoutError, json.JSONDecodeError, NautilusError, WebSocketDisconnect):
            principal = None
        if principal is None:
            await _refuse(socket, CLOSE_UNAUTHORIZED, "UNAUTHORIZED", 'send an API key: header X-API-Key or '
                          '{"action": "auth", "api_key": "..."} as the first message')
            return None
        await socket.send_json({"type": "authenticated", "key": principal.name})
    if scope is not None and not principal.allows(scope):
        await _refuse(socket, CLOSE_FORBIDDEN, "FORBIDDEN", f"the key lacks the {str(scope)!r} scope")
        return None
    return principal


async def _refuse(socket: WebSocket, code: int, problem: str, detail: str) -> None:
    with contextlib.suppress(Exception):
        await socket.send_json({"type": "error", "code": problem, "detail": detail})
        await socket.close(code=code)
