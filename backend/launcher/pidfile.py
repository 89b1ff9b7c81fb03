"""Pid files that identify their process: pid, creation time, module and instance.

A pid alone is not an identity: after a crash the number may belong to an unrelated process
by the time the stop script runs. ``owned`` is true only when a live process has the recorded
pid *and* creation time, so nothing outside this instance is ever signalled.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import psutil

from backend.core.settings import Settings


@dataclass(frozen=True)
class PidRecord:
    pid: int
    create_time: float
    module: str
    instance: str


def path(settings: Settings, name: str) -> Path:
    return settings.pid_dir / f"{name}.pid"


def write(settings: Settings, name: str, pid: int, module: str) -> None:
    settings.pid_dir.mkdir(parents=True, exist_ok=True)
    try:
        created = psutil.Process(pid).create_time()
    except psutil.Error:
        created = 0.0
    body = json.dumps({"pid": pid, "create_time": created, "module": module, "instance": settings.instance_id})
    tmp = path(settings, name).with_suffix(".tmp")
    tmp.write_text(body)
    os.replace(tmp, path(settings, name))


def read(settings: Settings, name: str) -> PidRecord | None:
    return read_path(path(settings, name))


def read_path(p: Path) -> PidRecord | None:
    try:
        raw = json.loads(p.read_text())
        return PidRecord(int(raw["pid"]), float(raw["create_time"]), str(raw["module"]), str(raw["instance"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def owned(rec: PidRecord | None) -> bool:
    """The recorded process is alive and is the one that was recorded (same creation time)."""
    if rec is None or rec.pid <= 0:
        return False
    try:
        proc = psutil.Process(rec.pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return abs(proc.create_time() - rec.create_time) < 0.01
    except psutil.Error:
        return False


def remove(settings: Settings, name: str) -> None:
    path(settings, name).unlink(missing_ok=True)
