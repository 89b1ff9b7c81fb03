"""Quiet hours of a notification channel: a window in local time (possibly over midnight), bypassed from a priority."""

import datetime as dt

from engines.websocket.notify.channels import in_quiet_hours

NIGHT = {"start": "22:00:00", "end": "07:00:00", "timezone": "Europe/London", "unless_priority": "critical"}


def at(h: int, m: int = 0) -> dt.datetime:
    return dt.datetime(2026, 1, 15, h, m, tzinfo=dt.UTC)  # January: London is UTC+0


def test_quiet_hours_over_midnight_hold_lower_priorities_only() -> None:
    assert in_quiet_hours(NIGHT, "high", at(23)) and in_quiet_hours(NIGHT, "low", at(6, 59))
    assert not in_quiet_hours(NIGHT, "high", at(7)) and not in_quiet_hours(NIGHT, "high", at(12))
    assert not in_quiet_hours(NIGHT, "critical", at(23))
    assert not in_quiet_hours(None, "low", at(23))


def test_quiet_hours_in_the_recipients_time_zone() -> None:
    summer = dt.datetime(2026, 7, 15, 21, 30, tzinfo=dt.UTC)  # 22:30 in London (UTC+1)
    assert in_quiet_hours(NIGHT, "normal", summer)
    day = {"start": "09:00:00", "end": "17:00:00", "timezone": "America/New_York", "unless_priority": "high"}
    assert in_quiet_hours(day, "normal", at(15)) and not in_quiet_hours(day, "normal", at(13))  # 10:00 / 08:00 NY
    assert not in_quiet_hours(day, "high", at(15))
