"""Bounded memory per request (issue 9, defect 5): oversized bodies are refused while they are read,
before any parsing; the largest accepted bodies are parsed a few at a time; the heap and the
shared memory of large calls are handed back afterwards.

Stated bound (measured by sampling RSS every 5 ms while the bad inputs run): the gateway's resident
size grows by at most 400 MiB at its peak and 150 MiB at the end, the engines' by at most 400 MiB at
the peak; no shared-memory segment larger than the pool's base size outlives the run. Bounded by
default (3 concurrent near-limit requests); NAUTILUS_SLOW=1 sends 8.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest

from native_engines.ipc.shm import DEFAULT_SEGMENT_BYTES
from tests.support.access import ADMIN_HEADERS, TEST_INSTANCE
from tests.support.native import instance_env, start_module, stop, wait_socket
from tests.support.procs import Proc, base_env, free_port

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]
CONCURRENT = 8 if os.environ.get("NAUTILUS_SLOW") == "1" else 3
MiB = 1 << 20
MC = "/api/v1/risk/simulate_monte_carlo_var"


def covariance_body(n: int):  # noqa: ANN201 - a generator of JSON chunks (never the whole body in memory)
    yield (b'{"positions": [' + b",".join(b'{"symbol": "S%d", "value": 1000.0}' % i for i in range(n))
           + b'], "market": {"symbols": [' + b",".join(b'"S%d"' % i for i in range(n)) + b'], "covariance": [')
    row = b"[" + b",".join([b"0.0001"] * n) + b"]"
    for i in range(n):
        yield (b"," if i else b"") + row
    yield b']}, "n_scenarios": 2000}'


@pytest.fixture(scope="module")
def platform(tmp_path_factory, database_url, redis_url):
    tmp = tmp_path_factory.mktemp("mem")
    risk_port, factor_port, gw_port = free_port(), free_port(), free_port()
    env = instance_env(base_env(tmp, DATABASE_URL=database_url, REDIS_URL=redis_url,
                                NAUTILUS_PORT_RISK=str(risk_port), NAUTILUS_PORT_FACTOR=str(factor_port),
                                NAUTILUS_PORT_GATEWAY=str(gw_port), NAUTILUS_RATE_LIMIT_COMPUTE=""))
    native = start_module("native_engines.risk", env, tmp / "native.log")
    risk = Proc("risk", "engines.risk", env, risk_port, tmp / "risk.log").start()
    factor = Proc("factor", "engines.factor", env, factor_port, tmp / "factor.log").start()
    wait_socket(tmp / "risk.sock", proc=native)
    gw = Proc("gateway", "backend.gateway", env, gw_port, tmp / "gw.log").start()
    procs = {"gateway": psutil.Process(gw.popen.pid), "risk": psutil.Process(risk.popen.pid),
             "factor": psutil.Process(factor.popen.pid), "native-risk": psutil.Process(native.pid)}
    yield {"gw": f"http://127.0.0.1:{gw_port}", "procs": procs}
    gw.stop()
    factor.stop()
    risk.stop()
    stop(native)


def _declared_only(base: str, path: str, headers: dict[str, str], length: int) -> bytes:
    """Send only the headers of a request that declares ``length`` body bytes; return the reply's start."""
    import socket

    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        lines = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {length}",
                 *(f"{k}: {v}" for k, v in headers.items()), "", ""]
        s.sendall("\r\n".join(lines).encode())
        return s.recv(200)


class Peak:
    def __init__(self, procs: dict[str, psutil.Process]) -> None:
        self.procs = procs
        self.base = {n: p.memory_info().rss for n, p in procs.items()}
        self.peak = dict(self.base)
        self._stop = False
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop:
            for n, p in self.procs.items():
                self.peak[n] = max(self.peak[n], p.memory_info().rss)
            time.sleep(0.005)

    def stop(self) -> dict[str, tuple[int, int]]:
        self._stop = True
        self._t.join()
        return {n: ((self.peak[n] - self.base[n]) // MiB, (p.memory_info().rss - self.base[n]) // MiB)
                for n, p in self.procs.items()}


def test_bad_inputs_when_sent_then_refused_early_and_memory_stays_bounded(platform):
    gw, H = platform["gw"], {**ADMIN_HEADERS, "content-type": "application/json"}
    httpx.post(gw + MC, content=b"".join(covariance_body(50)), headers=H, timeout=60)  # warm: imports, pools
    time.sleep(0.5)
    meter = Peak(platform["procs"])
    # 5000 x 5000 covariance (~150 MB of JSON), streamed without a length: refused while it is read
    t0 = time.monotonic()
    r = httpx.post(gw + MC, content=covariance_body(5000), headers=H, timeout=120)
    assert r.status_code == 413 and r.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert time.monotonic() - t0 < 20
    # the same with a declared length: refused before a byte of the body is read
    assert _declared_only(gw, MC, H, 150 * MiB).startswith(b"HTTP/1.1 413")
    # a 120 MB factor panel
    panel = b'{"values": [' + b",".join([b"[" + b",".join([b"1.5"] * 1000) + b"]"] * 30_000) + b'], "symbols": []}'
    r = httpx.post(gw + "/api/v1/factor/process_cross_section", content=panel, headers=H, timeout=120)
    assert r.status_code == 413
    del panel
    # the largest accepted covariance (just under 8 MiB), several at once
    near = b"".join(covariance_body(1050))
    assert 7 * MiB < len(near) < 8 * MiB

    async def burst() -> list[int]:
        async with httpx.AsyncClient(timeout=180) as c:
            rs = await asyncio.gather(*(c.post(gw + MC, content=near, headers=H) for _ in range(CONCURRENT)))
        return [x.status_code for x in rs]

    assert asyncio.run(burst()) == [200] * CONCURRENT
    time.sleep(1.5)  # trims and shared-memory sweeps are periodic
    growth = meter.stop()
    peak_gw, end_gw = growth["gateway"]
    assert peak_gw <= 400 and end_gw <= 150, growth
    assert all(peak <= 400 for name, (peak, _) in growth.items() if name != "gateway"), growth
    segments = list(Path("/dev/shm").glob(f"nautilus-{TEST_INSTANCE}-*"))
    assert all(p.stat().st_size <= DEFAULT_SEGMENT_BYTES for p in segments), [
        (p.name, p.stat().st_size) for p in segments]
    print(json.dumps({"growth_mib_peak_end": growth}))
