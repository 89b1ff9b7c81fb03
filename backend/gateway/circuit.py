"""A circuit breaker per backend, as a state table.

CLOSED --trip--> OPEN --probe--> HALF_OPEN --probe_ok--> CLOSED
                                  HALF_OPEN --probe_fail--> OPEN
``trip`` fires after ``failure_threshold`` consecutive transport failures, or at
once for a refused connection (a dead process is not a fluke). While OPEN no call is
sent; the gateway's background prober moves it through HALF_OPEN back to CLOSED
when the backend's ``/health`` answers again.
"""

from __future__ import annotations

import enum
import time

from backend.core import metrics


class CircuitState(enum.IntEnum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class IllegalTransition(RuntimeError):
    pass


TRANSITIONS: dict[tuple[CircuitState, str], CircuitState] = {
    (CircuitState.CLOSED, "trip"): CircuitState.OPEN,
    (CircuitState.OPEN, "trip"): CircuitState.OPEN,
    (CircuitState.OPEN, "probe"): CircuitState.HALF_OPEN,
    (CircuitState.HALF_OPEN, "probe_ok"): CircuitState.CLOSED,
    (CircuitState.HALF_OPEN, "probe_fail"): CircuitState.OPEN,
    (CircuitState.HALF_OPEN, "trip"): CircuitState.OPEN,
}


class CircuitBreaker:
    def __init__(self, name: str, failure_threshold: int = 3) -> None:
        self.name = name
        self.failure_threshold = failure_threshold
        self.state = CircuitState.CLOSED
        self.consecutive_failures = 0
        self.opened_at: float | None = None
        self.last_error: str | None = None
        metrics.CIRCUIT_STATE.labels(name).set(self.state)

    def fire(self, trigger: str) -> CircuitState:
        try:
            new = TRANSITIONS[(self.state, trigger)]
        except KeyError:
            raise IllegalTransition(f"{self.name}: {trigger} in {self.state.name}") from None
        if new is CircuitState.OPEN and self.state is not CircuitState.OPEN:
            self.opened_at = time.monotonic()
        if new is CircuitState.CLOSED:
            self.consecutive_failures = 0
            self.opened_at = None
        self.state = new
        metrics.CIRCUIT_STATE.labels(self.name).set(new)
        return new

    @property
    def allows_calls(self) -> bool:
        return self.state is CircuitState.CLOSED

    def record_success(self) -> None:
        self.consecutive_failures = 0

    def record_failure(self, error: str, *, fatal: bool = False) -> None:
        """A transport failure; ``fatal`` (connection refused) trips at once."""
        self.last_error = error
        self.consecutive_failures += 1
        if fatal or self.consecutive_failures >= self.failure_threshold:
            if self.state is not CircuitState.OPEN:
                self.fire("trip")

    def snapshot(self) -> dict:
        return {
            "state": self.state.name.lower(),
            "consecutive_failures": self.consecutive_failures,
            "open_for_s": round(time.monotonic() - self.opened_at, 3) if self.opened_at else None,
            "last_error": self.last_error,
        }
