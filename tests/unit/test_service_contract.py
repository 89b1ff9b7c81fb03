"""The HTTP service factory: routes from declarations, problem-JSON errors, health, limits."""

import json

import pytest
from fastapi.testclient import TestClient

from backend.contract.operation import load_engine
from backend.core.settings import ENGINE_PORTS, Settings
from backend.service import app as service_app
from backend.service.app import make_engine_app

pytestmark = pytest.mark.timeout(30)
ROUTE = "/api/v1/analytics/performance"


@pytest.fixture(scope="module")
def client(database_url, redis_url):
    app = make_engine_app(load_engine("analytics"), Settings(database_url=database_url, redis_url=redis_url))
    with TestClient(app) as c:
        yield c


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
    monkeypatch.setattr(service_app, "MAX_BODY_BYTES", 100)
    r = client.post(ROUTE, content=json.dumps({"returns": [0.001] * 100}).encode(),
                    headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["code"] == "PAYLOAD_TOO_LARGE"


def test_health_when_database_and_redis_up_then_ok_with_connectivity(client):
    body = client.get("/health").json()
    assert body["status"] == "ok" and body["service"] == "analytics"
    assert body["database"]["ok"] and body["bus"]["ok"] and body["uptime_s"] >= 0


def test_health_when_database_unreachable_then_degraded():
    app = make_engine_app(load_engine("analytics"),
                          Settings(database_url="postgresql://postgres@127.0.0.1:1/x", redis_url=None,
                                   db_connect_timeout_s=0.5))
    with TestClient(app) as c:
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
    monkeypatch.setattr(service_app, "MAX_BODY_BYTES", 1000)

    def chunks():
        yield b'{"returns": ['
        for _ in range(500):
            yield b"0.001,"
        yield b"0.001]}"

    r = client.post(ROUTE, content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["code"] == "PAYLOAD_TOO_LARGE"
