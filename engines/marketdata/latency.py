"""Feed-to-consumer latency: a Prometheus histogram fed in batches, plus recent quantiles.

prometheus_client's Histogram observes one value per call; a consumer handling
hundreds of thousands of messages a second records whole batches instead, so
this collector keeps bucket counts with numpy and is registered in the default
registry (served at the engine's /metrics) as a standard histogram family.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

import numpy as np
from prometheus_client.core import REGISTRY, HistogramMetricFamily
from prometheus_client.registry import Collector

#: Upper bounds in seconds (50 us .. 10 s); +Inf is implicit.
LATENCY_BUCKETS_S = (5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
RECENT = 100_000  # latencies kept per label set for quantiles


class _Series:
    def __init__(self, n_buckets: int) -> None:
        self.counts = np.zeros(n_buckets + 1, dtype=np.int64)
        self.total_s = 0.0
        self.recent = np.zeros(RECENT)
        self.filled = 0
        self.pos = 0


class LatencyHistogram(Collector):
    """A labelled latency histogram with a batch ``observe_many``."""

    def __init__(self, name: str, documentation: str, labelnames: tuple[str, ...],
                 buckets: tuple[float, ...] = LATENCY_BUCKETS_S) -> None:
        self.name, self.doc, self.labelnames = name, documentation, labelnames
        self.bounds = np.asarray(buckets)
        self._series: dict[tuple[str, ...], _Series] = {}
        self._lock = threading.Lock()

    def observe_many(self, labels: tuple[str, ...], seconds: np.ndarray) -> None:
        if seconds.size == 0:
            return
        seconds = np.maximum(seconds, 0.0)
        idx = np.searchsorted(self.bounds, seconds, side="left")  # value <= bound goes in that bucket
        add = np.bincount(idx, minlength=self.bounds.size + 1)
        with self._lock:
            s = self._series.get(labels)
            if s is None:
                s = self._series[labels] = _Series(self.bounds.size)
            s.counts += add
            s.total_s += float(seconds.sum())
            tail = seconds[-RECENT:]
            end = s.pos + tail.size
            if end <= RECENT:
                s.recent[s.pos:end] = tail
            else:
                first = RECENT - s.pos
                s.recent[s.pos:] = tail[:first]
                s.recent[: tail.size - first] = tail[first:]
            s.pos = end % RECENT
            s.filled = min(RECENT, s.filled + tail.size)

    def summary(self, match: dict[str, str] | None = None) -> dict[str, float | int | None]:
        """count, p50_ms, p99_ms, max_ms over recent observations of the matching series."""
        with self._lock:
            chosen = [s for labels, s in self._series.items() if not match or all(
                dict(zip(self.labelnames, labels, strict=True)).get(k) == v for k, v in match.items())]
            count = int(sum(int(s.counts.sum()) for s in chosen))
            recent = np.concatenate([s.recent[: s.filled] for s in chosen]) if chosen else np.zeros(0)
        if recent.size == 0:
            return {"count": count, "p50_ms": None, "p99_ms": None, "max_ms": None}
        p50, p99 = np.percentile(recent, [50, 99]) * 1e3
        return {"count": count, "p50_ms": float(p50), "p99_ms": float(p99), "max_ms": float(recent.max() * 1e3)}

    def collect(self) -> Iterable[HistogramMetricFamily]:
        family = HistogramMetricFamily(self.name, self.doc, labels=list(self.labelnames))
        with self._lock:
            for labels, s in self._series.items():
                cum = np.cumsum(s.counts)
                buckets = [(repr(float(b)), float(c)) for b, c in zip(self.bounds, cum[:-1], strict=False)]
                buckets.append(("+Inf", float(cum[-1])))
                family.add_metric(list(labels), buckets, s.total_s)
        yield family


FEED_LATENCY = LatencyHistogram(
    "nautilus_marketdata_feed_latency_seconds",
    "Market data feed-to-consumer latency: consumer receive time minus the envelope's publish ts_ns",
    ("stream", "group"),
)
REGISTRY.register(FEED_LATENCY)
