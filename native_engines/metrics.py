"""Metrics of a native process, and how they reach Prometheus.

A native process has no HTTP port (only its 0600 socket), so it is not scraped directly: the
gateway asks each native process for its ``nautilus_native_*`` families over the socket (a
``metrics`` frame) while it renders its own ``/metrics``, and serves them there with
``nautilus_native_up`` saying which processes answered. One scrape target, no new port, and the
socket's access rule (owner only) stays the only way in.

Here: ``report(server, device)`` (native side) turns this process's registry into a plain tree that
msgpack carries; ``families_from_reports`` (gateway side) merges the trees of every native process
into one metric family per name.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import REGISTRY
from prometheus_client.metrics_core import Metric

from backend.core import metrics

PREFIX = "nautilus_native_"


def state_families(engine: str, server: Any, device: Any) -> list[Metric]:
    """Shared memory, device memory and resident memory of this process, read now."""
    import psutil

    out = metrics.families([metrics.NATIVE_SHM, metrics.NATIVE_DEVICE_MEMORY, metrics.NATIVE_RSS])
    shm = out[metrics.NATIVE_SHM.name]
    pool = server.results
    metrics.NATIVE_SHM.add(shm, pool.total_bytes, engine, "result", "mapped")
    metrics.NATIVE_SHM.add(shm, sum(pool.allocated.values()), engine, "result", "in_use")
    metrics.NATIVE_SHM.add(shm, sum(m.size for m in server.attached.maps.values()), engine, "attached", "mapped")
    dev = out[metrics.NATIVE_DEVICE_MEMORY.name]
    for kind, value in (device.memory() or {}).items():
        metrics.NATIVE_DEVICE_MEMORY.add(dev, value, engine, device.device, kind)
    metrics.NATIVE_RSS.add(out[metrics.NATIVE_RSS.name], psutil.Process().memory_info().rss, engine)
    return list(out.values())


def report(engine: str, server: Any, device: Any) -> list[list]:
    """This process's ``nautilus_native_*`` families as ``[name, type, help, [[sample, labels, value]]]``."""
    fams: Iterable[Metric] = [*REGISTRY.collect(), *state_families(engine, server, device)]
    return [[m.name, m.type, m.documentation, [[s.name, dict(s.labels), s.value] for s in m.samples]]
            for m in fams if m.name.startswith(PREFIX)]


def families_from_reports(reports: dict[str, list[list] | None]) -> list[Metric]:
    """One family per name across every native process's report, plus ``nautilus_native_up``."""
    merged: dict[str, Metric] = {}
    up = metrics.NATIVE_UP.metric()
    for engine, fams in sorted(reports.items()):
        metrics.NATIVE_UP.add(up, 0.0 if fams is None else 1.0, engine)
        for name, typ, doc, samples in fams or []:
            if not str(name).startswith(PREFIX):
                continue  # a native process reports only its own families
            fam = merged.get(name)
            if fam is None:
                fam = merged[name] = Metric(name, doc, typ)
            for sample, labels, value in samples:
                fam.add_sample(sample, {str(k): str(v) for k, v in labels.items()}, float(value))
    return [up, *merged.values()]
