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
from pathlib import Path

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


def test_native_killed_when_it_held_result_segments_then_supervisor_reclaims_them(platform):
    """A native process killed while its shared-memory pool holds results: the supervisor unlinks its
    segments when it reaps it (they would otherwise stay in /dev/shm until the next start), and the
    restarted process serves the same call again through fresh segments."""
    import numpy as np

    from backend.contract import binary
    from tests.support.access import TEST_INSTANCE

    close = 100 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.01, 50_000)))
    body = binary.encode({"series": [{"symbol": "X", "close": close}],
                          "indicators": [{"name": "sma", "params": {"timeperiod": 20}}]})
    headers = {**ADMIN_HEADERS, "content-type": binary.MEDIA_TYPE, "accept": binary.MEDIA_TYPE}

    def call() -> np.ndarray:
        r = httpx.post(platform["gw"] + "/api/v1/features/compute_indicators_gpu", content=body,
                       headers=headers, timeout=60)
        assert r.status_code == 200 and r.headers["x-backend"].startswith("native:ml"), r.text
        return binary.decode(r.content)["results"][0]["values"]["sma_20"]

    from backend.launcher.pidfile import read_path

    first = call()
    pid = read_path(platform["dir"] / "pids" / "native-ml.pid").pid
    owned = lambda p: sorted(Path("/dev/shm").glob(f"nautilus-{TEST_INSTANCE}-*-{p}-*"))  # noqa: E731
    assert owned(pid), "the native ML process placed its 400 KB result column in shared memory"
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while owned(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not owned(pid), f"segments of the killed pid {pid} still in /dev/shm: {owned(pid)}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        rec = read_path(platform["dir"] / "pids" / "native-ml.pid")
        if rec is not None and rec.pid != pid:
            wait_socket(platform["dir"] / "ml.sock")
            break
        time.sleep(0.2)
    deadline = time.monotonic() + 30
    while True:  # the gateway's probe closes the circuit to the restarted process
        r = httpx.post(platform["gw"] + "/api/v1/features/compute_indicators_gpu", content=body, headers=headers,
                       timeout=60)
        if r.headers.get("x-backend", "").startswith("native:ml") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    np.testing.assert_array_equal(call(), first)
