"""A kind of job an engine runs, declared once in the engine's ``ops.py``."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class JobKind:
    name: str
    #: ``"package.module:function"``; the function runs in a worker process: ``run(ctx: JobContext) -> dict``
    fn_path: str
    #: A job running longer than this is failed (its worker is replaced).
    timeout_s: float = 3600.0
    #: Optional ``async on_done(job_id, result, ctx: OpContext) -> dict`` in the engine process, e.g. to
    #: store large results in tables; returns the (possibly slimmed) result kept in ``jobs.result``.
    on_done_path: str | None = None

    def load(self) -> Callable[..., Any]:
        return _load(self.fn_path)

    def load_on_done(self) -> Callable[..., Any] | None:
        return _load(self.on_done_path) if self.on_done_path else None


def _load(path: str) -> Callable[..., Any]:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)
