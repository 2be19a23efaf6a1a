"""A schedule in plain English: "At 19:30, every day"."""

from __future__ import annotations

from collections.abc import Callable

from provisioner.settings.cron.schedule import Schedule

_WEEKDAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_MAX_LISTED_TIMES = 6


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _ranges(values: frozenset[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for v in sorted(values):
        if out and v == out[-1][1] + 1:
            out[-1] = (out[-1][0], v)
        else:
            out.append((v, v))
    return out


def _list_ranges(values: frozenset[int], fmt: Callable[[int], str]) -> str:
    parts: list[str] = []
    for lo, hi in _ranges(values):
        if lo == hi:
            parts.append(fmt(lo))
        elif hi == lo + 1:
            parts.extend([fmt(lo), fmt(hi)])
        else:
            parts.append(f"{fmt(lo)} through {fmt(hi)}")
    return _join(parts)


def _time_part(schedule: Schedule) -> str:
    times = schedule.times_of_day()
    if len(times) <= _MAX_LISTED_TIMES:
        return "At " + _join([f"{t // 60:02d}:{t % 60:02d}" for t in times])
    minutes = _list_ranges(schedule.minutes, str)
    minute_word = "minute" if len(schedule.minutes) == 1 else "minutes"
    if len(schedule.hours) == 24:
        return f"At {minute_word} {minutes} past every hour"
    hours = _list_ranges(schedule.hours, lambda h: f"{h:02d}:00")
    return f"At {minute_word} {minutes} past the hours {hours}"


def _day_part(schedule: Schedule) -> str:
    full_dom = len(schedule.days_of_month) == 31
    full_dow = len(schedule.days_of_week) == 7
    dom_text = "day-of-month " + _list_ranges(schedule.days_of_month, str)
    dow_text = _list_ranges(schedule.days_of_week, lambda d: _WEEKDAYS[d])
    if schedule.day_or:
        days = f"on {dom_text} or on {dow_text}"
    elif full_dom and full_dow:
        days = "every day"
    elif full_dom:
        days = f"on {dow_text}"
    elif full_dow:
        days = f"on {dom_text}"
    else:
        days = f"on {dom_text} if it is a {dow_text}"
    if len(schedule.months) < 12:
        days += " in " + _list_ranges(schedule.months, lambda m: _MONTHS[m - 1])
    return days


def describe(schedule: Schedule) -> str:
    """E.g. ``At 19:30, every day``; ``At 00:00, on day-of-month 1 or on Monday in January``."""
    return f"{_time_part(schedule)}, {_day_part(schedule)}"
