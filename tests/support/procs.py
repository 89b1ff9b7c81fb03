"""Start real platform processes for tests, on free ports, and stop them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: ports below the kernel's ephemeral range (32768-60999 on Linux), where client sockets and free_port()
#: take theirs: an instance whose ports stay below it cannot collide with one of those
EPHEMERAL_LOW = 32768


def free_port_offset(first: int) -> int:
    """A NAUTILUS_PORT_OFFSET whose every port (gateway, dashboard, engines) is free now and below the
    ephemeral range; callers start from different ``first`` values so concurrent ones rarely meet."""
    from backend.core.settings import DASHBOARD_PORT, ENGINE_PORTS, GATEWAY_PORT

    ports = (GATEWAY_PORT, DASHBOARD_PORT, *ENGINE_PORTS.values())
    for offset in range(first, EPHEMERAL_LOW - max(ports), 97):
        try:
            for p in ports:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p + offset))
            return offset
        except OSError:
            continue
    raise RuntimeError("no free port range below the ephemeral ports")


def wait_http(url: str, timeout_s: float = 60.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=0.5) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {timeout_s}s")


@dataclass
class Proc:
    name: str
    module: str
    env: dict[str, str]
    port: int
    log: Path
    popen: subprocess.Popen | None = None
    extra: dict = field(default_factory=dict)

    def start(self, wait: bool = True) -> Proc:
        with open(self.log, "ab") as log:  # the child keeps its own descriptor
            self.popen = subprocess.Popen([sys.executable, "-m", self.module], env=self.env, cwd=REPO,
                                          stdout=log, stderr=subprocess.STDOUT)
        if wait:
            wait_http(f"http://127.0.0.1:{self.port}/health", proc=self.popen)
        return self

    def kill(self) -> None:
        if self.popen and self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(5)

    def stop(self) -> None:
        if self.popen and self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)


def base_env(tmp: Path, **extra: str) -> dict[str, str]:
    """A subprocess environment of the test instance (tests/support/access.py) with its own run dir."""
    from tests.support.access import instance_env

    env = {k: v for k, v in os.environ.items() if not k.startswith("NAUTILUS_")}
    env.update({"NAUTILUS_RUN_DIR": str(tmp), "PYTHONUNBUFFERED": "1", "NAUTILUS_LOG_LEVEL": "WARNING",
                "NAUTILUS_START_TIMEOUT_S": "240"})  # a loaded 2-core CI box starts 14 processes slowly
    env.update(instance_env())
    env.update(extra)
    return env
