"""The gateway against real engine processes: routing, schemas, validation, the 503 path
when an engine dies, recovery when it returns, replica fallback and health aggregation."""

from __future__ import annotations

import json
import re
import time

import httpx
import pytest

from tests.support.access import ADMIN_HEADERS, INTERNAL_HEADERS
from tests.support.procs import Proc, base_env, free_port

pytestmark = pytest.mark.timeout(90)
BODY = {"returns": [0.01, -0.02, 0.015, 0.003]}


@pytest.fixture(scope="module")
def platform(tmp_path_factory, database_url, redis_url):
    tmp = tmp_path_factory.mktemp("gw")
    a1, a2, gw_port = free_port(), free_port(), free_port()
    env = base_env(tmp, DATABASE_URL=database_url, REDIS_URL=redis_url)
    engines = {
        "a1": Proc("analytics-1", "engines.analytics", {**env, "NAUTILUS_PORT_ANALYTICS": str(a1)}, a1,
                   tmp / "a1.log"),
        "a2": Proc("analytics-2", "engines.analytics", {**env, "NAUTILUS_PORT_ANALYTICS": str(a2)}, a2,
                   tmp / "a2.log"),
    }
    gw_env = {**env, "NAUTILUS_PORT_GATEWAY": str(gw_port), "NAUTILUS_BREAKER_PROBE_INTERVAL_S": "0.2",
              "NAUTILUS_ENGINE_URLS": json.dumps({"analytics": [f"http://127.0.0.1:{a1}", f"http://127.0.0.1:{a2}"]})}
    # other engines are deliberately not started: their routes must answer 503 fast
    for p in engines.values():
        p.start()
    gw = Proc("gateway", "backend.gateway", gw_env, gw_port, tmp / "gw.log").start()
    yield {"gw": f"http://127.0.0.1:{gw_port}", **engines, "a1_port": a1, "a2_port": a2}
    gw.stop()
    for p in engines.values():
        p.stop()


def test_gateway_when_engine_healthy_then_routes_and_names_backend(platform):
    r = httpx.post(platform["gw"] + "/api/v1/analytics/performance", headers=ADMIN_HEADERS, json=BODY)
    assert r.status_code == 200
    assert r.json()["n_periods"] == 4
    assert r.headers["x-backend"] == f"http:analytics@127.0.0.1:{platform['a1_port']}"
    assert float(r.headers["x-backend-latency-ms"]) > 0


def test_gateway_result_when_compared_to_direct_engine_call_then_identical(platform):
    direct = httpx.post(f"http://127.0.0.1:{platform['a1_port']}/api/v1/analytics/performance", json=BODY,
                        headers=INTERNAL_HEADERS)
    routed = httpx.post(platform["gw"] + "/api/v1/analytics/performance", headers=ADMIN_HEADERS, json=BODY)
    assert direct.json() == routed.json()


