"""The dashboard's server: the built app with a policy that lets it talk only to itself and the gateway,
where the gateway is (the port moves with NAUTILUS_PORT_OFFSET), and an honest health when unbuilt."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from backend.core.settings import Settings
from backend.dashboard.app import BUILD_HINT, make_dashboard_app


@pytest.fixture
def dist(tmp_path):
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text('<script type="module" src="/assets/app-1a2b.js"></script>')
    (tmp_path / "assets" / "app-1a2b.js").write_text("console.log(1)")
    return tmp_path


def test_config_when_port_offset_then_gateway_port_moves_with_it(dist):
    c = TestClient(make_dashboard_app(Settings(port_offset=1000), dist))
    assert c.get("/config.json").json() == {"gateway_port": 9001}
    assert c.get("/health").json()["status"] == "ok"


def test_index_when_built_then_served_uncached_with_a_policy_naming_the_gateway(dist):
    c = TestClient(make_dashboard_app(Settings(), dist), base_url="http://127.0.0.1:3000")
    r = c.get("/")
    assert r.status_code == 200 and "app-1a2b.js" in r.text
    assert r.headers["cache-control"] == "no-cache"
    csp = r.headers["content-security-policy"]
    assert "connect-src 'self' http://127.0.0.1:8001 ws://127.0.0.1:8001;" in csp
    assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp
    asset = c.get("/assets/app-1a2b.js")
    assert asset.status_code == 200 and "immutable" in asset.headers["cache-control"]
    assert c.get("/assets/missing.js").status_code == 404


def test_index_when_host_is_odd_then_policy_allows_no_gateway(dist):
    c = TestClient(make_dashboard_app(Settings(), dist), base_url="http://evil.example%2fx:3000")
    csp = c.get("/").headers.get("content-security-policy", "")
    assert "connect-src 'self';" in csp


def test_index_when_not_built_then_503_saying_how_and_health_degraded(tmp_path):
    c = TestClient(make_dashboard_app(Settings(), tmp_path / "nothing"))
    r = c.get("/")
    assert r.status_code == 503 and r.text == BUILD_HINT
    assert c.get("/health").json() == {"status": "degraded", "detail": BUILD_HINT}
