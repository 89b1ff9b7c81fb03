"""The bus envelope: {v, topic, type, ts_ns, payload}, msgpack-encoded.

Topics are hierarchical, e.g. ``data.quotes.SIM1.AAPL`` or ``events.order.<strategy>``.
``ts_ns`` is the publisher's wall clock in nanoseconds so consumers can measure latency.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import msgpack

ENVELOPE_VERSION = 1


@dataclass(frozen=True)
class Envelope:
    topic: str
    type: str
    payload: Any
    ts_ns: int = 0


def encode(topic: str, type_: str, payload: Any, ts_ns: int | None = None) -> bytes:
    return msgpack.packb(
        {"v": ENVELOPE_VERSION, "topic": topic, "type": type_, "ts_ns": ts_ns or time.time_ns(), "payload": payload},
        use_bin_type=True,
    )


def decode(data: bytes) -> Envelope:
    raw = msgpack.unpackb(data, raw=False)
    if not isinstance(raw, dict) or raw.get("v") != ENVELOPE_VERSION:
        raise ValueError("not a version-1 bus envelope")
    return Envelope(topic=raw["topic"], type=raw["type"], payload=raw["payload"], ts_ns=raw["ts_ns"])
