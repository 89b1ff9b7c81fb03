"""The worker-process side of a job: ``JobContext`` and the entry point the pool runs.

A job function ``run(ctx: JobContext) -> dict`` reports with ``ctx.progress(fraction, message,
**metrics)``; reports are throttled to a few a second and each one checks whether a cancel was
requested, raising ``JobCancelled`` if so (cancellation is cooperative: it takes effect at the
next report). The function may open its own database connection from ``ctx.settings``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from backend.jobs.kinds import _load

#: Reports closer together than this are coalesced (the last one and 100% always go out).
REPORT_EVERY_S = 0.25

_QUEUE: Any = None  # progress reports to the engine process (set in each worker by ``init``)
_CANCELS: Any = None  # job id -> True once a cancel was requested (a Manager dict)


class JobCancelled(Exception):
    """Raised inside a job by ``JobContext.progress`` once its cancellation was requested."""


def init(queue: Any, cancels: Any) -> None:
    """Pool initializer: the channels back to the engine process."""
    global _QUEUE, _CANCELS
    _QUEUE, _CANCELS = queue, cancels


@dataclass
class JobContext:
    job_id: str
    kind: str
    params: dict[str, Any]
    #: database_url, redis_url, instance_id of the engine that runs the job
    settings: dict[str, Any]
    _last: float = field(default=0.0, repr=False)

    @property
    def cancel_requested(self) -> bool:
        return bool(_CANCELS is not None and _CANCELS.get(self.job_id))

    def progress(self, fraction: float, message: str | None = None, **metrics: Any) -> None:
        """Report progress (0..1) with optional metrics (e.g. bars=..., loss=...); raises JobCancelled."""
        now = time.monotonic()
        if fraction < 1.0 and now - self._last < REPORT_EVERY_S:
            return
        self._last = now
        if self.cancel_requested:
            raise JobCancelled(self.job_id)
        if _QUEUE is not None:
            _QUEUE.put((self.job_id, float(fraction), message, metrics))


def run_job(fn_path: str, job_id: str, kind: str, params: dict[str, Any], settings: dict[str, Any]) -> dict:
    """Entry point in the worker: import the job function and run it."""
    result = _load(fn_path)(JobContext(job_id, kind, params, settings))
    if not isinstance(result, dict):
        raise TypeError(f"job function {fn_path} returned {type(result).__name__}, not a dict")
    return result
