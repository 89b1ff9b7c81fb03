"""Start native engines (directly or under the supervisor) for tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.support.procs import REPO


def wait_socket(path: Path, timeout_s: float = 60.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"native process exited with {proc.returncode} before {path} answered")
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(str(path))
            return
        except OSError:
            time.sleep(0.05)
        finally:
            s.close()
    raise TimeoutError(f"{path} did not answer within {timeout_s}s")


def start_module(module: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:  # the child keeps its own descriptor
        return subprocess.Popen([sys.executable, "-m", module], env=env, cwd=REPO, stdout=out,
                                stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen, timeout_s: float = 20) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def instance_env(base: dict[str, str]) -> dict[str, str]:
    """``base`` (already the test instance's, tests/support/procs.base_env) with the test device."""
    return {**base, "NAUTILUS_DEVICE": os.environ.get("NAUTILUS_TEST_DEVICE", "")}
