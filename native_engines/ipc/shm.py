"""Shared memory for arrays: an owner's reusable pool, and a peer's attach-only cache.

``ShmPool`` is owned by exactly one process, which alone creates and unlinks its segments.
It keeps at most one idle segment of the default size; a segment made for one oversize array,
or any further idle one, is unlinked as soon as it is free again, so a single large call does
not leave hundreds of MB of /dev/shm behind. Segments are named
``nautilus-<instance>-<role>-<pid>-<n>``: the instance id lets the stop script remove them, the
pid lets the next start tell a dead owner's (stale) segment from a live one. Blocks are
allocated first-fit with 64-byte alignment and freed when the call that used them completes,
so one pool serves every request.

``Attached`` maps a peer's segments without taking ownership: before Python 3.13 merely
attaching registers the segment with the resource tracker, which would unlink it when
the attaching process exits, so it is unregistered at once (as vLLM does). ``sweep`` unmaps
segments their owner has unlinked.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from multiprocessing import resource_tracker
from multiprocessing.shared_memory import SharedMemory
from pathlib import Path

import numpy as np

ALIGN = 64
DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024
#: Arrays at least this large travel through shared memory, both ways (smaller ones inline).
SHM_THRESHOLD_BYTES = 64 * 1024
#: Ceiling on one pool's total shared memory; arrays beyond it travel inline.
DEFAULT_POOL_LIMIT_BYTES = 4 * 1024 * 1024 * 1024
NAME_RE = re.compile(r"^nautilus-[A-Za-z0-9_.-]+-[a-z]+-(\d+)-\d+$")  # instance ids may hold "-"


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


class _Segment:
    def __init__(self, name: str, size: int) -> None:
        self.shm = SharedMemory(name=name, create=True, size=size)
        self.name = name
        self.size = size
        self.free: list[tuple[int, int]] = [(0, size)]  # (offset, length), sorted by offset

    def alloc(self, n: int) -> int | None:
        for i, (off, length) in enumerate(self.free):
            if length >= n:
                if length == n:
                    del self.free[i]
                else:
                    self.free[i] = (off + n, length - n)
                return off
        return None

    def release(self, off: int, n: int) -> None:
        self.free.append((off, n))
        self.free.sort()
        merged: list[tuple[int, int]] = []
        for o, length in self.free:
            if merged and merged[-1][0] + merged[-1][1] == o:
                merged[-1] = (merged[-1][0], merged[-1][1] + length)
            else:
                merged.append((o, length))
        self.free = merged


class ShmPool:
    """A reusable pool of shared-memory segments owned by this process."""

    def __init__(self, instance: str, role: str, *, segment_bytes: int = DEFAULT_SEGMENT_BYTES,
                 limit_bytes: int = DEFAULT_POOL_LIMIT_BYTES) -> None:
        self.prefix = f"nautilus-{instance}-{role}-{os.getpid()}"
        self.segment_bytes = segment_bytes
        self.limit_bytes = limit_bytes
        self.segments: dict[str, _Segment] = {}
        self.allocated: dict[tuple[str, int], int] = {}
        self._counter = 0

    @property
    def total_bytes(self) -> int:
        return sum(s.size for s in self.segments.values())

    def place(self, arr: np.ndarray) -> tuple[str, int] | None:
        """Copy ``arr`` into the pool; returns (segment, offset) or None when the pool is full."""
        n = _align(max(arr.nbytes, 1))
        for seg in self.segments.values():
            off = seg.alloc(n)
            if off is not None:
                break
        else:
            size = max(self.segment_bytes, n)
            if self.total_bytes + size > self.limit_bytes:
                return None
            self._counter += 1
            seg = _Segment(f"{self.prefix}-{self._counter}", size)
            self.segments[seg.name] = seg
            off = seg.alloc(n)
            assert off is not None
        view = np.ndarray(arr.shape, dtype=arr.dtype, buffer=seg.shm.buf, offset=off)
        np.copyto(view, arr, casting="no")
        self.allocated[(seg.name, off)] = n
        return seg.name, off

    def free(self, segment: str, offset: int) -> None:
        n = self.allocated.pop((segment, offset), None)
        seg = self.segments.get(segment)
        if n is None or seg is None:
            return
        seg.release(offset, n)
        if seg.free == [(0, seg.size)]:
            idle = [s for s in self.segments.values() if s.free == [(0, s.size)]]
            if seg.size > self.segment_bytes or len(idle) > 1:
                self._unlink(seg)

    def _unlink(self, seg: _Segment) -> None:
        del self.segments[seg.name]
        try:
            seg.shm.close()
        except BufferError:
            pass  # a view is still alive; the name goes now, the pages when the view does
        try:
            seg.shm.unlink()
        except FileNotFoundError:
            pass

    def close(self) -> None:
        """Unlink every segment (the owner's duty; idempotent)."""
        for seg in self.segments.values():
            try:
                seg.shm.close()
            except BufferError:
                pass  # a view is still alive; unlinking below still frees the name
            try:
                seg.shm.unlink()
            except FileNotFoundError:
                pass
        self.segments.clear()
        self.allocated.clear()


class Attached:
    """Segments of a peer, mapped read/write without ownership."""

    def __init__(self, allowed_prefix: str = "nautilus-") -> None:
        self.allowed_prefix = allowed_prefix
        self.maps: dict[str, SharedMemory] = {}

    def view(self, segment: str, offset: int, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
        if not segment.startswith(self.allowed_prefix) or not NAME_RE.match(segment):
            raise ValueError(f"segment name {segment!r} not accepted")
        shm = self.maps.get(segment)
        if shm is None:
            self.sweep()
            shm = _attach(segment)
            self.maps[segment] = shm
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if offset < 0 or offset + nbytes > shm.size:
            raise ValueError(f"array [{offset}, {offset + nbytes}) outside segment {segment} of {shm.size} bytes")
        return np.ndarray(shape, dtype=dtype, buffer=shm.buf, offset=offset)

    def sweep(self, shm_dir: Path = Path("/dev/shm")) -> int:
        """Unmap segments their owner has unlinked (their pages are freed once nobody maps them).
        Returns how many were dropped; one still viewed by a live array is kept for a later sweep."""
        dropped = 0
        for name, shm in list(self.maps.items()):
            if shm_dir.is_dir() and not (shm_dir / name).exists():
                try:
                    shm.close()
                except BufferError:
                    continue
                del self.maps[name]
                dropped += 1
        return dropped

    def close(self) -> None:
        for shm in self.maps.values():
            try:
                shm.close()
            except BufferError:
                pass
        self.maps.clear()


def _attach(name: str) -> SharedMemory:
    if sys.version_info >= (3, 13):
        return SharedMemory(name=name, create=False, track=False)  # type: ignore[call-arg]
    shm = SharedMemory(name=name, create=False)
    resource_tracker.unregister(shm._name, "shared_memory")  # type: ignore[attr-defined]
    return shm


def stale_segments(instance: str, shm_dir: Path = Path("/dev/shm")) -> list[Path]:
    """Segments of this instance whose owner process is gone."""
    out = []
    if not shm_dir.is_dir():
        return out
    for path in shm_dir.glob(f"nautilus-{instance}-*"):
        m = NAME_RE.match(path.name)
        if m is None:
            continue
        try:
            os.kill(int(m.group(1)), 0)
        except ProcessLookupError:
            out.append(path)
        except PermissionError:
            pass
    return out


def reclaim(instance: str, pid: int, shm_dir: Path = Path("/dev/shm")) -> list[str]:
    """Unlink the segments of this instance that process ``pid`` owned (it has exited: its supervisor
    calls this). Peers still mapping one keep its pages until their next sweep unmaps it."""
    removed = []
    if not shm_dir.is_dir():
        return removed
    for path in shm_dir.glob(f"nautilus-{instance}-*-{pid}-*"):
        m = NAME_RE.match(path.name)
        if m is None or int(m.group(1)) != pid:
            continue
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path.name)
    return removed
