"""What the gateway's ``/metrics`` serves beyond its own instruments, read when it is scraped.

- ``native``: each native process's ``nautilus_native_*`` families, asked for over its socket (the
  native processes have no HTTP port; see ``native_engines.metrics``), plus the gateway's own
  shared-memory pools towards them and ``nautilus_native_up``;
- ``processes``: the supervisor's restarts and states (``<run dir>/supervisor.json``) and each
  supervised process's resident memory through its pid file;
- ``host``: memory, the run directory's disk, load and CPUs of the machine (for the disk and memory
  alerts; in Docker mode, of the gateway container's view of the host).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable
from typing import Any

import psutil
from prometheus_client.metrics_core import Metric

from backend.core import metrics
from backend.core.settings import Settings
from native_engines.metrics import families_from_reports

#: How long one native process may take to report before it counts as not answering.
NATIVE_REPORT_TIMEOUT_S = 1.0


class NativeReports:
    """Refreshed on every scrape; ``collect`` serves what the last refresh read."""

    def __init__(self, clients: dict[str, Any]) -> None:
        #: engine -> NativeClient (the native backend's own client where the gateway routes calls to it)
        self.clients = clients
        self.reports: dict[str, list | None] = {}

    async def refresh(self) -> None:
        async def one(client: Any) -> list | None:
            try:
                return await client.metrics(NATIVE_REPORT_TIMEOUT_S)
            except Exception:  # noqa: BLE001 - a native process that does not answer is reported as down
                return None

        results = await asyncio.gather(*(one(c) for c in self.clients.values()))
        self.reports = dict(zip(self.clients, results, strict=True))

    def collect(self) -> Iterable[Metric]:
        if not self.clients:
            return []
        fams = families_from_reports(self.reports)
        shm = metrics.NATIVE_SHM.metric()
        for engine, client in self.clients.items():
            pool = client.pool
            if pool is not None:
                metrics.NATIVE_SHM.add(shm, pool.total_bytes, engine, "gateway", "mapped")
                metrics.NATIVE_SHM.add(shm, sum(pool.allocated.values()), engine, "gateway", "in_use")
        for fam in fams:  # one family per name: the gateway's pools join the native processes' samples
            if fam.name == shm.name:
                fam.samples.extend(shm.samples)
                return fams
        return [*fams, shm]


def process_families(settings: Settings) -> list[Metric]:
    """Restarts and states from the supervisor's status file, RSS through the pid files."""
    from backend.launcher import pidfile
    from backend.launcher.supervisor import read_status

    out = metrics.families([metrics.PROCESS_RESTARTS, metrics.PROCESS_RUNNING, metrics.PROCESS_RSS])
    status = read_status(settings.run_dir) or {}
    for name, child in sorted((status.get("children") or {}).items()):
        metrics.PROCESS_RESTARTS.add(out[metrics.PROCESS_RESTARTS.name], child.get("restarts", 0), name)
        metrics.PROCESS_RUNNING.add(out[metrics.PROCESS_RUNNING.name], child.get("state") == "running", name)
        rec = pidfile.read(settings, name)
        if rec is not None and pidfile.owned(rec):
            try:
                metrics.PROCESS_RSS.add(out[metrics.PROCESS_RSS.name], psutil.Process(rec.pid).memory_info().rss,
                                        name)
            except psutil.Error:
                pass
    return list(out.values())


def host_families(settings: Settings) -> list[Metric]:
    out = metrics.families([metrics.HOST_MEMORY, metrics.HOST_DISK, metrics.HOST_LOAD, metrics.HOST_CPUS])
    vm = psutil.virtual_memory()
    metrics.HOST_MEMORY.add(out[metrics.HOST_MEMORY.name], vm.total, "total")
    metrics.HOST_MEMORY.add(out[metrics.HOST_MEMORY.name], vm.available, "available")
    path = settings.run_dir if settings.run_dir.exists() else settings.run_dir.parent
    disk = psutil.disk_usage(str(path))
    metrics.HOST_DISK.add(out[metrics.HOST_DISK.name], disk.total, "total")
    metrics.HOST_DISK.add(out[metrics.HOST_DISK.name], disk.free, "free")
    metrics.HOST_LOAD.add(out[metrics.HOST_LOAD.name], os.getloadavg()[0])
    metrics.HOST_CPUS.add(out[metrics.HOST_CPUS.name], psutil.cpu_count() or 0)
    return list(out.values())


def install(settings: Settings, native_clients: dict[str, Any]) -> NativeReports:
    native = NativeReports(native_clients)
    metrics.set_source("native", native.collect, native.refresh)
    metrics.set_source("processes", lambda: process_families(settings))
    metrics.set_source("host", lambda: host_families(settings))
    return native
