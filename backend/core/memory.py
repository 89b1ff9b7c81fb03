"""Memory per request, bounded: large bodies are parsed a few at a time, and the heap is trimmed after.

A JSON body becomes several times its size in Python objects while it is validated (an 8 MiB
covariance is ~75 MB of floats and lists), so an operation's ``max_body_bytes`` bounds one request,
and ``LargeBodies`` bounds how many such requests are held at once (the rest wait their turn, up to
a timeout, then 503). CPython returns freed small objects to its arenas but glibc keeps the pages;
``trim`` hands them back (``malloc_trim``) after a large request, so a burst does not become the
process's resident size for good.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from backend.core.errors import Unavailable

#: Bodies at least this large count as large (bytes).
LARGE_BODY_BYTES = 1024 * 1024
#: How long a large request may wait for its turn before a 503.
LARGE_WAIT_S = 30.0
_TRIM_EVERY_S = 0.5

try:
    _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    _malloc_trim = _libc.malloc_trim
    _malloc_trim.argtypes = [ctypes.c_size_t]
except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to trim with
    _malloc_trim = None
_last_trim = 0.0


def trim() -> bool:
    """Give freed heap pages back to the OS (glibc only; at most every 0.5 s). True if it ran."""
    global _last_trim
    now = time.monotonic()
    if _malloc_trim is None or now - _last_trim < _TRIM_EVERY_S:
        return False
    _last_trim = now
    _malloc_trim(0)
    return True


class LargeBodies:
    """At most ``limit`` large requests parsed and handled at once in this process."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._sem = asyncio.Semaphore(limit)
        self.waiting = 0

    @asynccontextmanager
    async def turn(self, size: int) -> AsyncIterator[None]:
        if size < LARGE_BODY_BYTES:
            yield
            return
        self.waiting += 1
        try:
            await asyncio.wait_for(self._sem.acquire(), LARGE_WAIT_S)
        except TimeoutError:
            raise Unavailable(f"too many large requests in progress (at most {self.limit} at once); retry",
                              retry_after_s=1) from None
        finally:
            self.waiting -= 1
        try:
            yield
        finally:
            self._sem.release()
            trim()
