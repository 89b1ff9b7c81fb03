"""Readings of the machine the gateway runs on: CPU, memory, disk, the platform's processes, GPUs.

Everything is read from the operating system (psutil, ``/proc``), the supervisor's pid files, the
GPU driver (``gpu``) or the native processes' own reports, each with the time it was read. A figure
that cannot be read here is None or absent, with a note saying why; nothing is estimated.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import platform
from typing import Any

import psutil

from backend.core.host import cpu_model
from backend.core.settings import Settings
from backend.gateway import gpu
from backend.launcher import pidfile
from backend.launcher.processes import platform_processes

#: CPU utilisation is measured over this interval (seconds) when asked for.
CPU_SAMPLE_S = 0.25


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def read_cpu(sample_s: float = CPU_SAMPLE_S) -> dict[str, Any]:
    """Model, cores, load averages and utilisation measured over ``sample_s`` (blocks that long)."""
    load1, load5, load15 = os.getloadavg()
    freq = psutil.cpu_freq()
    return {"model": cpu_model(), "architecture": platform.machine(), "logical_cores": psutil.cpu_count(),
            "physical_cores": psutil.cpu_count(logical=False), "load_1m": load1, "load_5m": load5,
            "load_15m": load15, "utilisation_ratio": psutil.cpu_percent(interval=sample_s) / 100.0,
            "utilisation_interval_s": sample_s, "frequency_mhz": freq.current if freq else None,
            "read_at": _now()}


def read_memory() -> dict[str, Any]:
    vm, sw = psutil.virtual_memory(), psutil.swap_memory()
    return {"total_bytes": vm.total, "available_bytes": vm.available, "used_bytes": vm.total - vm.available,
            "swap_total_bytes": sw.total, "swap_used_bytes": sw.used, "read_at": _now()}


def read_disks(settings: Settings) -> list[dict[str, Any]]:
    """The file systems holding the run directory (logs, pid files, embedded data) and the import folder."""
    out, seen = [], set()
    for role, path in (("run_dir", settings.run_dir), ("import_dir", settings.import_dir)):
        p = path if path.exists() else path.parent
        if not p.exists():
            continue
        usage = psutil.disk_usage(str(p))
        dev = os.stat(p).st_dev
        if dev in seen:
            continue
        seen.add(dev)
        out.append({"role": role, "path": str(path), "total_bytes": usage.total, "used_bytes": usage.used,
                    "free_bytes": usage.free, "read_at": _now()})
    return out


def read_processes(settings: Settings) -> tuple[list[dict[str, Any]], str | None]:
    """RSS and CPU time of each process the supervisor runs, found through its pid file.

    A pid file is trusted only when its process still has the recorded creation time. With no pid
    file at all (Docker mode: each engine is a container of its own) the list is empty and the
    note says so."""
    names = ["supervisor", *(s.name for s in platform_processes(settings))]
    out = []
    for name in names:
        rec = pidfile.read(settings, name)
        if rec is None or not pidfile.owned(rec):
            continue
        try:
            proc = psutil.Process(rec.pid)
            with proc.oneshot():
                mem, cpu = proc.memory_info(), proc.cpu_times()
                out.append({"name": name, "pid": rec.pid, "rss_bytes": mem.rss, "cpu_seconds": cpu.user + cpu.system,
                            "threads": proc.num_threads(),
                            "started_at": dt.datetime.fromtimestamp(proc.create_time(), dt.UTC), "read_at": _now()})
        except psutil.Error:
            continue
    note = None if out else f"no live pid files under {settings.pid_dir} (processes not run by this supervisor)"
    return out, note


async def read_gpus(native_health: dict[str, dict]) -> dict[str, Any]:
    """NVIDIA devices from the driver; Apple GPU memory from the native processes that use it."""
    devices, notes = await asyncio.to_thread(gpu.read_gpus)
    mps = []
    for engine, detail in sorted(native_health.items()):
        dev = (detail or {}).get("device") or {}
        if dev.get("type") == "mps" and dev.get("memory"):
            mem = dev["memory"]
            mps.append({"engine": engine, "name": dev.get("name"), "allocated_bytes": mem.get("allocated_bytes"),
                        "driver_bytes": mem.get("driver_bytes"),
                        "recommended_max_bytes": mem.get("recommended_max_bytes"), "read_at": _now()})
    if mps:
        notes.append("Apple GPU: torch reports memory per process; utilisation and temperature are not exposed")
    return {"devices": [d.__dict__ for d in devices], "mps": mps, "notes": notes if not devices else []}
