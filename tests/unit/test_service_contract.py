"""The HTTP service factory: routes from declarations, problem-JSON errors, health, limits."""

import json

import pytest
from fastapi.testclient import TestClient

from backend.auth import keys
from backend.contract.operation import load_engine
from backend.core.settings import ENGINE_PORTS
from backend.service.app import make_engine_app
from tests.support.access import INTERNAL_HEADERS, instance_settings

pytestmark = pytest.mark.timeout(30)
ROUTE = "/api/v1/analytics/performance"
LOOPBACK = ("127.0.0.1", 40000)


@pytest.fixture(scope="module")
def client(database_url, redis_url):
    app = make_engine_app(load_engine("analytics"), instance_settings(database_url=database_url, redis_url=redis_url))
    with TestClient(app, headers=INTERNAL_HEADERS, client=LOOPBACK) as c:
        yield c


@pytest.fixture(scope="module")
def scoped_keys(database_url):
    import asyncio

    import asyncpg

    async def make() -> dict[str, str]:
        conn = await asyncpg.connect(database_url)
        out = {s: (await keys.create_key(conn, f"svc-{s}", [s]))[1] for s in ("read", "compute")}
        await conn.close()
        return out

    return asyncio.run(make())


def test_every_engine_when_loaded_then_declares_itself_and_its_operations():
    for name in ENGINE_PORTS:
        spec = load_engine(name)
        assert spec.name == name
        for op in spec.operations:
            assert op.route == f"/api/v1/{name}/{op.name}"
            assert op.load() is not None  # the function path resolves


def test_operation_when_valid_then_200_with_response_model(client):
    r = client.post(ROUTE, json={"returns": [0.01, -0.02, 0.03]})
    assert r.status_code == 200
    assert r.json()["n_periods"] == 3


def test_operation_when_wrong_type_then_422_problem_naming_field(client):
    r = client.post(ROUTE, json={"returns": [0.01, "abc"]})
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["code"] == "VALIDATION_FAILED" and body["errors"][0]["field"] == "returns.1"


