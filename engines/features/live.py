"""Incremental indicator state per (symbol, indicator set), held in the engine process. No I/O.

A state is created on the first bar and fed one bar at a time; its outputs equal the batch
result over the same bars (see streaming.py). Bars must arrive with strictly increasing
timestamps; a request whose bars do not is refused whole, before any state changes.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from backend.core.errors import Conflict, InvalidInput
from engines.features.compute import Resolved
from engines.features.models import LiveBar
from engines.features.streaming import Stream, make_stream

#: Most live states one engine process keeps; beyond it new states are refused (409), never evicted.
MAX_STREAMS = 10_000


def stream_key(symbol: str, resolved: Sequence[Resolved]) -> str:
    canon = json.dumps([[r.defn.name, r.params, r.key] for r in resolved], sort_keys=True)
    return f"{symbol}:{hashlib.sha256(canon.encode()).hexdigest()[:16]}"


@dataclass
class LiveState:
    resolved: list[Resolved]
    streams: list[Stream]
    bars_seen: int = 0
    last_ts: object = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class StreamRegistry:
    def __init__(self, max_streams: int = MAX_STREAMS) -> None:
        self.max_streams = max_streams
        self._states: dict[str, LiveState] = {}
        self._lock = threading.Lock()

    def get_or_create(self, key: str, resolved: Sequence[Resolved]) -> LiveState:
        with self._lock:
            st = self._states.get(key)
            if st is None:
                if len(self._states) >= self.max_streams:
                    raise Conflict(f"{self.max_streams} live states are open; reset some first", field="symbol")
                st = LiveState(list(resolved), [make_stream(r.defn.name, r.params) for r in resolved])
                self._states[key] = st
            return st

    def remove(self, key: str) -> bool:
        with self._lock:
            return self._states.pop(key, None) is not None

    def __len__(self) -> int:
        return len(self._states)


REGISTRY = StreamRegistry()


def feed(state: LiveState, bars: Sequence[LiveBar]) -> tuple[list, dict[str, list[float | None]]]:
    """Append bars to a state; returns (timestamps, column -> values for these bars)."""
    with state.lock:
        prev = state.last_ts
        for i, b in enumerate(bars):
            if prev is not None and b.ts <= prev:
                raise Conflict(f"bar at {b.ts.isoformat()} is not after {prev.isoformat()}", field=f"bars.{i}.ts")
            prev = b.ts
        for r in state.resolved:
            if "benchmark" in r.defn.inputs:
                for i, b in enumerate(bars):
                    if b.benchmark is None:
                        raise InvalidInput(
                            f"{r.defn.name} needs each bar's benchmark close", field=f"bars.{i}.benchmark"
                        )
        cols: dict[str, list[float]] = {c.name: [] for r in state.resolved for c in r.columns()}
        for b in bars:
            bar = {
                "open": b.open,
                "high": b.high,
                "low": b.low,
                "close": b.close,
                "volume": b.volume,
                "benchmark": b.benchmark if b.benchmark is not None else float("nan"),
            }
            for r, s in zip(state.resolved, state.streams, strict=False):
                res = s.update(bar)
                for c in r.columns():
                    cols[c.name].append(res[c.output])
        state.bars_seen += len(bars)
        state.last_ts = prev
    return [b.ts for b in bars], {k: np.asarray(v, dtype=np.float64) for k, v in cols.items()}
