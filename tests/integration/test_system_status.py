"""The gateway's hardware and performance status and its /metrics, in process with real PostgreSQL and
Redis: readings agree with independent sources (the kernel's /proc and statvfs, os.cpu_count), need
the read scope, and latency percentiles cover the gateway's own routes; every answer carries a request
id; /metrics serves the trading core's and the host's families."""

from __future__ import annotations

import os
import time

import pytest
from fastapi.testclient import TestClient

from backend.gateway.app import make_gateway_app
from tests.support.access import ADMIN_HEADERS, instance_settings

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def client(tmp_path_factory, database_url, redis_url, admin_key):
    run_dir = tmp_path_factory.mktemp("sys")
    app = make_gateway_app(instance_settings(database_url=database_url, redis_url=redis_url, run_dir=run_dir,
                                             native_enabled=False))
    with TestClient(app, headers=ADMIN_HEADERS, client=("127.0.0.1", 50000)) as c:  # loopback: may scrape
        yield c


def _meminfo_total() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no MemTotal")


def test_hardware_when_read_then_real_readings_with_times(client):
    before = time.time()
    r = client.get("/api/v1/system/hardware")
    assert r.status_code == 200, r.text
    hw = r.json()
    cpu, mem = hw["cpu"], hw["memory"]
    assert cpu["logical_cores"] == os.cpu_count() and cpu["model"]
    assert 0.0 <= cpu["utilisation_ratio"] <= 1.0 and cpu["load_1m"] == pytest.approx(os.getloadavg()[0], abs=2.0)
    assert mem["total_bytes"] == _meminfo_total() and 0 < mem["available_bytes"] <= mem["total_bytes"]
    disk = hw["disks"][0]
    st = os.statvfs(disk["path"])
    assert disk["total_bytes"] == st.f_blocks * st.f_frsize
    for reading in (cpu, mem, disk):
        from datetime import datetime

        assert datetime.fromisoformat(reading["read_at"]).timestamp() >= before - 1
    # no supervisor here: no pid files, and the note says so rather than a guess
    assert hw["processes"] == [] and "no live pid files" in hw["processes_note"]
    if not hw["gpus"]["devices"]:
        assert hw["gpus"]["notes"] and any("NVML" in n for n in hw["gpus"]["notes"])
    assert r.headers["x-request-id"]


def test_system_status_when_no_key_or_bad_window_then_problem_json(client):
    r = client.get("/api/v1/system/hardware", headers={"X-API-Key": ""})
    assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json")
    r = client.get("/api/v1/system/performance", params={"minutes": 0})
    assert r.status_code == 422 and "minutes" in r.text


def test_performance_when_routes_were_called_then_percentiles_of_the_window(client):
    for _ in range(5):
        assert client.get("/health").status_code == 200
    r = client.get("/api/v1/system/performance", params={"minutes": 5})
    assert r.status_code == 200, r.text
    perf = r.json()
    health = [row for row in perf["routes"] if row["route"] == "/health" and row["method"] == "GET"]
    assert health and health[0]["count"] >= 5
    row = health[0]
    assert 0 < row["p50_s"] <= row["p90_s"] <= row["p99_s"] and perf["window_s"] >= 0


def test_metrics_when_scraped_then_trading_host_and_request_route_families(client):
    r = client.get("/api/v1/trading/health", headers={"X-Request-Id": "sys-test-1"})
    assert r.status_code == 200 and r.headers["x-request-id"] == "sys-test-1"
    body = client.get("/metrics").text
    for name in ("nautilus_trading_up 1.0", "nautilus_trading_writer_halts_total 0.0",
                 'nautilus_host_memory_bytes{kind="total"}', "nautilus_trading_kill_switch_global 0.0",
                 'route="/api/v1/trading/health"', "nautilus_trading_outbox_pending_rows"):
        assert name in body, name
    assert "nautilus_native_up" not in body  # native disabled: nothing to relay
