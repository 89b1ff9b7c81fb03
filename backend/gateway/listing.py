"""Response models of ``GET /api/v1/engines``: every engine, its backends with breaker state, and the
operations it declares (typed so generated clients, such as the dashboard's, know the shape)."""

from __future__ import annotations

from typing import Literal

from backend.contract.operation import Model


class CircuitView(Model):
    state: Literal["closed", "half_open", "open"]
    consecutive_failures: int
    open_for_s: float | None
    last_error: str | None


class BackendView(Model):
    name: str
    kind: str
    circuit: CircuitView


class OperationView(Model):
    name: str
    route: str
    summary: str
    gpu: bool
    idempotent: bool
    scope: str


class EngineView(Model):
    name: str
    description: str
    backends: list[BackendView]
    operations: list[OperationView]


class EngineList(Model):
    engines: list[EngineView]
