"""Supervise the platform's processes: start in order, restart with back-off, stop in reverse.

``python -m backend.launcher.supervisor`` (started by the start script) runs every process of
``platform_processes`` as its child: native engines, then engine services, then the gateway.
A child that exits is restarted after a back-off (0.5 s doubling to 30 s, reset after 60 s of
stable running). Each child's pid file holds its pid and creation time, so nothing ever signals
a process that merely reuses a stale pid. ``<run_dir>/supervisor.json`` says, for each child,
its pid, state, restarts and last exit; the gateway's ``/health`` shows it. SIGTERM stops the
children in reverse order (the gateway first), each drained, SIGKILL after a timeout.

Imports only the standard library, psutil and ``backend.core`` (it also runs on a GPU host that
has nothing else installed: ``native_engines.supervisor``).
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
from backend.core.settings import Settings, get_settings
from backend.launcher import pidfile
from backend.launcher.processes import ProcessSpec, open_log, platform_processes

log = logging.getLogger("supervisor")

BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 30.0
STABLE_AFTER_S = 60.0
CHILD_STOP_TIMEOUT_S = 10.0
STATUS_FILE = "supervisor.json"


@dataclass
class Child:
    spec: ProcessSpec
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    started_wall: float = 0.0
    backoff_s: float = BACKOFF_START_S
    restart_at: float = 0.0
    restarts: int = 0
    last_exit_code: int | None = None
    last_exit_wall: float | None = None
    recent_exits: list[float] = field(default_factory=list)

    def view(self, now: float) -> dict:
        running = self.proc is not None and self.proc.poll() is None
        return {
            "pid": self.proc.pid if running else None,
            "state": "running" if running else ("backoff" if self.restarts else "starting"),
            "restarts": self.restarts,
            "last_exit_code": self.last_exit_code,
            "last_exit_at": self.last_exit_wall,
            "started_at": self.started_wall if running else None,
            "next_start_in_s": None if running else round(max(0.0, self.restart_at - now), 3),
        }


class Supervisor:
    def __init__(self, settings: Settings, specs: list[ProcessSpec]) -> None:
        self.settings = settings
        self.children = [Child(s) for s in specs]
        self.stopping = False
        self.status_path = settings.run_dir / STATUS_FILE
        self._last_status = ""

    def spawn(self, child: Child) -> None:
        spec = child.spec
        with open_log(self.settings, spec.name) as logf:
            child.proc = subprocess.Popen(
                [sys.executable, "-m", spec.module], stdout=logf, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, cwd=str(Path(__file__).resolve().parents[2]),
            )
        child.started_at = time.monotonic()
        child.started_wall = time.time()
        pidfile.write(self.settings, spec.name, child.proc.pid, spec.module)
        if spec.cpus and hasattr(os, "sched_setaffinity"):
            try:
                os.sched_setaffinity(child.proc.pid, spec.cpus)
            except OSError as e:
                log.warning("cannot pin %s to CPUs %s: %s", spec.name, spec.cpus, e)
        log.info("started %s (pid %d)", spec.name, child.proc.pid)

    def tick(self) -> None:
        now = time.monotonic()
        for child in self.children:
            if child.proc is None:
                if now >= child.restart_at and not self.stopping:
                    self.spawn(child)
                continue
            code = child.proc.poll()
            if code is None:
                if now - child.started_at > STABLE_AFTER_S:
                    child.backoff_s = BACKOFF_START_S
                continue
            child.restarts += 1
            child.last_exit_code = code
            child.last_exit_wall = time.time()
            child.restart_at = now + child.backoff_s
            log.warning("%s exited with %s; restart %d in %.1fs", child.spec.name, code, child.restarts,
                        child.backoff_s)
            child.backoff_s = min(child.backoff_s * 2, BACKOFF_MAX_S)
            self._reclaim(child.proc.pid)
            child.proc = None
        self.write_status()

    def _reclaim(self, pid: int) -> None:
        """A dead child's shared-memory segments go with it (a native engine killed mid-call leaves its
        result segments; nobody else would unlink them before the next start)."""
        from native_engines.ipc.shm import reclaim

        removed = reclaim(self.settings.instance_id, pid)
        if removed:
            log.warning("removed %d shared-memory segment(s) of exited pid %d: %s", len(removed), pid,
                        ", ".join(removed))

    def write_status(self) -> None:
        now = time.monotonic()
        body = json.dumps({"pid": os.getpid(), "instance": self.settings.instance_id,
                           "children": {c.spec.name: c.view(now) for c in self.children}}, sort_keys=True)
        if body == self._last_status:
            return
        tmp = self.status_path.with_suffix(".tmp")
        tmp.write_text(body)
        os.replace(tmp, self.status_path)
        self._last_status = body

    def stop(self) -> None:
        """Reverse start order: the gateway stops taking requests before the engines behind it go."""
        self.stopping = True
        for child in reversed(self.children):
            proc = child.proc
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(CHILD_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %.0fs: killed", child.spec.name, CHILD_STOP_TIMEOUT_S)
                proc.kill()
                proc.wait(5)
        for child in self.children:
            pidfile.remove(self.settings, child.spec.name)
        self.status_path.unlink(missing_ok=True)

    def run(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "stopping", True))
        signal.signal(signal.SIGINT, lambda *_: setattr(self, "stopping", True))
        while not self.stopping:
            self.tick()
            time.sleep(0.1)
        self.stop()


def read_status(run_dir: Path) -> dict | None:
    """The supervisor's last status (for /health), or None when it is not running."""
    try:
        return json.loads((run_dir / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return None


def main() -> None:
    settings = get_settings()
    nlogging.configure("supervisor", settings.log_level, settings.log_format)
    # e.g. "native": just the native engines (a GPU host beside Docker mode); "native,gateway": the native
    # engines and the gateway (Apple Silicon beside Docker mode: docker-compose.m4max.yml)
    only = {g.strip() for g in os.environ.get("NAUTILUS_SUPERVISE", "").split(",") if g.strip()}
    specs = [s for s in platform_processes(settings) if not only or s.group in only]
    Supervisor(settings, specs).run()


if __name__ == "__main__":
    main()
