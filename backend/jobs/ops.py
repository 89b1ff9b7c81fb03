"""The job operations every engine with job kinds declares (``*job_operations("strategy")``),
and ``submit`` for an engine's own typed submit operations."""

from __future__ import annotations

from backend.contract.operation import Model, OpContext, Operation
from backend.core.scopes import Scope
from backend.jobs import store
from backend.jobs.models import JobList, JobRef, JobView, ListJobsRequest


def job_operations(engine: str) -> tuple[Operation, ...]:
    """get_job, list_jobs, cancel_job for ``engine`` (declared once here, for every engine)."""
    return (
        Operation(engine=engine, name="get_job", scope=Scope.READ, request=JobRef, response=JobView,
                  fn_path="backend.jobs.ops:get_job", summary="One job: status, progress, ETA, result"),
        Operation(engine=engine, name="list_jobs", scope=Scope.READ, request=ListJobsRequest, response=JobList,
                  fn_path="backend.jobs.ops:list_jobs", summary="Jobs, newest first (results omitted)"),
        Operation(engine=engine, name="cancel_job", scope=Scope.COMPUTE, request=JobRef, response=JobView,
                  fn_path="backend.jobs.ops:cancel_job", idempotent=False,
                  summary="Cancel a queued or running job (409 once it has finished)"),
    )


async def submit(ctx: OpContext, kind: str, request: Model, owner: str | None = None) -> JobView:
    """Queue a job of ``kind`` with the validated request as its parameters."""
    job = await store.submit(ctx.require_db(), ctx.engine, kind, request.model_dump(mode="json"), owner)
    if ctx.jobs is not None:
        ctx.jobs.wake()
    return JobView(**job)


async def get_job(req: JobRef, ctx: OpContext) -> JobView:
    return JobView(**await store.get(ctx.require_db(), ctx.engine, req.job_id))


async def list_jobs(req: ListJobsRequest, ctx: OpContext) -> JobList:
    items, total = await store.list_jobs(ctx.require_db(), ctx.engine, req.kind, req.status, req.limit, req.offset)
    return JobList(items=[JobView(**i) for i in items], count=len(items), total=total)


async def cancel_job(req: JobRef, ctx: OpContext) -> JobView:
    job = await store.request_cancel(ctx.require_db(), ctx.engine, req.job_id)
    if ctx.jobs is not None:
        ctx.jobs.wake()
    return JobView(**job)
