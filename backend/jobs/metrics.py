"""Job metrics of an engine process: queue depth and the oldest queued job, read from the jobs table
at scrape time (the table is the queue: jobs wait there, not in memory); run times are observed by the
runner as each job ends (``nautilus_job_duration_seconds``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client.metrics_core import Metric

from backend.core import metrics

QUERY = """SELECT kind, status, count(*) AS n, extract(epoch FROM now() - min(created_at)) AS oldest_s
           FROM jobs WHERE engine = $1 AND status IN ('queued', 'running') GROUP BY kind, status"""


class JobGauges:
    def __init__(self, engine: str, db: Any) -> None:
        self.engine, self.db = engine, db
        self.rows: list[Any] = []

    async def refresh(self) -> None:
        self.rows = await self.db.fetch(QUERY, self.engine)

    def collect(self) -> Iterable[Metric]:
        out = metrics.families([metrics.JOBS, metrics.JOB_OLDEST_QUEUED])
        oldest = 0.0
        for r in self.rows:
            metrics.JOBS.add(out[metrics.JOBS.name], r["n"], self.engine, r["kind"], r["status"])
            if r["status"] == "queued":
                oldest = max(oldest, float(r["oldest_s"] or 0.0))
        metrics.JOB_OLDEST_QUEUED.add(out[metrics.JOB_OLDEST_QUEUED.name], oldest, self.engine)
        return list(out.values())


def install(engine: str, db: Any) -> JobGauges:
    gauges = JobGauges(engine, db)
    metrics.set_source(f"jobs-{engine}", gauges.collect, gauges.refresh)
    return gauges
