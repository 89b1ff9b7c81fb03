"""The platform's processes, declared once, and how to start, watch and stop them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from backend.core.settings import ENGINE_PORTS, Settings


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    module: str
    port: int | None  # HTTP port with /health, or None for a socket-only process
    sockets: tuple[Path, ...] = ()


def platform_processes(settings: Settings) -> list[ProcessSpec]:
    """Start order: native engines first, then the engine services, the gateway last."""
    from native_engines.serve import NATIVE_ENGINES, socket_path

    specs = []
    if settings.native_enabled:
        specs.append(ProcessSpec("native", "native_engines.supervisor", None,
                                 tuple(socket_path(settings, e) for e in NATIVE_ENGINES)))
    specs += [ProcessSpec(name, f"engines.{name}", settings.engine_port(name)) for name in ENGINE_PORTS]
    specs.append(ProcessSpec("gateway", "backend.gateway", settings.gateway_port))
    return specs


def socket_answers(path: Path, timeout_s: float = 0.5) -> bool:
    """A Unix socket accepts a connection (the native engine is listening)."""
    import socket

    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout_s)
    try:
        s.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        s.close()


def pid_file(settings: Settings, name: str) -> Path:
    return settings.pid_dir / f"{name}.pid"


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie (exited, not yet reaped) is not alive
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return True


def spawn(spec: ProcessSpec, settings: Settings, env: dict[str, str]) -> subprocess.Popen:
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    settings.pid_dir.mkdir(parents=True, exist_ok=True)
    log = open(settings.log_dir / f"{spec.name}.log", "ab", buffering=0)  # noqa: SIM115 - child owns it
    proc = subprocess.Popen(
        [sys.executable, "-m", spec.module], env=env, stdout=log, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, start_new_session=True, cwd=str(Path(__file__).resolve().parents[2]),
    )
    log.close()
    pid_file(settings, spec.name).write_text(str(proc.pid))
    return proc


def http_health(port: int, host: str = "127.0.0.1", timeout_s: float = 1.0) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/health", timeout=timeout_s) as resp:
            return json.loads(resp.read()) if resp.status == 200 else None
    except (OSError, ValueError):
        return None


def terminate(pid: int, timeout_s: float) -> str:
    """SIGTERM the process group, SIGKILL after ``timeout_s``; returns how it ended."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return "gone"
    except PermissionError:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not alive(pid):
            return "stopped"
        time.sleep(0.05)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        return "stopped"
    return "killed"


def log_tail(settings: Settings, name: str, lines: int = 15) -> str:
    path = settings.log_dir / f"{name}.log"
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