def test_gateway_openapi_when_fetched_then_has_real_engine_schemas(platform):
    spec = httpx.get(platform["gw"] + "/openapi.json", headers=ADMIN_HEADERS).json()
    post = spec["paths"]["/api/v1/analytics/performance"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("PerformanceRequest")
    assert "PerformanceResponse" in spec["components"]["schemas"]
    assert "sharpe" in spec["components"]["schemas"]["PerformanceResponse"]["properties"]


def test_gateway_when_invalid_request_then_422_without_reaching_engine(platform):
    r = httpx.post(platform["gw"] + "/api/v1/analytics/performance", headers=ADMIN_HEADERS, json={"returns": [1, "x"]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "returns.1"
    assert "x-backend" not in r.headers


def test_gateway_when_engine_domain_error_then_problem_passes_through(platform):
    r = httpx.post(platform["gw"] + "/api/v1/analytics/performance", headers=ADMIN_HEADERS, json={"returns": [0.1,
                   -2.0]})
    assert r.status_code == 422 and r.json()["code"] == "INVALID_INPUT"


def test_gateway_when_first_replica_killed_then_falls_back_and_recovers(platform):
    platform["a1"].kill()
    for _ in range(5):  # every call is answered, by the second replica
        r = httpx.post(platform["gw"] + "/api/v1/analytics/performance", headers=ADMIN_HEADERS, json=BODY)
        assert r.status_code == 200
        assert r.headers["x-backend"].endswith(str(platform["a2_port"]))
    engines = httpx.get(platform["gw"] + "/api/v1/engines", headers=ADMIN_HEADERS).json()["engines"]
    analytics = next(e for e in engines if e["name"] == "analytics")
    assert analytics["backends"][0]["circuit"]["state"] == "open"
    platform["a1"].start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        r = httpx.post(platform["gw"] + "/api/v1/analytics/performance", headers=ADMIN_HEADERS, json=BODY)
        if r.headers["x-backend"].endswith(str(platform["a1_port"])):
            break
        time.sleep(0.1)
    assert r.headers["x-backend"].endswith(str(platform["a1_port"])), "first replica not used again"


def test_gateway_when_all_replicas_dead_then_fast_503_naming_engine_then_recovers(platform):
    platform["a1"].kill()
    platform["a2"].kill()
    try:
        for _ in range(3):
            t0 = time.monotonic()
            r = httpx.post(platform["gw"] + "/api/v1/analytics/performance", headers=ADMIN_HEADERS, json=BODY,
                           timeout=5)
            assert time.monotonic() - t0 < 1.0
            assert r.status_code == 503
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["code"] == "ENGINE_UNAVAILABLE" and r.json()["engine"] == "analytics"
    finally:
        platform["a1"].start()
        platform["a2"].start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        r = httpx.post(platform["gw"] + "/api/v1/analytics/performance", headers=ADMIN_HEADERS, json=BODY)
        if r.status_code == 200:
            break
        time.sleep(0.1)
    assert r.status_code == 200


def test_gateway_health_when_some_engines_down_then_lists_each_with_status(platform):
    body = httpx.get(platform["gw"] + "/health", headers=ADMIN_HEADERS, timeout=10).json()
    by_backend = {s["backend"]: s for s in body["services"] if s["kind"] == "http"}
    assert by_backend[f"http:analytics@127.0.0.1:{platform['a2_port']}"]["status"] == "ok"
    risk = next(s for s in body["services"] if s["name"] == "risk")
    assert risk["status"] == "down" and "error" in risk
    assert body["status"] == "degraded"
    assert body["infrastructure"]["database"]["ok"] and body["infrastructure"]["redis"]["ok"]


def test_gateway_metrics_when_calls_routed_then_counted_per_backend(platform):
    httpx.post(platform["gw"] + "/api/v1/analytics/performance", headers=ADMIN_HEADERS, json=BODY)
    text = httpx.get(platform["gw"] + "/metrics", headers=ADMIN_HEADERS).text
    line = 'nautilus_gateway_requests_total{backend="http",engine="analytics",operation="performance",status="ok"}'
    assert line in text
    assert "nautilus_gateway_circuit_state" in text


def test_gateway_when_no_database_then_fails_closed_with_503_and_health_degraded(tmp_path):
    """No database, no way to check a key: every route refuses (503) rather than serving unchecked."""
    port = free_port()
    a = free_port()
    env = base_env(tmp_path, NAUTILUS_PORT_GATEWAY=str(port), NAUTILUS_PORT_ANALYTICS=str(a))
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    eng = Proc("analytics", "engines.analytics", env, a, tmp_path / "a.log").start()
    gw = Proc("gateway", "backend.gateway", env, port, tmp_path / "gw.log").start()
    try:
        r = httpx.post(f"http://127.0.0.1:{port}/api/v1/analytics/performance", json=BODY, headers=ADMIN_HEADERS)
        assert r.status_code == 503 and "no database" in r.json()["detail"]
        r = httpx.get(f"http://127.0.0.1:{port}/api/v1/trading/accounts", headers=ADMIN_HEADERS)
        assert r.status_code == 503
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=10).json() == {"status": "degraded"}
    finally:
        gw.stop()
        eng.stop()


def test_gateway_when_anonymous_then_every_route_but_health_and_docs_refused(platform):
    spec = httpx.get(platform["gw"] + "/openapi.json").json()
    checked = 0
    for path, methods in spec["paths"].items():
        if path in ("/health", "/metrics"):  # open: health says only ok/degraded; metrics loopback only
            continue
        for method in methods:
            url = platform["gw"] + re.sub(r"\{[^}]+\}", "x", path)
            r = httpx.request(method.upper(), url, json={} if method in ("post", "put", "patch") else None)
            assert r.status_code in (401, 503), (method, path, r.status_code)  # 503: trading core not started
            checked += 1
    assert checked > 50
    assert httpx.get(platform["gw"] + "/health").json() == {"status": "degraded"}
