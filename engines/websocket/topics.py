"""The topic families a websocket client may subscribe to: one table (docs/streams.md describes each).

A family is a topic prefix with the scope a key needs to subscribe to it, the bus source it comes
from, and its slow-consumer policy:

* ``conflate``: only the latest message per topic is kept for a client that is behind (quotes);
  every other family is never dropped: a client that falls ``SendQueue.max_items`` behind is
  disconnected (close 4008) and resumes from the stream where the family is durable.
* ``source``: ``pubsub`` (live fan-out channels, one pattern subscription per process) or a stream
  (read once per process with XREAD; resumable by entry id).

A subscription pattern is a glob over topics (``*`` any characters, ``?`` one) and must name its
family by a literal prefix (``data.quotes.*``, ``events.order.*``; ``*`` alone is refused), so that
the scope check is made once, at subscribe time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from backend.bus.streams import EVENTS_TRADING
from backend.core.scopes import Scope

PUBSUB = "pubsub"
MAX_PATTERNS = 64
MAX_PATTERN_CHARS = 200
_PATTERN = re.compile(r"^[A-Za-z0-9_.:\-*?]+$")


@dataclass(frozen=True)
class Family:
    name: str
    prefix: str  # topics of the family start with this (ends with '.')
    scope: Scope
    source: str  # PUBSUB or a stream name
    conflate: bool = False
    #: Whether the payload's ``account_id`` limits who sees it (keys limited to some accounts).
    per_account: bool = False


FAMILIES: tuple[Family, ...] = (
    Family("quotes", "data.quotes.", Scope.READ, PUBSUB, conflate=True),
    Family("trades", "data.trades.", Scope.READ, PUBSUB),
    Family("bars", "data.bars.", Scope.READ, PUBSUB),
    Family("orders", "events.order.", Scope.TRADE, EVENTS_TRADING, per_account=True),
    Family("fills", "events.fill.", Scope.TRADE, EVENTS_TRADING, per_account=True),
    Family("positions", "events.position.", Scope.TRADE, EVENTS_TRADING, per_account=True),
    Family("risk", "events.risk.", Scope.RISK_ADMIN, PUBSUB),
    Family("jobs", "events.job.", Scope.COMPUTE, PUBSUB),
    Family("health", "health.", Scope.READ, PUBSUB),
    Family("notifications", "notifications.", Scope.READ, PUBSUB),
)
#: Streams the hub reads (XREAD, one reader per process); everything else arrives by pub/sub.
STREAM_SOURCES: tuple[str, ...] = tuple(sorted({f.source for f in FAMILIES if f.source != PUBSUB}))


def family_of_topic(topic: str) -> Family | None:
    for f in FAMILIES:
        if topic.startswith(f.prefix):
            return f
    return None


def family_of_pattern(pattern: str) -> Family | None:
    """The family a pattern subscribes to: its literal part (before any wildcard) must name one."""
    literal = re.split(r"[*?]", pattern, maxsplit=1)[0]
    for f in FAMILIES:
        if literal.startswith(f.prefix) or (literal == f.prefix[:-1] and len(literal) < len(pattern)
                                            and pattern[len(literal)] == "*"):
            # "data.quotes*" is data.quotes.* too; "data.quote*" names no family
            return f
    return None


def check_pattern(pattern: object) -> tuple[str, Family] | str:
    """(pattern, family), or the reason it is refused."""
    if not isinstance(pattern, str) or not 0 < len(pattern) <= MAX_PATTERN_CHARS:
        return f"a topic pattern must be a string of 1..{MAX_PATTERN_CHARS} characters"
    if not _PATTERN.match(pattern):
        return f"topic pattern {pattern[:60]!r} may hold letters, digits, '._:-' and the wildcards '*' '?'"
    fam = family_of_pattern(pattern)
    if fam is None:
        known = ", ".join(f.prefix + "*" for f in FAMILIES)
        return f"unknown topic {pattern[:60]!r}: a pattern must start with one of {known}"
    return pattern, fam


def glob_regex(patterns: list[str]) -> re.Pattern[str]:
    """One regex matching any of the glob patterns (``*`` any run of characters, ``?`` one)."""
    parts = [re.escape(p).replace(r"\*", ".*").replace(r"\?", ".") for p in patterns]
    return re.compile("(?:" + "|".join(parts) + r")\Z")
