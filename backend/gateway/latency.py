"""Latency percentiles over the last N minutes, from the gateway's own Prometheus histograms.

A histogram's buckets only ever grow, so the calls of the last N minutes are the difference between
the buckets now and a snapshot taken N minutes ago. ``LatencyWindow`` keeps a snapshot every
``every_s`` seconds for ``keep_minutes``; a percentile is interpolated linearly inside its bucket,
exactly as PromQL's ``histogram_quantile`` does, so the figures agree with Grafana's panels. When the
process is younger than the window, the window starts at its first snapshot (``window_s`` says).
"""

from __future__ import annotations

import asyncio
import bisect
import math
import time
from collections import deque
from typing import Any

from prometheus_client import Histogram

#: (labels without "le") -> (upper bounds, cumulative counts, sum)
Snapshot = dict[tuple[tuple[str, str], ...], tuple[list[float], list[float], float]]


def snapshot(hist: Histogram) -> Snapshot:
    out: Snapshot = {}
    for metric in hist.collect():
        buckets: dict[tuple, list[tuple[float, float]]] = {}
        sums: dict[tuple, float] = {}
        for s in metric.samples:
            key = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
            if s.name.endswith("_bucket"):
                buckets.setdefault(key, []).append((float(s.labels["le"]), s.value))
            elif s.name.endswith("_sum"):
                sums[key] = s.value
        for key, pairs in buckets.items():
            pairs.sort()
            out[key] = ([b for b, _ in pairs], [c for _, c in pairs], sums.get(key, 0.0))
    return out


def quantile(q: float, bounds: list[float], cumulative: list[float]) -> float | None:
    """PromQL's histogram_quantile on one series' cumulative bucket counts (last bound +Inf)."""
    total = cumulative[-1] if cumulative else 0.0
    if total <= 0:
        return None
    rank = q * total
    i = bisect.bisect_left(cumulative, rank)
    if math.isinf(bounds[i]):
        return bounds[-2] if len(bounds) > 1 else None  # above the largest finite bound: that bound
    lower = bounds[i - 1] if i > 0 else 0.0
    below = cumulative[i - 1] if i > 0 else 0.0
    in_bucket = cumulative[i] - below
    return lower + (bounds[i] - lower) * ((rank - below) / in_bucket if in_bucket else 1.0)


class LatencyWindow:
    def __init__(self, hists: dict[str, Histogram], every_s: float = 10.0, keep_minutes: int = 60) -> None:
        self.hists = hists
        self.every_s = every_s
        self.snaps: deque[tuple[float, dict[str, Snapshot]]] = deque(maxlen=int(keep_minutes * 60 / every_s) + 2)
        self._task: asyncio.Task | None = None
        self.take()

    def take(self) -> None:
        self.snaps.append((time.monotonic(), {name: snapshot(h) for name, h in self.hists.items()}))

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="latency-window")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every_s)
            self.take()

    def _base(self, minutes: float) -> tuple[float, dict[str, Snapshot]]:
        cutoff = time.monotonic() - minutes * 60
        base = self.snaps[0]
        for t, snaps in self.snaps:  # the newest snapshot at or before the cutoff
            if t <= cutoff:
                base = (t, snaps)
            else:
                break
        return base

    def percentiles(self, name: str, minutes: float, qs: tuple[float, ...] = (0.5, 0.9, 0.99)
                    ) -> tuple[float, list[dict[str, Any]]]:
        """(window seconds, one row per label set with count, mean and the quantiles in seconds)."""
        t0, base = self._base(minutes)
        now = snapshot(self.hists[name])
        old = base.get(name, {})
        rows = []
        for key, (bounds, cum, total_s) in now.items():
            ob, oc, os_ = old.get(key, (bounds, [0.0] * len(cum), 0.0))
            if ob != bounds:
                oc, os_ = [0.0] * len(cum), 0.0
            delta = [a - b for a, b in zip(cum, oc, strict=True)]
            count = delta[-1]
            if count <= 0:
                continue
            rows.append({**dict(key), "count": int(count), "mean_s": (total_s - os_) / count,
                         **{f"p{round(q * 100):d}_s": quantile(q, bounds, delta) for q in qs},
                         "above_largest_bucket": delta[-1] > delta[-2] if len(delta) > 1 else False})
        rows.sort(key=lambda r: -r["count"])
        return time.monotonic() - t0, rows
