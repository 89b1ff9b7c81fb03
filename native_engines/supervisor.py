"""Supervise the native engine processes: start, restart with back-off, pin, drain.

``python -m native_engines.supervisor`` starts one process per native engine, writes
``<run_dir>/pids/native-<engine>.pid`` for each, and restarts a process that exits
with exponential back-off (0.5 s doubling to 30 s; reset after 60 s of stable running).
CPU affinity per engine comes from ``NAUTILUS_NATIVE_AFFINITY`` (JSON, e.g.
``{"risk": [0, 1]}``) and is applied with ``sched_setaffinity`` where the OS has it.
SIGTERM is passed on to every child (which drains in-flight calls) and waited for.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from backend.core import logging as nlogging
from backend.core.settings import get_settings
from native_engines.serve import NATIVE_ENGINES

log = logging.getLogger("supervisor")

BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 30.0
STABLE_AFTER_S = 60.0
CHILD_STOP_TIMEOUT_S = 15.0


@dataclass
class Child:
    engine: str
    cpus: list[int] | None
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    backoff_s: float = BACKOFF_START_S
    restart_at: float = 0.0
    restarts: int = 0
    history: list[float] = field(default_factory=list)


def _affinity() -> dict[str, list[int]]:
    raw = os.environ.get("NAUTILUS_NATIVE_AFFINITY", "")
    if not raw:
        return {}
    value = json.loads(raw)
    if not isinstance(value, dict) or not all(isinstance(v, list) for v in value.values()):
        raise SystemExit("NAUTILUS_NATIVE_AFFINITY must be a JSON object of engine -> list of CPU ids")
    return {k: [int(c) for c in v] for k, v in value.items()}


class Supervisor:
    def __init__(self, engines: tuple[str, ...] = NATIVE_ENGINES) -> None:
        self.settings = get_settings()
        pins = _affinity()
        self.children = [Child(e, pins.get(e)) for e in engines]
        self.stopping = False
        self.log_dir = self.settings.log_dir
        self.pid_dir = self.settings.pid_dir

    def pid_path(self, engine: str) -> Path:
        return self.pid_dir / f"native-{engine}.pid"

    def spawn(self, child: Child) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.pid_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_dir / f"native-{child.engine}.log", "ab", buffering=0) as logf:
            child.proc = subprocess.Popen([sys.executable, "-m", f"native_engines.{child.engine}"],
                                          stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        child.started_at = time.monotonic()
        self.pid_path(child.engine).write_text(str(child.proc.pid))
        if child.cpus and hasattr(os, "sched_setaffinity"):
            try:
                os.sched_setaffinity(child.proc.pid, child.cpus)
                log.info("native %s pinned to CPUs %s", child.engine, child.cpus)
            except OSError as e:
                log.warning("cannot pin native %s to %s: %s", child.engine, child.cpus, e)
        log.info("started native %s (pid %d)", child.engine, child.proc.pid)

    def tick(self) -> None:
        now = time.monotonic()
        for child in self.children:
            if child.proc is None:
                if now >= child.restart_at:
                    self.spawn(child)
                continue
            code = child.proc.poll()
            if code is None:
                if now - child.started_at > STABLE_AFTER_S:
                    child.backoff_s = BACKOFF_START_S
                continue
            child.restarts += 1
            child.history.append(now)
            child.restart_at = now + child.backoff_s
            log.warning("native %s exited with %s; restart %d in %.1fs", child.engine, code, child.restarts,
                        child.backoff_s)
            child.backoff_s = min(child.backoff_s * 2, BACKOFF_MAX_S)
            child.proc = None

    def stop(self) -> None:
        self.stopping = True
        for child in self.children:
            if child.proc is not None and child.proc.poll() is None:
                child.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + CHILD_STOP_TIMEOUT_S
        for child in self.children:
            if child.proc is None:
                continue
            try:
                child.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.proc.kill()
                child.proc.wait(5)
            self.pid_path(child.engine).unlink(missing_ok=True)

    def run(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "stopping", True))
        signal.signal(signal.SIGINT, lambda *_: setattr(self, "stopping", True))
        while not self.stopping:
            self.tick()
            time.sleep(0.1)
        self.stop()


def main() -> None:
    settings = get_settings()
    nlogging.configure("native-supervisor", settings.log_level)
    Supervisor().run()


if __name__ == "__main__":
    main()
