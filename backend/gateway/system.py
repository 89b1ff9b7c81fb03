"""``GET /api/v1/system/hardware`` and ``/api/v1/system/performance`` (scope ``read``).

hardware: the machine as read now (``hardware``): CPU, memory, disks, each supervised process's
resident memory and CPU time, and GPUs from the driver (NVML or nvidia-smi) or, for Apple GPUs,
from the native processes that use them; every reading with its time.
performance: per-operation latency percentiles over the last ``minutes`` from the gateway's own
histograms (``latency``): routed engine operations by backend, and the gateway's own routes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict

from backend.auth.guard import Authenticator
from backend.core.scopes import Scope
from backend.core.settings import Settings
from backend.gateway import hardware
from backend.gateway.latency import LatencyWindow


class Reading(BaseModel):
    model_config = ConfigDict(frozen=True)
    read_at: dt.datetime


class Cpu(Reading):
    model: str
    architecture: str
    logical_cores: int | None
    physical_cores: int | None
    load_1m: float
    load_5m: float
    load_15m: float
    utilisation_ratio: float
    utilisation_interval_s: float
    frequency_mhz: float | None


class Memory(Reading):
    total_bytes: int
    available_bytes: int
    used_bytes: int
    swap_total_bytes: int
    swap_used_bytes: int


class Disk(Reading):
    role: str
    path: str
    total_bytes: int
    used_bytes: int
    free_bytes: int


class ProcessReading(Reading):
    name: str
    pid: int
    rss_bytes: int
    cpu_seconds: float
    threads: int
    started_at: dt.datetime


class Gpu(Reading):
    index: int
    name: str
    uuid: str | None
    memory_total_bytes: int | None
    memory_used_bytes: int | None
    utilisation_ratio: float | None
    memory_utilisation_ratio: float | None
    temperature_celsius: float | None
    power_watts: float | None
    driver_version: str | None
    source: str


class MpsReading(Reading):
    engine: str
    name: str | None
    allocated_bytes: int | None
    driver_bytes: int | None
    recommended_max_bytes: int | None


class Gpus(BaseModel):
    devices: list[Gpu]
    mps: list[MpsReading]
    notes: list[str]


class HardwareStatus(BaseModel):
    hostname: str
    cpu: Cpu
    memory: Memory
    disks: list[Disk]
    processes: list[ProcessReading]
    processes_note: str | None
    gpus: Gpus


class LatencyRow(BaseModel):
    count: int
    mean_s: float
    p50_s: float | None
    p90_s: float | None
    p99_s: float | None
    above_largest_bucket: bool


class OperationLatency(LatencyRow):
    engine: str
    operation: str
    backend: str


class RouteLatency(LatencyRow):
    route: str
    method: str
    code: str


class PerformanceStatus(BaseModel):
    minutes: int
    window_s: float
    operations: list[OperationLatency]
    routes: list[RouteLatency]
    read_at: dt.datetime


def build_router(settings: Settings, auth: Authenticator, window: LatencyWindow,
                 native_health: Callable[[], Awaitable[dict[str, dict]]]) -> APIRouter:
    router = APIRouter(prefix="/api/v1/system", tags=["system"])

    @router.get("/hardware", response_model=HardwareStatus)
    async def get_hardware(request: Request) -> dict[str, Any]:
        """The machine as read now; GPU fields only where a device is present."""
        import socket

        await auth.require(request.headers, Scope.READ)
        cpu, natives = await asyncio.gather(asyncio.to_thread(hardware.read_cpu), native_health())
        processes, note = await asyncio.to_thread(hardware.read_processes, settings)
        return {"hostname": socket.gethostname(), "cpu": cpu, "memory": hardware.read_memory(),
                "disks": hardware.read_disks(settings), "processes": processes, "processes_note": note,
                "gpus": await hardware.read_gpus(natives)}

    @router.get("/performance", response_model=PerformanceStatus)
    async def get_performance(request: Request, minutes: int = Query(5, ge=1, le=60)) -> dict[str, Any]:
        """Latency percentiles (seconds) of the last ``minutes``, from the gateway's histograms."""
        await auth.require(request.headers, Scope.READ)
        window_s, ops = window.percentiles("operations", minutes)
        _, routes = window.percentiles("routes", minutes)
        return {"minutes": minutes, "window_s": window_s, "operations": ops,
                "routes": [r for r in routes if r.get("process") == "gateway"],
                "read_at": dt.datetime.now(dt.UTC)}

    return router
