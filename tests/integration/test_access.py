"""Access on every route family through the gateway (issue 9): for every engine operation, no key is
401, a key without the operation's scope is 403, a key with it gets past the gate; a key limited to
some accounts cannot name another account; key management is admin-only. The engines are not
started: everything here is decided at the gateway, before any routing."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx
import pytest

from backend.auth import keys
from backend.contract.operation import load_engine
from backend.core.scopes import ALL_SCOPES
from backend.core.settings import ENGINE_PORTS
from tests.support.access import ADMIN_HEADERS
from tests.support.procs import Proc, base_env, free_port

pytestmark = pytest.mark.timeout(120)
OPS = [op for e in ENGINE_PORTS for op in load_engine(e).operations]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, database_url, redis_url):
    tmp = tmp_path_factory.mktemp("access")
    port = free_port()
    env = base_env(tmp, DATABASE_URL=database_url, REDIS_URL=redis_url, NAUTILUS_PORT_GATEWAY=str(port),
                   NAUTILUS_RATE_LIMIT_COMPUTE="", NAUTILUS_RATE_LIMIT_DATA_ADMIN="",
                   NAUTILUS_RATE_LIMIT_RISK_ADMIN="")
    # engines deliberately absent: point every engine at a closed port so routing fails fast
    for e in ENGINE_PORTS:
        env[f"NAUTILUS_PORT_{e.upper()}"] = str(free_port())
    env["NAUTILUS_NATIVE_ENABLED"] = "false"

    async def make() -> dict[str, str]:
        conn = await asyncpg.connect(database_url)
        try:
            out = {s: (await keys.create_key(conn, f"only-{s}", [s]))[1] for s in ALL_SCOPES if s != "admin"}
            out["compute-acct"] = (await keys.create_key(conn, "acct-limited", ["compute", "read"], ["ACC-A"]))[1]
            return out
        finally:
            await conn.close()

    made = asyncio.run(make())
    gw = Proc("gateway", "backend.gateway", env, port, tmp / "gw.log").start()
    yield {"url": f"http://127.0.0.1:{port}", "keys": made}
    gw.stop()


@pytest.mark.parametrize("op", OPS, ids=[f"{op.engine}.{op.name}" for op in OPS])
def test_operation_when_key_missing_wrong_or_right_scope_then_401_403_or_past_the_gate(gateway, op):
    url = gateway["url"] + op.route
    body = op.example or {}
    assert httpx.post(url, json=body).status_code == 401
    wrong = next(s for s in ALL_SCOPES if s not in (str(op.scope), "admin"))
    r = httpx.post(url, json=body, headers={"X-API-Key": gateway["keys"][wrong]})
    assert r.status_code == 403 and r.json()["needed_scope"] == str(op.scope)
    r = httpx.post(url, json=body, headers={"X-API-Key": gateway["keys"][str(op.scope)]})
    assert r.status_code not in (401, 403), r.text  # 422 for an empty body, 503 with no engine running


def test_account_reference_when_key_limited_to_other_accounts_then_403(gateway):
    body = {"account": {"account_id": "ACC-B"}, "market": {"lookback_days": 250}}
    r = httpx.post(gateway["url"] + "/api/v1/risk/compute_historical_var", json=body,
                   headers={"X-API-Key": gateway["keys"]["compute-acct"]})
    assert r.status_code == 403 and r.json()["errors"][0]["field"] == "account_id"
    r = httpx.post(gateway["url"] + "/api/v1/risk/compute_historical_var",
                   json={**body, "account": {"account_id": "ACC-A"}},
                   headers={"X-API-Key": gateway["keys"]["compute-acct"]})
    assert r.status_code not in (401, 403)


def test_key_management_when_not_admin_then_403_and_whoami_says_who(gateway):
    for scope, key in gateway["keys"].items():
        h = {"X-API-Key": key}
        assert httpx.get(gateway["url"] + "/api/v1/auth/keys", headers=h).status_code == 403
        assert httpx.post(gateway["url"] + "/api/v1/auth/keys", headers=h,
                          json={"name": "x", "scopes": ["admin"]}).status_code == 403, scope
    me = httpx.get(gateway["url"] + "/api/v1/auth/whoami", headers={"X-API-Key": gateway["keys"]["read"]}).json()
    assert me["scopes"] == ["read"] and me["name"] == "only-read"
    made = httpx.post(gateway["url"] + "/api/v1/auth/keys", headers=ADMIN_HEADERS,
                      json={"name": "made", "scopes": ["read"]})
    assert made.status_code == 201 and made.json()["key"].startswith("ntk_")
    listed = httpx.get(gateway["url"] + "/api/v1/auth/keys", headers=ADMIN_HEADERS).json()["items"]
    assert any(k["id"] == made.json()["id"] for k in listed) and all("key" not in k for k in listed)
    assert httpx.delete(gateway["url"] + f"/api/v1/auth/keys/{made.json()['id']}",
                        headers=ADMIN_HEADERS).status_code == 200
    assert httpx.get(gateway["url"] + "/api/v1/auth/whoami",
                     headers={"X-API-Key": made.json()["key"]}).status_code == 401


def test_rate_limit_when_a_key_exceeds_it_then_429_with_retry_after(tmp_path, database_url, redis_url):
    port = free_port()
    env = base_env(tmp_path, DATABASE_URL=database_url, REDIS_URL=redis_url, NAUTILUS_PORT_GATEWAY=str(port),
                   NAUTILUS_RATE_LIMIT_COMPUTE="3/minute", NAUTILUS_NATIVE_ENABLED="false",
                   NAUTILUS_PORT_ANALYTICS=str(free_port()))
    gw = Proc("gateway", "backend.gateway", env, port, tmp_path / "gw.log").start()
    try:
        codes = [httpx.post(f"http://127.0.0.1:{port}/api/v1/analytics/performance", headers=ADMIN_HEADERS,
                            json={"returns": [0.01, 0.02]}).status_code for _ in range(4)]
        assert codes[:3] == [503] * 3  # past the gate (no analytics engine running)
        r = httpx.post(f"http://127.0.0.1:{port}/api/v1/analytics/performance", headers=ADMIN_HEADERS,
                       json={"returns": [0.01, 0.02]})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1 and r.json()["code"] == "RATE_LIMITED"
    finally:
        gw.stop()
