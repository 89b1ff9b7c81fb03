"""The websocket engine pushes bus envelopes to subscribed clients (real Redis)."""

import asyncio
import json

import pytest
import redis
from fastapi.testclient import TestClient

from backend.bus.envelope import encode
from backend.contract.operation import load_engine
from backend.service.app import make_engine_app
from engines.websocket.routes import extend
from tests.support.access import INTERNAL_HEADERS, TEST_INSTANCE, instance_settings

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def client(redis_url):
    app = make_engine_app(load_engine("websocket"), instance_settings(redis_url=redis_url), extend=extend)
    with TestClient(app, headers=INTERNAL_HEADERS) as c:
        yield c


def _publish_until_received(redis_url: str, channel: str, payload: dict, ws) -> dict:
    r = redis.from_url(redis_url)
    for _ in range(100):
        if r.publish(f"{TEST_INSTANCE}:{channel}", encode(channel, "quote", payload)) > 0:
            break
        asyncio.run(asyncio.sleep(0.02))
    r.close()
    return json.loads(ws.receive_text())


def test_ws_when_subscribed_to_pattern_then_matching_envelopes_arrive(client, redis_url):
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"action": "subscribe", "topics": ["data.quotes.*"]})
        assert ws.receive_json() == {"type": "subscribed", "topics": ["data.quotes.*"]}
        msg = _publish_until_received(redis_url, "data.quotes.SIM.AAPL", {"bid": 1.5}, ws)
        assert msg["topic"] == "data.quotes.SIM.AAPL" and msg["payload"] == {"bid": 1.5} and msg["ts_ns"] > 0


def test_ws_when_bad_subscription_then_error_names_field(client):
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"action": "subscribe", "topics": []})
        assert ws.receive_json()["field"] == "topics"
        ws.send_json({"action": "dance", "topics": ["x"]})
        assert ws.receive_json()["field"] == "action"
        ws.send_text("not json")
        assert ws.receive_json()["type"] == "error"


def test_ws_when_no_credentials_then_closed_4401(client):
    from starlette.websockets import WebSocketDisconnect

    with client.websocket_connect("/ws", headers={"X-Nautilus-Internal": ""}) as ws:
        ws.send_json({"action": "subscribe", "topics": ["data.quotes.*"]})
        assert ws.receive_json()["code"] == "UNAUTHORIZED"
        with pytest.raises(WebSocketDisconnect) as e:
            ws.receive_json()
    assert e.value.code == 4401


def test_ws_when_other_instance_publishes_then_nothing_arrives(client, redis_url):
    """Pub/sub ignores the database number: isolation is the instance prefix."""
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"action": "subscribe", "topics": ["data.quotes.*"]})
        ws.receive_json()
        r = redis.from_url(redis_url)
        r.publish("other-instance:data.quotes.SIM.AAPL", encode("data.quotes.SIM.AAPL", "quote", {"bid": 9.0}))
        r.close()
        msg = _publish_until_received(redis_url, "data.quotes.SIM.MSFT", {"bid": 1.0}, ws)
        assert msg["topic"] == "data.quotes.SIM.MSFT"


def test_gateway_ws_when_key_given_then_relays_the_engine_stream(tmp_path, database_url, redis_url):
    """The dashboard's route: ws://gateway/ws, authenticated at the gateway, relayed from the engine."""
    import asyncio as aio

    import aiohttp

    from tests.support.access import ADMIN_KEY
    from tests.support.procs import Proc, base_env, free_port

    ws_port, gw_port = free_port(), free_port()
    env = base_env(tmp_path, DATABASE_URL=database_url, REDIS_URL=redis_url, NAUTILUS_PORT_WEBSOCKET=str(ws_port),
                   NAUTILUS_PORT_GATEWAY=str(gw_port), NAUTILUS_NATIVE_ENABLED="false")
    eng = Proc("websocket", "engines.websocket", env, ws_port, tmp_path / "ws.log").start()
    gw = Proc("gateway", "backend.gateway", env, gw_port, tmp_path / "gw.log").start()

    async def run() -> tuple[dict, dict, int]:
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(f"http://127.0.0.1:{gw_port}/ws") as ws:  # no key: refused
                refused = await ws.receive_json()
                await ws.receive()
                code = ws.close_code
            async with s.ws_connect(f"http://127.0.0.1:{gw_port}/ws") as ws:
                await ws.send_json({"action": "auth", "api_key": ADMIN_KEY})
                assert (await ws.receive_json())["type"] == "authenticated"
                await ws.send_json({"action": "subscribe", "topics": ["data.quotes.*"]})
                assert (await ws.receive_json())["type"] == "subscribed"
                r = redis.from_url(redis_url)
                for _ in range(100):
                    if r.publish(f"{TEST_INSTANCE}:data.quotes.GW.X", encode("data.quotes.GW.X", "quote",
                                                                               {"bid": 2.0})) > 0:
                        break
                    await aio.sleep(0.02)
                r.close()
                got = await aio.wait_for(ws.receive_json(), 10)
        return refused, got, code

    try:
        refused, got, code = aio.run(run())
        assert refused["code"] == "UNAUTHORIZED" and code == 4401
        assert got["topic"] == "data.quotes.GW.X" and got["payload"] == {"bid": 2.0}
    finally:
        gw.stop()
        eng.stop()
