"""The native wire protocol: length-prefixed msgpack frames, arrays out of band.

A frame is a 4-byte big-endian length followed by one msgpack map:

    {"t": "hello", "v": 1, ...}             handshake, both ways; version must match
    {"t": "call", "id": n, "op": name, "body": tree, "want"?: "tree", "rid"?: str}
                                            want: the result as a tree (default: the response as JSON);
                                            rid: the request id the call serves
    {"t": "ok", "id": n, "json": bytes}      the response model as JSON bytes
    {"t": "ok", "id": n, "body": tree}       raw result tree (transport-level calls)
    {"t": "err", "id": n, "problem": {...}}  the same problem-JSON an HTTP engine gives
    {"t": "ping", "id": n} / {"t": "pong", "id": n}
    {"t": "health", "id": n} / {"t": "metrics", "id": n}   answered with {"t": "ok", "id": n, "body": tree}
    {"t": "release", "regions": [[segment, offset], ...]}   client is done with result arrays

Inside a tree, a numpy array travels as a msgpack extension: ``EXT_SHM`` carries only
(segment, offset, dtype, shape) of an array placed in shared memory; ``EXT_INLINE``
carries dtype, shape and the raw bytes.
"""

from __future__ import annotations

import datetime as dt
import enum
import struct
from collections.abc import Callable
from typing import Any

import msgpack
import numpy as np

PROTOCOL_VERSION = 1
HEADER = struct.Struct(">I")
#: Largest frame accepted (bytes). Arrays above the shared-memory threshold never count here.
MAX_FRAME_BYTES = 512 * 1024 * 1024
EXT_SHM = 1
EXT_INLINE = 2
_ALLOWED_DTYPES = {"<f8", "<f4", "<i8", "<i4", "|b1", "<u8", "<u4", "|u1", "|i1", "<i2", "<u2", "<f2"}


class FrameError(ValueError):
    """A malformed or oversized frame: the connection is closed."""


def _check_dtype(dtype: str) -> np.dtype:
    if dtype not in _ALLOWED_DTYPES:
        raise FrameError(f"array dtype {dtype!r} not allowed")
    return np.dtype(dtype)


def make_packer(place: Callable[[np.ndarray], tuple[str, int] | None] | None = None) -> Callable[[Any], bytes]:
    """Return ``pack(obj) -> frame bytes``. ``place(arr)`` may put an array in shared memory
    and return (segment, offset); returning None sends it inline."""

    def default(obj: Any) -> Any:
        if isinstance(obj, np.ndarray):
            arr = obj if obj.dtype.byteorder in "<|=" else obj.astype(obj.dtype.newbyteorder("<"))
            dtype = arr.dtype.str
            _check_dtype(dtype)
            ref = place(arr) if place is not None else None
            if ref is not None:
                return msgpack.ExtType(EXT_SHM, msgpack.packb([ref[0], ref[1], dtype, list(arr.shape)]))
            raw = np.ascontiguousarray(arr).tobytes()
            return msgpack.ExtType(EXT_INLINE, msgpack.packb([dtype, list(arr.shape), raw]))
        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, dt.datetime | dt.date):  # model_dump() trees keep these as objects
            return obj.isoformat()
        if isinstance(obj, enum.Enum):
            return obj.value
        raise TypeError(f"cannot send {type(obj).__name__} over the native protocol")

    packer = msgpack.Packer(default=default, use_bin_type=True)

    def pack(obj: Any) -> bytes:
        body = packer.pack(obj)
        if len(body) > MAX_FRAME_BYTES:
            raise FrameError(f"frame of {len(body)} bytes exceeds {MAX_FRAME_BYTES}")
        return HEADER.pack(len(body)) + body

    return pack


def make_unpacker(resolve: Callable[[str, int, np.dtype, tuple[int, ...]], np.ndarray] | None = None
                  ) -> Callable[[bytes], Any]:
    """Return ``unpack(payload) -> obj``; ``resolve`` maps a shared-memory reference to a view."""

    def ext_hook(code: int, data: bytes) -> Any:
        if code == EXT_INLINE:
            dtype, shape, raw = msgpack.unpackb(data)
            dt = _check_dtype(dtype)
            shape = tuple(int(s) for s in shape)
            if int(np.prod(shape, dtype=np.int64)) * dt.itemsize != len(raw):
                raise FrameError("inline array size does not match its shape")
            return np.frombuffer(raw, dtype=dt).reshape(shape)
        if code == EXT_SHM:
            if resolve is None:
                raise FrameError("shared-memory array received where none is accepted")
            segment, offset, dtype, shape = msgpack.unpackb(data)
            return resolve(str(segment), int(offset), _check_dtype(dtype), tuple(int(s) for s in shape))
        raise FrameError(f"unknown extension type {code}")

    def unpack(payload: bytes) -> Any:
        try:
            return msgpack.unpackb(payload, ext_hook=ext_hook, raw=False, strict_map_key=False)
        except FrameError:
            raise
        except Exception as e:  # noqa: BLE001 - any decoding failure is a protocol error
            raise FrameError(f"undecodable frame: {type(e).__name__}: {e}") from e

    return unpack


async def read_frame(reader: Any) -> bytes:
    """Read one frame's payload from an asyncio StreamReader; raises IncompleteReadError at EOF."""
    header = await reader.readexactly(HEADER.size)
    (length,) = HEADER.unpack(header)
    if length > MAX_FRAME_BYTES:
        raise FrameError(f"frame of {length} bytes exceeds {MAX_FRAME_BYTES}")
    return await reader.readexactly(length)
