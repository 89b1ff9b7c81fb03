"""The binary encoding of the public API: ``application/msgpack``, beside JSON (the default).

A body is one msgpack map with the same fields as the JSON body. Numbers in bulk may travel as
typed binary arrays: msgpack extension type 2 whose data is the msgpack array
``[dtype, shape, raw bytes]`` (dtype a numpy type string such as ``"<f8"``, shape a list of ints,
raw the C-ordered little-endian values) — the same extension the native socket uses for inline
arrays. A decoded array is a read-only view of the request body (no copy); models take float64
arrays as they are. Responses come back in msgpack when the request says
``Accept: application/msgpack``. Why msgpack and not Arrow IPC: request bodies here are trees (a
covariance next to positions and options), which Arrow does not model without a schema per
operation; msgpack carries any tree and arrays cost one memcpy-free view either way
(benchmarks/results/native.md has the figures). Problems are always problem-JSON.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import msgpack
import numpy as np

from backend.core.errors import InvalidInput

MEDIA_TYPE = "application/msgpack"
EXT_ARRAY = 2
#: dtypes an array may have on the wire (numbers only; little-endian or single-byte)
DTYPES = frozenset({"<f8", "<f4", "<i8", "<i4", "<i2", "|i1", "<u8", "<u4", "<u2", "|u1", "|b1"})


def _ext_hook(code: int, data: bytes) -> Any:
    if code != EXT_ARRAY:
        raise ValueError(f"unknown msgpack extension type {code} (arrays are type {EXT_ARRAY})")
    dtype, shape, raw = msgpack.unpackb(data)
    if dtype not in DTYPES:
        raise ValueError(f"array dtype {dtype!r} is not one of {sorted(DTYPES)}")
    shape = tuple(int(s) for s in shape)
    dt_ = np.dtype(dtype)
    if any(s < 0 for s in shape) or int(np.prod(shape, dtype=np.int64)) * dt_.itemsize != len(raw):
        raise ValueError(f"array of shape {list(shape)} and dtype {dtype} does not match its {len(raw)} bytes")
    return np.frombuffer(raw, dtype=dt_).reshape(shape)


def decode(body: bytes) -> Any:
    """A msgpack body -> a tree with numpy arrays; InvalidInput (field ``body``) if it is not one."""
    try:
        return msgpack.unpackb(body, ext_hook=_ext_hook, raw=False, strict_map_key=True)
    except Exception as e:  # noqa: BLE001 - any decoding failure is the client's malformed body
        raise InvalidInput(f"not a valid msgpack body: {type(e).__name__}: {e}"[:300], field="body") from None


def _default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        arr = obj if obj.dtype.byteorder in "<|=" else obj.astype(obj.dtype.newbyteorder("<"))
        arr = np.ascontiguousarray(arr)
        return msgpack.ExtType(EXT_ARRAY, msgpack.packb([arr.dtype.str, list(arr.shape), arr.tobytes()]))
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dt.datetime | dt.date):
        return obj.isoformat()
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    raise TypeError(f"cannot encode {type(obj).__name__} in msgpack")


_PACKER_OPTIONS = {"default": _default, "use_bin_type": True}


def encode(tree: Any) -> bytes:
    """A tree (e.g. ``model.model_dump()``, arrays kept) -> msgpack bytes, arrays as extension type 2."""
    return msgpack.packb(tree, **_PACKER_OPTIONS)


def wants_binary(accept: str | None) -> bool:
    """The client asked for msgpack responses."""
    return bool(accept) and MEDIA_TYPE in accept.lower()
