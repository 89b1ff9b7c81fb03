"""Request and response models of the generic job operations."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from backend.contract.operation import Model

JobId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[0-9a-f]+$")]
Status = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class JobView(Model):
    id: str
    engine: str
    kind: str
    status: Status
    progress: float = Field(description="0..1")
    message: str | None
    metrics: dict[str, Any] = Field(description="the job's latest reported figures, e.g. bars processed, eta_s")
    error: str | None
    owner: str | None
    cancel_requested: bool
    attempts: int
    params: dict[str, Any]
    result: dict[str, Any] | None = Field(description="the job's result once it succeeded (omitted in lists)")
    created_at: str
    started_at: str | None
    finished_at: str | None
    elapsed_s: float | None


class JobRef(Model):
    job_id: JobId


class ListJobsRequest(Model):
    kind: Annotated[str, Field(max_length=64, pattern=r"^[a-z0-9_]+$")] | None = None
    status: Status | None = None
    limit: Annotated[int, Field(ge=1, le=500)] = 50
    offset: Annotated[int, Field(ge=0, le=1_000_000)] = 0


class JobList(Model):
    items: list[JobView]
    count: int
    total: int
