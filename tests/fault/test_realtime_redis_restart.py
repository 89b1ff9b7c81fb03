"""Redis restarts under the websocket engine: connected clients stay connected, order events written while the
hub was reconnecting arrive without loss and in order, and live topics flow again (a real redis-server killed
and restarted with its append-only file)."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from websockets.asyncio.client import connect

from backend.bus import Bus
from backend.bus.redis_bus import instance_prefix
from backend.bus.streams import EVENTS_TRADING
from backend.launcher import infra
from tests.support.access import ADMIN_KEY, TEST_INSTANCE
from tests.support.procs import free_port
from tests.support.realtime import receive_until, serve_websocket_engine

pytestmark = pytest.mark.timeout(120)


async def order_event(bus: Bus, n: int) -> None:
    await bus.append(EVENTS_TRADING, "events.order.fault", "order.filled",
                     {"id": f"o{n}", "account_id": "A", "event_id": uuid.uuid4().hex})


async def test_redis_restart_when_clients_connected_then_they_stay_and_miss_no_order_event(
        tmp_path, database_url, admin_key) -> None:
    port = free_port()
    url, pid = infra.start_embedded_redis(tmp_path, port)
    bus = Bus.from_url(url, prefix=instance_prefix(TEST_INSTANCE))
    try:
        async with serve_websocket_engine(redis_url=url, database_url=database_url,
                                          health_probe_interval_s=3600) as (ws_url, _):
            async with connect(ws_url, additional_headers={"X-API-Key": ADMIN_KEY}) as ws:
                await ws.send(json.dumps({"action": "subscribe", "topics": ["events.order.*", "data.quotes.*"]}))
                await receive_until(ws, lambda m: m.get("type") == "subscribed")
                await order_event(bus, 1)
                await receive_until(ws, lambda m: m.get("payload", {}).get("id") == "o1")

                infra.stop_pid(pid)  # SIGTERM: redis-server writes its append-only file and exits
                await bus.close()
                await asyncio.sleep(0.5)  # the hub's readers see the connection drop
                url, pid = infra.start_embedded_redis(tmp_path, port)
                bus = Bus.from_url(url, prefix=instance_prefix(TEST_INSTANCE))
                for n in range(2, 6):
                    await order_event(bus, n)
                got = await receive_until(ws, lambda m: m.get("payload", {}).get("id") == "o5", timeout_s=60)
                assert [m["payload"]["id"] for m in got if m.get("type") == "order.filled"] == ["o2", "o3", "o4", "o5"]
                for _ in range(600):  # pub/sub resubscribed: live quotes flow again on the same connection
                    if await bus.broadcast("data.quotes.SIM.BACK", "data.quotes.SIM.BACK", "quote", {"bid": 1}) > 0:
                        break
                    await asyncio.sleep(0.05)
                got = await receive_until(ws, lambda m: m.get("topic") == "data.quotes.SIM.BACK")
                assert got[-1]["payload"] == {"bid": 1}
    finally:
        await bus.close()
        infra.stop_pid(pid)
