"""Exact minimum gap between consecutive runs of a schedule, on the naive wall clock.

Every firing day fires at the same times of day, so the gap is either a gap inside a day (from the
sorted times of day) or the gap from the last run of one firing day to the first run of the next
one, ``k * 1440 - last + first`` where ``k`` is the smallest distance between two firing days.
Whether two consecutive calendar days can both fire is decided from the (month, day) pairs alone:
every existing date falls on each weekday in some year, Feb 29 included, so the weekday of a given
date pair is free. Only when ``k > 1`` matters (one run a day and no two adjacent firing days) do we
scan the 14 kinds of Gregorian year, which is exact and still takes only milliseconds.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from itertools import pairwise

from provisioner.settings.cron.schedule import _MAX_MONTH_LENGTH, Schedule, fires_ever

MINUTES_PER_DAY = 1440
_GREGORIAN_CYCLE_YEARS = 400


def min_interval_minutes(schedule: Schedule) -> int | None:
    """The smallest number of minutes between two consecutive runs; None if it never fires."""
    if not fires_ever(schedule):
        return None
    times = schedule.times_of_day()
    within = min((b - a for a, b in pairwise(times)), default=None)
    wrap = MINUTES_PER_DAY - times[-1] + times[0]
    if within is not None and within <= wrap:
        return within
    day_gap = 1 if adjacent_firing_days(schedule) else min_firing_day_gap(schedule)
    across = day_gap * MINUTES_PER_DAY - times[-1] + times[0]
    return across if within is None else min(within, across)


def _date_pairs(months: frozenset[int]) -> Iterator[tuple[int, int]]:
    """(day of month, next day's day of month) for every pair of consecutive dates in the months."""
    for month in sorted(months):
        longest = _MAX_MONTH_LENGTH[month]
        yield from ((d, d + 1) for d in range(1, longest))
        if month % 12 + 1 in months:
            # last day of the month -> the 1st of the next month (Feb: 28 in common, 29 in leap years)
            yield (longest, 1)
            if month == 2:
                yield (28, 1)


def adjacent_firing_days(schedule: Schedule) -> bool:
    """Exact: do two consecutive calendar days both fire, in some year?"""
    doms, dows = schedule.days_of_month, schedule.days_of_week
    adjacent_weekdays = any((w + 1) % 7 in dows for w in dows)
    if schedule.day_or:
        # (dom1 in D or w in W) and (dom2 in D or w+1 in W), for some weekday w; W is never empty,
        # and every month holds consecutive dates.
        return adjacent_weekdays or any(a in doms or b in doms for a, b in _date_pairs(schedule.months))
    return adjacent_weekdays and any(a in doms and b in doms for a, b in _date_pairs(schedule.months))


_MONTH_LENGTHS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _firing_days_of_year(schedule: Schedule, leap: bool, jan1_weekday: int) -> list[int]:
    """Sorted 0-based days of the year that fire, for a year of this kind (weekday: 0 = Sunday)."""
    length = 366 if leap else 365
    month_days: dict[int, range] = {}
    start = 0
    for month, days in enumerate(_MONTH_LENGTHS, start=1):
        days += 1 if leap and month == 2 else 0
        month_days[month] = range(start, start + days)
        start += days
    in_months: set[int] = set()
    for month in schedule.months:
        in_months.update(month_days[month])
    by_dom = {
        month_days[m][d - 1]
        for m in schedule.months
        for d in schedule.days_of_month
        if d <= len(month_days[m])
    }
    by_dow = {n for w in schedule.days_of_week for n in range((w - jan1_weekday) % 7, length, 7)} & in_months
    return sorted(by_dom | by_dow if schedule.day_or else by_dom & by_dow)


def min_firing_day_gap(schedule: Schedule) -> int:
    """Exact smallest distance in days between consecutive firing days (schedule must fire)."""
    weekdays = sorted(schedule.days_of_week)
    if not schedule.day_or and len(schedule.months) == 12 and len(schedule.days_of_month) == 31:
        # only the day of week restricts: the smallest cyclic gap between the weekdays
        return min((b - a) % 7 or 7 for a, b in zip(weekdays, weekdays[1:] + weekdays[:1], strict=True))
    # The Gregorian calendar repeats every 400 years; a year's firing days depend only on its kind
    # (leap or not, and the weekday of Jan 1 unless weekdays do not matter), so compute each kind once.
    weekday_free = not schedule.day_or and len(weekdays) == 7
    # Without weekdays only leap years matter: 2000-2009 holds every pair of consecutive year kinds
    # (common->common, common->leap, leap->common) and the 4-year gap between leap days, which is the
    # smallest gap a leap-day-only schedule can have.
    years = 10 if weekday_free else _GREGORIAN_CYCLE_YEARS + 1
    by_kind: dict[tuple[bool, int], list[int]] = {}
    best: int | None = None
    previous: int | None = None  # day number of the last firing day seen
    offset = 0
    jan1 = 6  # 2000-01-01 was a Saturday
    for year in range(2000, 2000 + years):
        leap = calendar.isleap(year)
        kind = (leap, 0 if weekday_free else jan1)
        days = by_kind.get(kind)
        if days is None:
            days = by_kind[kind] = _firing_days_of_year(schedule, leap, jan1)
            gaps = [b - a for a, b in pairwise(days)]
            if gaps:
                best = min(gaps) if best is None else min(best, *gaps)
        if days:
            if previous is not None:
                gap = offset + days[0] - previous
                best = gap if best is None else min(best, gap)
            previous = offset + days[-1]
        length = 366 if leap else 365
        offset += length
        jan1 = (jan1 + length) % 7
        if best == 1:
            break
    if best is None:  # pragma: no cover - fires_ever() guarantees runs within any 400 years
        raise ValueError("schedule never fires")
    return best
