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
from datetime import date, timedelta
from itertools import pairwise

from provisioner.cron.schedule import _MAX_MONTH_LENGTH, Schedule, fires_ever

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


def _date_pairs(months: frozenset[int]) -> list[tuple[int, int]]:
    """(day of month, next day's day of month) for every pair of consecutive dates in the months."""
    pairs: list[tuple[int, int]] = []
    for month in sorted(months):
        longest = _MAX_MONTH_LENGTH[month]
        pairs.extend((d, d + 1) for d in range(1, longest))
        if month % 12 + 1 in months:
            # last day of the month -> the 1st of the next month (Feb: 28 in common, 29 in leap years)
            pairs.append((longest, 1))
            if month == 2:
                pairs.append((28, 1))
    return pairs


def adjacent_firing_days(schedule: Schedule) -> bool:
    """Exact: do two consecutive calendar days both fire, in some year?"""
    doms, dows = schedule.days_of_month, schedule.days_of_week
    adjacent_weekdays = any((w + 1) % 7 in dows for w in dows)
    pairs = _date_pairs(schedule.months)
    if schedule.day_or:
        # (dom1 in D or w in W) and (dom2 in D or w+1 in W), for some weekday w; W is never empty.
        return any(a in doms or b in doms for a, b in pairs) or (adjacent_weekdays and bool(pairs))
    return adjacent_weekdays and any(a in doms and b in doms for a, b in pairs)


def _firing_days_of_year(schedule: Schedule, year: int) -> list[int]:
    start = date(year, 1, 1)
    length = 366 if calendar.isleap(year) else 365
    return [n for n in range(length) if schedule.fires_on(start + timedelta(days=n))]


def min_firing_day_gap(schedule: Schedule) -> int:
    """Exact smallest distance in days between consecutive firing days (schedule must fire)."""
    # The calendar repeats every 400 years; a year's firing days depend only on its kind
    # (weekday of Jan 1, leap or not), so compute each kind once.
    by_kind: dict[tuple[int, bool], list[int]] = {}
    best: int | None = None
    previous: int | None = None  # absolute day number of the last firing day seen
    offset = 0
    base = 2000
    for year in range(base, base + _GREGORIAN_CYCLE_YEARS + 1):
        kind = (date(year, 1, 1).weekday(), calendar.isleap(year))
        days = by_kind.get(kind)
        if days is None:
            days = by_kind[kind] = _firing_days_of_year(schedule, year)
            gaps = [b - a for a, b in pairwise(days)]
            if gaps:
                best = min(gaps) if best is None else min(best, *gaps)
        if days:
            if previous is not None:
                gap = offset + days[0] - previous
                best = gap if best is None else min(best, gap)
            previous = offset + days[-1]
        offset += 366 if kind[1] else 365
        if best == 1:
            break
    if best is None:  # pragma: no cover - fires_ever() guarantees runs within any 400 years
        raise ValueError("schedule never fires")
    return best
