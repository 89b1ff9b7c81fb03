"""Micro-batching of concurrent predictions on one resident model, without a waiting window.

Calls that arrive while the model is busy queue up; when it is free, the next caller takes every queued
request (up to ``max_rows`` rows) and runs them as one forward pass, then hands each caller its slice. A lone
call never waits for company (no added latency); under concurrency the device sees fewer, larger batches.
Row results are independent of the batch they ran in up to floating-point reassociation in the matrix
kernels (within the operation's stated tolerance).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass
class _Request:
    rows: np.ndarray
    result: np.ndarray | None = None
    error: BaseException | None = None
    done: bool = False


@dataclass
class MicroBatcher:
    forward: Callable[[np.ndarray], np.ndarray]
    max_rows: int = 65_536
    forward_calls: int = 0
    requests: int = 0
    _queue: list[_Request] = field(default_factory=list)
    _busy: bool = False
    _cv: threading.Condition = field(default_factory=threading.Condition)

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        me = _Request(rows)
        with self._cv:
            self.requests += 1
            self._queue.append(me)
            while self._busy and not me.done:
                self._cv.wait()
            if not me.done:  # the model is free and this request is still queued: lead the next batch
                self._busy = True
                batch, size = [], 0
                while self._queue and (not batch or size + self._queue[0].rows.shape[0] <= self.max_rows):
                    r = self._queue.pop(0)
                    batch.append(r)
                    size += r.rows.shape[0]
        if not me.done:
            self._run(batch)
        if me.error is not None:
            raise me.error
        return me.result  # type: ignore[return-value]

    def _run(self, batch: list[_Request]) -> None:
        try:
            rows = batch[0].rows if len(batch) == 1 else np.concatenate([r.rows for r in batch])
            out = self.forward(rows)
            at = 0
            for r in batch:
                n = r.rows.shape[0]
                r.result, at = out[at:at + n], at + n
        except BaseException as e:  # noqa: BLE001 - every caller of the batch gets the failure
            for r in batch:
                r.error = e
        finally:
            with self._cv:
                self.forward_calls += 1
                for r in batch:
                    r.done = True
                self._busy = False
                self._cv.notify_all()
