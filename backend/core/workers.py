"""Worker threads for compute calls, lighter than ``run_in_executor`` or anyio's pool.

A call is one queue put and one ``call_soon_threadsafe``: no concurrent.futures wrapping
and no task per call, which matters when a whole call is tens of microseconds.
numpy, scipy and torch release the GIL, so compute overlaps the event loop.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any


class Workers:
    """Worker threads fed by a simple queue; results come back with ``call_soon_threadsafe``.

    Leaner than ``run_in_executor`` (no concurrent.futures wrapping, no task per call),
    which matters for small calls whose whole budget is tens of microseconds.
    """

    def __init__(self, n: int, name: str) -> None:
        self.q: queue.SimpleQueue = queue.SimpleQueue()
        self.threads = [threading.Thread(target=self._run, name=f"{name}-{i}", daemon=True) for i in range(n)]
        for t in self.threads:
            t.start()

    def submit(self, loop: asyncio.AbstractEventLoop, fn: Callable[..., Any], *args: Any) -> asyncio.Future:
        fut = loop.create_future()
        self.q.put((loop, fn, args, fut))
        return fut

    def _run(self) -> None:
        while True:
            item = self.q.get()
            if item is None:
                return
            loop, fn, args, fut = item
            try:
                result = fn(*args)
            except BaseException as e:  # noqa: BLE001 - delivered to the caller
                loop.call_soon_threadsafe(_settle, fut, None, e)
            else:
                loop.call_soon_threadsafe(_settle, fut, result, None)

    def shutdown(self) -> None:
        for _ in self.threads:
            self.q.put(None)


def _settle(fut: asyncio.Future, result: Any, error: BaseException | None) -> None:
    if fut.done():
        return
    if error is not None:
        fut.set_exception(error)
    else:
        fut.set_result(result)
