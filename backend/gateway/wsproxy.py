"""``/ws`` on the gateway: the websocket engine's live stream, reachable where the API is.

The client authenticates here (header or first message, ``backend.auth.websocket``); the gateway
then opens the engine's ``/ws`` with the client's own key (so the engine applies that key's scopes
and accounts per topic, exactly as on :8600) and relays frames both ways until either side closes,
passing the engine's close code on (4008 slow consumer, 4002 heartbeat timeout, ...). The engine
does the fan-out; this is a relay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiohttp
from fastapi import FastAPI, WebSocket
from starlette.websockets import WebSocketDisconnect

from backend.auth.guard import INTERNAL_HEADER, Authenticator
from backend.auth.keys import HEADER
from backend.auth.websocket import authenticate
from backend.core.settings import Settings

log = logging.getLogger(__name__)
CLOSE_UPSTREAM_DOWN = 1013  # "try again later"


def install(app: FastAPI, settings: Settings, auth: Authenticator, state: dict) -> None:
    """``state["http"]`` is the gateway's aiohttp session (opened in its lifespan)."""
    upstream_url = settings.engine_replicas("websocket")[0].replace("http", "ws", 1) + "/ws"

    @app.websocket("/ws")
    async def ws(socket: WebSocket) -> None:
        await socket.accept()
        if await authenticate(socket, auth, scope=None) is None:
            return
        key = getattr(socket.state, "api_key", None)
        headers = ({HEADER: key} if key else
                   {INTERNAL_HEADER: settings.internal_token} if settings.internal_token else {})
        try:
            upstream = await state["http"].ws_connect(upstream_url, headers=headers, heartbeat=20.0,
                                                        timeout=aiohttp.ClientWSTimeout(ws_close=5.0))
        except (aiohttp.ClientError, OSError) as e:
            with contextlib.suppress(Exception):
                await socket.send_json({"type": "error", "code": "ENGINE_UNAVAILABLE",
                                        "detail": f"the websocket engine is not reachable: {type(e).__name__}"})
                await socket.close(code=CLOSE_UPSTREAM_DOWN)
            return

        async def to_engine() -> None:
            while True:
                msg = await socket.receive()
                if msg["type"] == "websocket.disconnect":
                    return
                if msg.get("text") is not None:
                    await upstream.send_str(msg["text"])
                elif msg.get("bytes") is not None:
                    await upstream.send_bytes(msg["bytes"])  # the engine answers with an error frame

        async def to_client() -> None:
            async for msg in upstream:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    await socket.send_text(msg.data)
                else:
                    break

        tasks = [asyncio.create_task(to_engine()), asyncio.create_task(to_client())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await upstream.close()
            code = upstream.close_code if upstream.close_code and upstream.close_code >= 4000 else 1000
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await socket.close(code=code)
