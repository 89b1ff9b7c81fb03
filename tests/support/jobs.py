"""Job functions for the job runner's tests (they run in spawned worker processes)."""

from __future__ import annotations

import os
import time

from backend.jobs.worker import JobContext


def count(ctx: JobContext) -> dict:
    """Counts to params["n"], sleeping params["step_s"] a step, reporting progress each step."""
    n, step = int(ctx.params["n"]), float(ctx.params.get("step_s", 0.01))
    for i in range(n):
        time.sleep(step)
        ctx.progress((i + 1) / n, f"step {i + 1} of {n}", steps=i + 1)
    return {"counted": n, "pid": os.getpid()}


def fail(ctx: JobContext) -> dict:
    raise ValueError(f"bad parameter {ctx.params.get('what')!r}")


def crash(ctx: JobContext) -> dict:
    os._exit(3)  # a worker killed mid-job (out of memory, say)


def not_a_dict(ctx: JobContext) -> list:
    return [1, 2]
