"""Prometheus metrics shared by every process. Names are declared here once."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS_S = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

ENGINE_REQUESTS = Counter(
    "nautilus_engine_requests_total", "Operation calls served by an engine", ["engine", "operation", "status"]
)
ENGINE_LATENCY = Histogram(
    "nautilus_engine_request_seconds", "Operation latency inside an engine", ["engine", "operation"],
    buckets=LATENCY_BUCKETS_S,
)
GATEWAY_REQUESTS = Counter(
    "nautilus_gateway_requests_total", "Calls routed by the gateway", ["engine", "operation", "backend", "status"]
)
GATEWAY_LATENCY = Histogram(
    "nautilus_gateway_request_seconds", "End-to-end latency of routed calls", ["engine", "operation", "backend"],
    buckets=LATENCY_BUCKETS_S,
)
GATEWAY_FALLBACKS = Counter(
    "nautilus_gateway_fallbacks_total", "Calls retried on another backend after a transport failure", ["engine"]
)
CIRCUIT_STATE = Gauge(
    "nautilus_gateway_circuit_state", "Circuit state per backend: 0 closed, 1 half-open, 2 open", ["backend"]
)
UP_SECONDS = Gauge("nautilus_process_uptime_seconds", "Seconds since the process started", ["process"])


def render() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST
