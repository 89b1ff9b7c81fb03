"""schemathesis hooks for scripts/fuzz.py (loaded through SCHEMATHESIS_HOOKS): every operation also
takes application/msgpack bodies (backend/service/routes.py), which schemathesis cannot serialise by
itself; generated values are packed as plain msgpack, as a client without typed arrays would send them.
msgpack has no integer beyond 64 bits: such a generated integer (the coverage phase's out-of-range
values) is sent as a float, which the API must refuse as it refuses the integer in JSON."""

import msgpack
import schemathesis

_LOW, _HIGH = -(2**63), 2**64 - 1


def _packable(v):  # noqa: ANN001, ANN202
    if isinstance(v, bool):
        return v
    if isinstance(v, int) and not _LOW <= v <= _HIGH:
        return float(v)
    if isinstance(v, dict):
        return {k: _packable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_packable(x) for x in v]
    return v


@schemathesis.serializer("application/msgpack")
def to_msgpack(ctx, value):  # noqa: ANN001, ANN201 - schemathesis' serializer signature
    return msgpack.packb(_packable(value), use_bin_type=True)
