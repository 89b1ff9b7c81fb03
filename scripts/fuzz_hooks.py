"""schemathesis hooks for scripts/fuzz.py (loaded through SCHEMATHESIS_HOOKS): every operation also
takes application/msgpack bodies (backend/service/routes.py), which schemathesis cannot serialise by
itself; generated values are packed as plain msgpack, as a client without typed arrays would send them."""

import msgpack
import schemathesis


@schemathesis.serializer("application/msgpack")
def to_msgpack(ctx, value):  # noqa: ANN001, ANN201 - schemathesis' serializer signature
    return msgpack.packb(value, use_bin_type=True)
