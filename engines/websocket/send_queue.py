"""A client's bounded send queue with the slow-consumer policy (engines/websocket/topics.py).

Messages wait as already-encoded JSON text, in arrival order. A conflatable message (a quote)
replaces the one of the same topic still waiting, keeping that one's place in the order, so a
slow client sees the latest price per symbol rather than a backlog; each replacement is counted.
Every other message waits its turn; when more than ``max_items`` wait, ``put`` reports overflow
and the session disconnects the client (close 4008): order events are never dropped silently.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

#: Default most messages waiting for one client before it is disconnected as too slow.
DEFAULT_MAX_ITEMS = 5000
#: Most messages sent in one websocket frame (a JSON array) when several wait.
MAX_BATCH = 200


class SendQueue:
    def __init__(self, max_items: int = DEFAULT_MAX_ITEMS) -> None:
        self.max_items = max_items
        self._order: deque[tuple[str | None, str | None, float]] = deque()  # (conflation key, text, queued at)
        self._latest: dict[str, str] = {}
        self._ready = asyncio.Event()
        self.conflated = 0
        self.overflowed = False

    def __len__(self) -> int:
        return len(self._order)

    def put(self, text: str, conflate_key: str | None = None) -> bool:
        """Queue one message; False when the queue is over its bound (the client must go)."""
        if conflate_key is not None:
            if conflate_key in self._latest:
                self._latest[conflate_key] = text
                self.conflated += 1
                return True
            self._latest[conflate_key] = text
            self._order.append((conflate_key, None, time.monotonic()))
        else:
            self._order.append((None, text, time.monotonic()))
        self._ready.set()
        if len(self._order) > self.max_items:
            self.overflowed = True
            return False
        return True

    async def take(self, limit: int = MAX_BATCH) -> list[str]:
        """Wait for at least one message; return up to ``limit`` in order."""
        return (await self.take_timed(limit))[0]

    async def take_timed(self, limit: int = MAX_BATCH) -> tuple[list[str], float]:
        """Like ``take``, with the monotonic time the oldest of them was queued."""
        while not self._order:
            self._ready.clear()
            await self._ready.wait()
        out: list[str] = []
        oldest = self._order[0][2]
        while self._order and len(out) < limit:
            key, text, _ = self._order.popleft()
            out.append(self._latest.pop(key) if key is not None else text)  # type: ignore[arg-type]
        return out, oldest


def frame(texts: list[str]) -> str:
    """One websocket frame: the message itself, or a JSON array when several are sent together."""
    return texts[0] if len(texts) == 1 else "[" + ",".join(texts) + "]"
