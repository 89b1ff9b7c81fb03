"""kill -9 of the native risk process under a steady stream of requests through the gateway:
no request is lost (the HTTP risk engine answers meanwhile), and the native process is used
again once the supervisor has restarted it.

Bounded by default (240 requests); NAUTILUS_SLOW=1 runs 3,000."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter

import httpx
import pytest

from engines.risk.ops import MC_EXAMPLE
from tests.support.access import ADMIN_HEADERS
from tests.support.native import instance_env, start_module, stop, wait_socket
from tests.support.procs import Proc, base_env, free_port

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]
ROUTE = "/api/v1/risk/simulate_monte_carlo_var"
TOTAL = 3000 if os.environ.get("NAUTILUS_SLOW") == "1" else 240
CONCURRENCY = 8
BODY = {**MC_EXAMPLE, "n_scenarios": 20_000}


@pytest.fixture
def platform(tmp_path, database_url, redis_url):
    env = instance_env(base_env(tmp_path, DATABASE_URL=database_url, REDIS_URL=redis_url,
                                NAUTILUS_BREAKER_PROBE_INTERVAL_S="0.2"))
    risk_port, gw_port = free_port(), free_port()
    env.update({"NAUTILUS_PORT_RISK": str(risk_port), "NAUTILUS_PORT_GATEWAY": str(gw_port)})
    supervisor = start_module("native_engines.supervisor", env, tmp_path / "supervisor.log")
    risk = Proc("risk", "engines.risk", env, risk_port, tmp_path / "risk.log").start()
    for e in ("risk", "ml", "strategy"):
        wait_socket(tmp_path / f"{e}.sock", proc=supervisor)
    gw = Proc("gateway", "backend.gateway", env, gw_port, tmp_path / "gw.log").start()
    yield {"gw": f"http://127.0.0.1:{gw_port}", "dir": tmp_path}
    gw.stop()
    risk.stop()
    stop(supervisor)


def _native_pid(run_dir) -> int:
    from backend.launcher.pidfile import read_path

    return read_path(run_dir / "pids" / "native-risk.pid").pid


async def _stream(url: str, kill_at: int, run_dir) -> tuple[Counter, int, list[int]]:
    served: Counter = Counter()
    statuses: list[int] = []
    sent = 0
    killed_pid = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(TOTAL):
        queue.put_nowait(i)
    async with httpx.AsyncClient(timeout=60, headers=ADMIN_HEADERS) as client:

        async def worker() -> None:
            nonlocal sent, killed_pid
            while not queue.empty():
                i = queue.get_nowait()
                if i == kill_at:
                    killed_pid = _native_pid(run_dir)
                    os.kill(killed_pid, signal.SIGKILL)
                sent += 1
                r = await client.post(url + ROUTE, json={**BODY, "seed": i})
                statuses.append(r.status_code)
                served[r.headers.get("x-backend", "none").split(":")[0]] += 1

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return served, killed_pid, statuses


def test_native_killed_under_load_then_no_request_lost_and_native_used_again(platform):
    first = httpx.post(platform["gw"] + ROUTE, headers=ADMIN_HEADERS, json=BODY, timeout=60)
    assert first.status_code == 200 and first.headers["x-backend"].startswith("native:")
    served, killed_pid, statuses = asyncio.run(_stream(platform["gw"], TOTAL // 4, platform["dir"]))
    print(f"\nsent {TOTAL}, answered {len(statuses)}, by backend {dict(served)}")
    assert len(statuses) == TOTAL and set(statuses) == {200}, Counter(statuses)
    assert served["http"] > 0, "the HTTP engine never answered while native was down"
    assert served["native"] > 0
    # the supervisor restarts it, the probe closes the circuit, native serves again
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        r = httpx.post(platform["gw"] + ROUTE, headers=ADMIN_HEADERS, json=BODY, timeout=60)
        assert r.status_code == 200
        if r.headers["x-backend"].startswith("native:"):
            break
        time.sleep(0.2)
    assert r.headers["x-backend"].startswith("native:"), "native risk not used again after restart"
    assert _native_pid(platform["dir"]) != killed_pid
