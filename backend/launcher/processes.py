"""The platform's processes, declared once, and how to watch and stop them."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import psutil

from backend.core.settings import ENGINE_PORTS, Settings
from backend.launcher import pidfile


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    module: str
    port: int | None  # HTTP port with /health, or None for a socket-only process
    socket: Path | None = None
    #: "native" for the native engines, "gateway" for the gateway, "dashboard" for the dashboard, "platform"
    #: for the engines: a host beside Docker mode supervises some groups only (NAUTILUS_SUPERVISE)
    group: str = "platform"
    cpus: tuple[int, ...] | None = None


def _affinity() -> dict[str, list[int]]:
    raw = os.environ.get("NAUTILUS_NATIVE_AFFINITY", "")
    if not raw:
        return {}
    value = json.loads(raw)
    if not isinstance(value, dict) or not all(isinstance(v, list) for v in value.values()):
        raise SystemExit("NAUTILUS_NATIVE_AFFINITY must be a JSON object of engine -> list of CPU ids")
    return {k: [int(c) for c in v] for k, v in value.items()}


def platform_processes(settings: Settings) -> list[ProcessSpec]:
    """Start order: native engines first, then the engine services, the gateway, the dashboard last."""
    from native_engines.serve import NATIVE_ENGINES, socket_path

    specs = []
    if settings.native_enabled:
        pins = _affinity()
        specs += [ProcessSpec(f"native-{e}", f"native_engines.{e}", None, socket_path(settings, e), "native",
                              tuple(pins[e]) if e in pins else None) for e in NATIVE_ENGINES]
    specs += [ProcessSpec(name, f"engines.{name}", settings.engine_port(name)) for name in ENGINE_PORTS]
    specs.append(ProcessSpec("gateway", "backend.gateway", settings.gateway_port, group="gateway"))
    # the React dashboard's static server; the start script builds frontend/dist first
    specs.append(ProcessSpec("dashboard", "backend.dashboard", settings.dashboard_port, group="dashboard"))
    return specs


def open_log(settings: Settings, name: str) -> IO[bytes]:
    """The process's log file, append-only and readable by its owner only (0600)."""
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.log_dir, 0o700)
    path = settings.log_dir / f"{name}.log"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "ab", buffering=0)


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


def http_health(port: int, host: str = "127.0.0.1", timeout_s: float = 1.0) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/health", timeout=timeout_s) as resp:
            return json.loads(resp.read()) if resp.status == 200 else None
    except (OSError, ValueError):
        return None


def terminate(rec: pidfile.PidRecord, timeout_s: float, group: bool = False) -> str:
    """SIGTERM an owned process (its group too when ``group``), SIGKILL after ``timeout_s``.
    A pid that is not the recorded process (dead, or reused by another program) is left alone."""
    if not pidfile.owned(rec):
        return "not running"
    kill = (lambda sig: os.killpg(rec.pid, sig)) if group else (lambda sig: os.kill(rec.pid, sig))
    try:
        kill(signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return "gone"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not pidfile.owned(rec):
            return "stopped"
        time.sleep(0.05)
    try:
        kill(signal.SIGKILL)
        psutil.Process(rec.pid).wait(5)
    except (ProcessLookupError, psutil.Error):
        return "stopped"
    return "killed"


def log_tail(settings: Settings, name: str, lines: int = 15) -> str:
    path = settings.log_dir / f"{name}.log"
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