def test_operation_when_nan_then_422_naming_field(client):
    r = client.post(ROUTE, content=b'{"returns": [0.01, NaN, 0.2]}', headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert any(e["field"].startswith("returns.1") for e in r.json()["errors"])


def test_operation_when_unknown_field_then_422(client):
    r = client.post(ROUTE, json={"returns": [0.01, 0.02], "bogus": 1})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "bogus"


def test_operation_when_malformed_json_then_422_not_500(client):
    r = client.post(ROUTE, content=b'{"returns": [0.01,', headers={"content-type": "application/json"})
    assert r.status_code == 422


def test_operation_when_domain_error_then_problem_with_stable_code(client):
    r = client.post(ROUTE, json={"returns": [0.01, -1.5]})
    assert r.status_code == 422
    assert r.json()["code"] == "INVALID_INPUT" and r.json()["errors"] == [
        {"field": "returns.1", "reason": "a return must be > -1 (a loss of more than 100%)"}
    ]


def test_operation_when_series_longer_than_limit_then_422(client):
    from backend.contract.arrays import MAX_SERIES_LEN

    body = '{"returns": [' + ",".join(["0.001"] * (MAX_SERIES_LEN + 1)) + "]}"
    r = client.post(ROUTE, content=body.encode(), headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "returns"


def test_operation_when_body_over_byte_limit_then_413(client, monkeypatch):
    monkeypatch.setitem(client.app.state.body_limits, ROUTE, 100)
    r = client.post(ROUTE, content=json.dumps({"returns": [0.001] * 100}).encode(),
                    headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["code"] == "PAYLOAD_TOO_LARGE"


def test_health_when_database_and_redis_up_then_ok_with_connectivity(client):
    body = client.get("/health").json()
    assert body["status"] == "ok" and body["service"] == "analytics"
    assert body["database"]["ok"] and body["bus"]["ok"] and body["uptime_s"] >= 0


def test_health_when_database_unreachable_then_degraded():
    app = make_engine_app(load_engine("analytics"),
                          instance_settings(database_url="postgresql://postgres@127.0.0.1:1/x", redis_url=None,
                                        db_connect_timeout_s=0.5))
    with TestClient(app, headers=INTERNAL_HEADERS) as c:
        body = c.get("/health").json()
    assert body["status"] == "degraded" and body["database"]["ok"] is False


def test_operations_listing_when_requested_then_schemas_included(client):
    ops = client.get("/operations").json()["operations"]
    assert ops[0]["name"] == "performance"
    assert "returns" in ops[0]["request_schema"]["properties"]


def test_metrics_when_called_then_prometheus_text_with_operation_counts(client):
    client.post(ROUTE, json={"returns": [0.01, 0.02]})
    text = client.get("/metrics").text
    assert 'nautilus_engine_requests_total{engine="analytics",operation="performance",status="ok"}' in text


def test_operation_when_streamed_body_over_limit_then_413(client, monkeypatch):
    monkeypatch.setitem(client.app.state.body_limits, ROUTE, 1000)

    def chunks():
        yield b'{"returns": ['
        for _ in range(500):
            yield b"0.001,"
        yield b"0.001]}"

    r = client.post(ROUTE, content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["code"] == "PAYLOAD_TOO_LARGE"


# ---- access: engines serve the gateway (internal token) or a key with the operation's scope ----
def test_operation_when_no_credentials_then_401_before_the_body_is_read(client):
    r = client.post(ROUTE, json={"returns": [0.01, 0.02]}, headers={"X-Nautilus-Internal": ""})
    assert r.status_code == 401 and r.json()["code"] == "UNAUTHORIZED"


def test_operation_when_wrong_internal_token_then_401(client):
    r = client.post(ROUTE, json={"returns": [0.01, 0.02]}, headers={"X-Nautilus-Internal": "guess"})
    assert r.status_code == 401


def test_operation_when_key_has_compute_scope_then_200_and_read_only_key_403(client, scoped_keys):
    ok = client.post(ROUTE, json={"returns": [0.01, 0.02]},
                     headers={"X-Nautilus-Internal": "", "X-API-Key": scoped_keys["compute"]})
    assert ok.status_code == 200
    denied = client.post(ROUTE, json={"returns": [0.01, 0.02]},
                         headers={"X-Nautilus-Internal": "", "X-API-Key": scoped_keys["read"]})
    assert denied.status_code == 403 and denied.json()["needed_scope"] == "compute"


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", ""])
def test_operation_when_body_is_not_json_then_415(client, ctype):
    r = client.post(ROUTE, content=b'{"returns": [0.01, 0.02]}', headers={"content-type": ctype})
    assert r.status_code == 415 and r.json()["code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_request_when_host_header_foreign_then_400(client):
    r = client.post(ROUTE, json={"returns": [0.01, 0.02]}, headers={"host": "attacker.example"})
    assert r.status_code == 400 and r.json()["code"] == "HOST_NOT_ALLOWED"


def test_request_when_any_origin_then_403_engines_serve_no_browser(client):
    r = client.post(ROUTE, json={"returns": [0.01, 0.02]}, headers={"origin": "http://127.0.0.1:3000"})
    assert r.status_code == 403 and r.json()["code"] == "ORIGIN_NOT_ALLOWED"


def test_health_when_anonymous_then_status_only(client):
    body = client.get("/health", headers={"X-Nautilus-Internal": ""}).json()
    assert body == {"service": "analytics", "status": "ok"}


def test_metrics_when_peer_not_loopback_then_403(database_url, redis_url):
    app = make_engine_app(load_engine("analytics"), instance_settings(database_url=database_url, redis_url=redis_url))
    with TestClient(app, client=("10.1.2.3", 5000)) as c:
        assert c.get("/metrics").status_code == 403


def test_unknown_route_when_requested_then_problem_json_404(client):
    r = client.get("/nope")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "NOT_FOUND"


def test_operation_when_string_holds_nul_then_422_naming_field(client):
    r = client.post("/api/v1/analytics/performance", content=b'{"returns": [0.01, 0.02], "dates": ["a\\u0000"]}',
                    headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "dates.0"


def test_unexpected_error_when_raised_then_500_without_exception_text(database_url, redis_url):
    from fastapi import FastAPI

    app = make_engine_app(load_engine("analytics"), instance_settings(database_url=database_url, redis_url=redis_url),
                          extend=lambda a: a.add_api_route("/boom", _boom))
    with TestClient(app, headers=INTERNAL_HEADERS, raise_server_exceptions=False) as c:
        r = c.get("/boom")
    assert r.status_code == 500 and "secret-internal-detail" not in r.text and r.json()["error_id"]
    assert isinstance(app, FastAPI)


def _boom() -> None:
    raise RuntimeError("secret-internal-detail")


def test_gpu_capable_operations_when_declared_then_a_native_process_serves_each():
    """No operation is marked GPU-capable unless a native process serves it (issue 10)."""
    from native_engines.serve import NATIVE_ENGINES, native_operations

    served = {(op.engine, op.name) for n in NATIVE_ENGINES for op in native_operations(n)}
    gpu = {(op.engine, op.name) for e in ENGINE_PORTS for op in load_engine(e).operations if op.gpu}
    assert gpu == served and ("features", "compute_indicators_gpu") in served
