"""The Redis message bus: streams with consumer groups for events that must not be lost,
pub/sub for live fan-out. Every message is one msgpack envelope (see ``envelope``)."""

from backend.bus.envelope import Envelope, decode, encode
from backend.bus.redis_bus import Bus, StreamEntry

__all__ = ["Bus", "Envelope", "StreamEntry", "decode", "encode"]
