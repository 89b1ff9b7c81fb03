"""Bar timeframes: '1s'..'59s', '1m'..'59m', '1h'..'23h', '1d'. One parser, one table of units.

A timeframe names the bar's length; a bar's ``ts`` is the start of its interval
(UTC). Daily bars are stamped at 00:00 UTC of their trading date.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from backend.core.errors import InvalidInput

NS_PER_S = 1_000_000_000
_UNIT_NS = {"s": NS_PER_S, "m": 60 * NS_PER_S, "h": 3600 * NS_PER_S, "d": 86400 * NS_PER_S}
_UNIT_MAX = {"s": 59, "m": 59, "h": 23, "d": 1}
_PANDAS_UNIT = {"s": "s", "m": "min", "h": "h", "d": "D"}
TIMEFRAME_PATTERN = r"^[1-9][0-9]?[smhd]$"
_RE = re.compile(TIMEFRAME_PATTERN)


@dataclass(frozen=True)
class Timeframe:
    text: str
    count: int
    unit: str

    @property
    def ns(self) -> int:
        """Length of one bar in nanoseconds."""
        return self.count * _UNIT_NS[self.unit]

    @property
    def is_daily(self) -> bool:
        return self.unit == "d"

    @property
    def pandas_rule(self) -> str:
        return f"{self.count}{_PANDAS_UNIT[self.unit]}"


def parse_timeframe(text: str, field: str = "timeframe") -> Timeframe:
    """'5m' -> Timeframe(5, 'm'); anything else (0m, 2d, 90s) is InvalidInput naming ``field``."""
    if not isinstance(text, str) or not _RE.match(text):
        raise InvalidInput(f"timeframe {text!r} is not <n><s|m|h|d>, e.g. 1m, 5m, 1h, 1d", field=field)
    count, unit = int(text[:-1]), text[-1]
    if count > _UNIT_MAX[unit]:
        raise InvalidInput(f"timeframe {text!r}: at most {_UNIT_MAX[unit]}{unit}", field=field)
    return Timeframe(text, count, unit)


def check_resample(source: Timeframe, target: Timeframe, field: str = "resample_to") -> None:
    """A target must be a whole multiple of the source (1m -> 5m -> 1h -> 1d)."""
    if target.ns <= source.ns or target.ns % source.ns != 0:
        raise InvalidInput(
            f"cannot resample {source.text} bars to {target.text}: the target must be a larger whole multiple",
            field=field,
        )
    if not target.is_daily and (86400 * NS_PER_S) % target.ns != 0:
        raise InvalidInput(f"{target.text} does not divide a day into whole bars", field=field)
