"""The websocket engine against real Redis and PostgreSQL: auth and scopes per topic family, malformed
messages, instance isolation, order events after a REST order (with resume and outbox re-sends),
slow consumers, heartbeats, and the gateway's relay."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest
import redis.asyncio as aioredis
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from backend.auth import keys
from backend.auth.websocket import WS_MAX_FRAME_BYTES
from backend.bus.envelope import encode
from backend.bus.streams import EVENTS_TRADING
from engines.websocket.session import Session
from tests.integration.test_trading_api import running, setup_market
from tests.support.access import ADMIN_KEY
from tests.support.realtime import StalledClient, receive, receive_until, serve_websocket_engine

pytestmark = pytest.mark.timeout(120)


def kind(t: str):  # noqa: ANN201
    return lambda m: m.get("type") == t


async def make_key(db_pool, scopes: list[str], accounts: list[str] | None = None) -> str:  # noqa: ANN001
    _, key = await keys.create_key(db_pool, f"ws-{uuid.uuid4().hex[:6]}", scopes, accounts)
    return key


async def publish_until_seen(bus, ws, topic: str, payload: dict, type_: str = "quote") -> list[dict]:  # noqa: ANN001
    """Publish on ``topic`` until the hub has a receiver, then read up to that message."""
    for _ in range(200):
        if await bus.broadcast(topic, topic, type_, payload) > 0:
            break
        await asyncio.sleep(0.02)
    return await receive_until(ws, lambda m: m.get("topic") == topic)


async def close_code(ws, timeout_s: float = 30.0) -> int:  # noqa: ANN001
    """Read until the server closes; its close code."""
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                await ws.recv()
    except ConnectionClosed as e:
        return e.rcvd.code if e.rcvd else 1006


async def test_ws_auth_when_no_key_then_4401_and_header_or_first_message_both_work(
        db_pool, redis_url, database_url, admin_key) -> None:
    async with serve_websocket_engine(redis_url=redis_url, database_url=database_url) as (url, _):
        async with connect(url) as ws:
            await ws.send(json.dumps({"action": "subscribe", "topics": ["data.quotes.*"]}))
            assert (await receive(ws))[0]["code"] == "UNAUTHORIZED"
            assert await close_code(ws) == 4401
        async with connect(url) as ws:
            await ws.send(json.dumps({"action": "auth", "api_key": ADMIN_KEY}))
            assert (await receive(ws))[0]["type"] == "authenticated"
        async with connect(url, additional_headers={"X-API-Key": ADMIN_KEY}) as ws:
            await ws.send(json.dumps({"action": "ping"}))
            assert (await receive_until(ws, kind("pong")))[-1]["type"] == "pong"


async def test_ws_scopes_when_read_key_subscribes_to_orders_then_forbidden_frame_and_quotes_still_flow(
        db_pool, redis_url, database_url, bus, admin_key) -> None:
    read_key = await make_key(db_pool, ["read"])
    async with serve_websocket_engine(redis_url=redis_url, database_url=database_url) as (url, _):
        async with connect(url, additional_headers={"X-API-Key": read_key}) as ws:
            for topics, family in ((["events.order.*"], "orders"), (["events.risk.*"], "risk"),
                                   (["events.job.*"], "jobs")):
                await ws.send(json.dumps({"action": "subscribe", "topics": topics}))
                err = (await receive_until(ws, kind("error")))[-1]
                assert err["code"] == "FORBIDDEN" and err["field"] == "topics" and family in err["detail"]
            await ws.send(json.dumps({"action": "subscribe", "topics": ["data.quotes.*"]}))
            assert (await receive_until(ws, kind("subscribed")))[-1]["topics"] == ["data.quotes.*"]
            got = await publish_until_seen(bus, ws, "data.quotes.SIM.SCOPE", {"bid": 1.0})
            assert got[-1]["payload"] == {"bid": 1.0}


async def test_ws_bad_input_when_malformed_then_error_frames_and_the_stream_goes_on(
        db_pool, redis_url, database_url, bus, admin_key) -> None:
    async with serve_websocket_engine(redis_url=redis_url, database_url=database_url) as (url, _):
        async with connect(url, additional_headers={"X-API-Key": ADMIN_KEY}) as ws:
            await ws.send(json.dumps({"action": "subscribe", "topics": ["data.quotes.*"]}))
            await receive_until(ws, kind("subscribed"))
            cases = [("not json", "BAD_MESSAGE", None), (b"\x00\x01", "BAD_MESSAGE", None),
                     (json.dumps({"action": "subscribe", "topics": ["x" * 5000]}), "MESSAGE_TOO_LARGE", None),
                     (json.dumps({"action": "dance"}), "BAD_MESSAGE", "action"),
                     (json.dumps([1, 2]), "BAD_MESSAGE", "action"),
                     (json.dumps({"action": "subscribe", "topics": []}), "BAD_MESSAGE", "topics"),
                     (json.dumps({"action": "subscribe", "topics": ["no.such.topic"]}), "UNKNOWN_TOPIC", "topics"),
                     (json.dumps({"action": "subscribe", "topics": ["*"]}), "UNKNOWN_TOPIC", "topics"),
                     (json.dumps({"action": "subscribe", "topics": ["events.order.*"], "since": "yesterday"}),
                      "BAD_MESSAGE", "since")]
            for raw, code, field in cases:
                await ws.send(raw)
                err = (await receive_until(ws, kind("error")))[-1]
                assert err["code"] == code and err.get("field") == field, (raw, err)
            got = await publish_until_seen(bus, ws, "data.quotes.SIM.AFTER", {"bid": 2.0})
            assert got[-1]["payload"] == {"bid": 2.0}


async def test_ws_bad_input_when_frame_over_the_server_limit_then_closed_1009_and_others_unaffected(
        db_pool, redis_url, database_url, bus, admin_key) -> None:
    async with serve_websocket_engine(redis_url=redis_url, database_url=database_url) as (url, _):
        async with connect(url, additional_headers={"X-API-Key": ADMIN_KEY}) as other, \
                connect(url, additional_headers={"X-API-Key": ADMIN_KEY}, max_size=None) as ws:
            await other.send(json.dumps({"action": "subscribe", "topics": ["data.quotes.*"]}))
            await receive_until(other, kind("subscribed"))
            await ws.send("x" * (WS_MAX_FRAME_BYTES + 1))
            assert await close_code(ws) == 1009
            got = await publish_until_seen(bus, other, "data.quotes.SIM.STILL", {"bid": 3.0})
            assert got[-1]["payload"] == {"bid": 3.0}


async def test_ws_isolation_when_other_instance_publishes_on_same_redis_then_nothing_arrives(
        db_pool, redis_url, database_url, bus, admin_key) -> None:
    """Pub/sub ignores the database number: the instance prefix is what isolates."""
    other = aioredis.from_url(redis_url)
    async with serve_websocket_engine(redis_url=redis_url, database_url=database_url) as (url, _):
        async with connect(url, additional_headers={"X-API-Key": ADMIN_KEY}) as ws:
            await ws.send(json.dumps({"action": "subscribe", "topics": ["data.quotes.*", "events.order.*"]}))
            await receive_until(ws, kind("subscribed"))
            await other.publish("other-instance:data.quotes.SIM.LEAK",
                                encode("data.quotes.SIM.LEAK", "quote", {"bid": 9.0}))
            await other.xadd(f"other-instance:{EVENTS_TRADING}",
                             {b"e": encode("events.order.s", "order.filled", {"event_id": "x"})})
            got = await publish_until_seen(bus, ws, "data.quotes.SIM.MINE", {"bid": 1.0})
            assert [m["topic"] for m in got if "topic" in m] == ["data.quotes.SIM.MINE"]
    await other.aclose()


async def test_ws_orders_when_rest_order_filled_then_events_arrive_in_order_resume_and_no_duplicates(
        db_pool, redis_url, database_url, bus, admin_key) -> None:
    async with running(db_pool, redis_url, database_url) as (svc, client, _), \
            serve_websocket_engine(redis_url=redis_url, database_url=database_url) as (url, _):
        sym, acct = await setup_market(svc, client, db_pool)
        trader = await make_key(db_pool, ["read", "trade"], [acct])
        outsider = await make_key(db_pool, ["read", "trade"], ["SOMEONE-ELSE"])
        async with connect(url, additional_headers={"X-API-Key": trader}) as ws, \
                connect(url, additional_headers={"X-API-Key": outsider}) as other:
            for w in (ws, other):
                await w.send(json.dumps({"action": "subscribe",
                                         "topics": ["events.order.*", "events.fill.*", "events.position.*"]}))
                await receive_until(w, kind("subscribed"))
            r = await client.post("/api/v1/trading/orders", json={"account_id": acct, "symbol": sym, "side": "buy",
                                                                   "type": "market", "qty": 10})
            assert r.status_code == 201, r.text
            oid = r.json()["id"]
            got = await receive_until(ws, lambda m: m.get("type") == "position")
            types = [m["type"] for m in got]
            assert "order.filled" in types and "fill" in types and all(m["payload"]["account_id"] == acct for m in got)
            assert {m["payload"]["id"] for m in got if m["type"].startswith("order.")} == {oid}
            assert {m["payload"]["order_id"] for m in got if m["type"] == "fill"} == {oid}
            ids = [tuple(map(int, m["id"].split("-"))) for m in got]
            assert ids == sorted(ids) and len(set(ids)) == len(ids)
            last_seen = got[-1]["id"]
            # the outbox may re-send: the same event again on the stream is not delivered again
            dup = got[-1]
            await bus.redis.xadd(bus.key(EVENTS_TRADING), {b"e": encode(dup["topic"], dup["type"], dup["payload"])})
            await other.send(json.dumps({"action": "ping"}))  # the account-limited outsider saw nothing
            assert [m["type"] for m in await receive_until(other, kind("pong"))] == ["pong"]
        # events while disconnected; a reconnect with the last id gets exactly those, in order
        r2 = await client.post("/api/v1/trading/orders", json={"account_id": acct, "symbol": sym, "side": "sell",
                                                                "type": "market", "qty": 4})
        oid2 = r2.json()["id"]
        for _ in range(400):  # the relay has moved it to the stream
            if await svc.relay.pending() == 0:
                break
            await asyncio.sleep(0.05)
        async with connect(url, additional_headers={"X-API-Key": trader}) as ws:
            await ws.send(json.dumps({"action": "subscribe", "topics": ["events.order.*", "events.fill.*",
                                                                        "events.position.*"], "since": last_seen}))
            got = await receive_until(ws, lambda m: m.get("type") == "position" and m["payload"]["qty"] == 6)
            data = [m for m in got if "topic" in m]
            assert {m["payload"].get("order_id", m["payload"]["id"]) for m in data if m["type"] != "position"} == {oid2}
            assert len({m["payload"]["event_id"] for m in data}) == len(data)
            ids = [tuple(map(int, m["id"].split("-"))) for m in data]
            assert ids == sorted(ids) and ids[0] > tuple(map(int, last_seen.split("-")))
            assert (await receive_until(ws, kind("resumed")))[-1]["replayed"] >= len(data)


async def test_ws_slow_client_when_it_never_reads_then_closed_4008_and_others_get_everything(
        db_pool, redis_url, database_url, bus, admin_key) -> None:
    async with serve_websocket_engine(redis_url=redis_url, database_url=database_url,
                                      ws_max_queue_items=200) as (url, app):
        slow = await asyncio.to_thread(StalledClient, url, ADMIN_KEY)  # the server runs on this loop
        slow.send_json({"action": "subscribe", "topics": ["data.trades.*"]})
        try:
            async with connect(url, additional_headers={"X-API-Key": ADMIN_KEY}) as fast:
                await fast.send(json.dumps({"action": "subscribe", "topics": ["data.trades.*"]}))
                await receive_until(fast, kind("subscribed"))
                def sessions() -> list[Session]:  # the notifier is a hub subscriber too
                    return [c for c in app.state.hub.clients if isinstance(c, Session)]

                for _ in range(200):
                    if len(sessions()) == 2 and all(c.patterns for c in sessions()):
                        break
                    await asyncio.sleep(0.02)
                blob = "x" * 8000
                sent = 0
                for _ in range(100):  # until the slow client is gone, a batch at a time, read by the fast one
                    for i in range(20):
                        await bus.broadcast("data.trades.SIM.T", "data.trades.SIM.T", "trade",
                                            {"seq": sent + i, "blob": blob})
                    sent += 20
                    got = await receive_until(fast, lambda m, n=sent: m.get("payload", {}).get("seq") == n - 1)
                    seqs = [m["payload"]["seq"] for m in got if "payload" in m]
                    assert seqs == list(range(sent - 20, sent)), "the fast client lost or reordered messages"
                    if len(sessions()) == 1:
                        break
                assert len(sessions()) == 1, "the slow client was never disconnected"
            assert await asyncio.to_thread(slow.close_code) == 4008
        finally:
            slow.close()


async def test_ws_heartbeat_when_client_never_answers_then_closed_4002(
        db_pool, redis_url, database_url, admin_key) -> None:
    async with serve_websocket_engine(redis_url=redis_url, database_url=database_url, ws_heartbeat_s=0.2,
                                      ws_heartbeat_timeout_s=0.5) as (url, _):
        async with connect(url, additional_headers={"X-API-Key": ADMIN_KEY}) as ws:
            pings = await receive_until(ws, kind("ping"), skip_control=False)
            assert pings[-1]["ts_ns"] > 0
            assert await close_code(ws) == 4002


async def test_gateway_ws_when_read_key_then_engine_applies_its_scopes_and_close_codes_pass(
        tmp_path, db_pool, database_url, redis_url, bus) -> None:
    """The dashboard's route: ws://gateway/ws, the client's own key forwarded to the engine."""
    from tests.support.procs import Proc, base_env, free_port

    read_key = await make_key(db_pool, ["read"])
    ws_port, gw_port = free_port(), free_port()
    env = base_env(tmp_path, DATABASE_URL=database_url, REDIS_URL=redis_url, NAUTILUS_PORT_WEBSOCKET=str(ws_port),
                   NAUTILUS_PORT_GATEWAY=str(gw_port), NAUTILUS_NATIVE_ENABLED="false")
    eng = Proc("websocket", "engines.websocket", env, ws_port, tmp_path / "ws.log").start()
    gw = Proc("gateway", "backend.gateway", env, gw_port, tmp_path / "gw.log").start()
    try:
        async with connect(f"ws://127.0.0.1:{gw_port}/ws") as ws:  # no key: refused at the gateway
            assert (await receive(ws))[0]["code"] == "UNAUTHORIZED"
            assert await close_code(ws) == 4401
        async with connect(f"ws://127.0.0.1:{gw_port}/ws") as ws:
            await ws.send(json.dumps({"action": "auth", "api_key": read_key}))
            assert (await receive(ws))[0]["type"] == "authenticated"
            await ws.send(json.dumps({"action": "subscribe", "topics": ["events.order.*"]}))
            assert (await receive_until(ws, kind("error")))[-1]["code"] == "FORBIDDEN"
            await ws.send(json.dumps({"action": "subscribe", "topics": ["data.quotes.*"]}))
            await receive_until(ws, kind("subscribed"))
            got = await publish_until_seen(bus, ws, "data.quotes.GW.X", {"bid": 2.0})
            assert got[-1]["payload"] == {"bid": 2.0}
        # the notification operations are the engine's declared operations, served by the gateway with scopes
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gw_port}") as http:
            rule = {"name": "gw", "event": "engine_down", "channels": [{"type": "websocket"}]}
            r = await http.post("/api/v1/websocket/create_notification_rule", json=rule,
                                headers={"X-API-Key": read_key})
            assert r.status_code == 403
            r = await http.post("/api/v1/websocket/create_notification_rule", json=rule,
                                headers={"X-API-Key": ADMIN_KEY})
            assert r.status_code == 200, r.text
            r = await http.post("/api/v1/websocket/list_notification_rules", json={}, headers={"X-API-Key": read_key})
            assert r.status_code == 200 and rule["name"] in [x["name"] for x in r.json()["items"]]
    finally:
        gw.stop()
        eng.stop()
