from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings

from provisioner.settings.cron import min_interval_minutes, parse_schedule
from provisioner.settings.cron.interval import adjacent_firing_days, min_firing_day_gap
from tests.settings.cron.cron_strategies import GeneratedSchedule, schedules

# 2000-2110 holds every kind of year and the 2100 non-leap century, so every gap of the 400-year
# Gregorian cycle that can be a minimum shows up in it.
_START, _END = date(2000, 1, 1), date(2110, 12, 31)


def brute_force_min_interval(g: GeneratedSchedule) -> int:
    """Walk every day of 2000-2110 on the naive wall clock (independent of provisioner.settings.cron).

    Every firing day fires at the same minutes, so the runs of one day are its sorted minutes and the
    gap to the next firing day runs from this day's last minute to that day's first one.
    """
    times = g.times()
    best = min((b - a for a, b in itertools.pairwise(times)), default=None)
    previous_last: int | None = None
    day, n = _START, 0
    while day <= _END:
        if g.day_fires(day):
            if previous_last is not None:
                gap = n * 1440 + times[0] - previous_last
                best = gap if best is None else min(best, gap)
            previous_last = n * 1440 + times[-1]
        day += timedelta(days=1)
        n += 1
    assert best is not None
    return best


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("0 * * * *", 60),
        ("*/30 * * * *", 30),
        ("0,30 * * * *", 30),
        ("0-5 * * * *", 1),
        ("* * * * *", 1),
        ("30 19 * * *", 1440),
        ("@hourly", 60),
        ("@daily", 1440),
        ("@weekly", 10080),
        ("0 0,23 * * *", 60),  # 23:00 then 00:00 the next day
        ("59 23 * * *", 1440),
        ("0 0,12 * * *", 720),
        ("0 23 * * 1", 10080),
        ("0 0,23 * * 1", 1380),  # Monday 00:00 -> 23:00; Tuesday does not fire
        ("0 0,23 * * 0,1", 60),  # Sunday 23:00 -> Monday 00:00
        ("0 0,23 * * 6,0", 60),  # Saturday 23:00 -> Sunday 00:00 (week wraps)
        ("0 0,23 31 * *", 1380),  # the 31st never follows the 31st
        ("0 0,23 31 12 *", 1380),
        ("0 0,23 1,31 12,1 *", 60),  # Dec 31 23:00 -> Jan 1 00:00
        ("0 0,23 1,31 1,2 *", 60),  # Jan 31 23:00 -> Feb 1 00:00
        ("0 0,23 1,28 2,3 *", 60),  # Feb 28 23:00 -> Mar 1 00:00 in common years
        ("0 0 29 2 *", 1461 * 1440),  # leap days: 4 years apart at best
        ("0 0 1 * *", 28 * 1440),  # Feb 1 -> Mar 1 in a common year
        ("0 0 31 * *", 31 * 1440),  # Jul 31 -> Aug 31, Dec 31 -> Jan 31
        ("0 12 1 * 1", 1440),  # vixie OR: Monday the 1st, Tuesday the 2nd... Monday then the 1st
    ],
)
def test_examples(text: str, minutes: int) -> None:
    s = parse_schedule(text)
    assert min_interval_minutes(s) == minutes


def test_leap_day_only_adjacency() -> None:
    # Feb 29 and Mar 1 are adjacent; Feb 28/Mar 1 too in common years
    assert adjacent_firing_days(parse_schedule("0 0 1,29 2,3 *"))
    assert not adjacent_firing_days(parse_schedule("0 0 29 2 *"))
    assert min_firing_day_gap(parse_schedule("0 0 29 2 *")) == 1461


def test_dom_or_dow_adjacency() -> None:
    # 15th OR Monday: a Monday the 14th precedes the 15th (OR), so adjacent days exist
    assert adjacent_firing_days(parse_schedule("0 0 15 * 1"))
    # */15 dom (starts with '*': AND) with Monday: days 1, 16, 31 that are Mondays: never adjacent
    s = parse_schedule("0 0 */15 * 1")
    assert not adjacent_firing_days(s)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow]
)
@given(schedules(sparse_times=True))
def test_agrees_with_brute_force_minute_walk_sparse(g: GeneratedSchedule) -> None:
    assert min_interval_minutes(parse_schedule(g.text)) == brute_force_min_interval(g)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow]
)
@given(schedules())
def test_agrees_with_brute_force_minute_walk(g: GeneratedSchedule) -> None:
    assert min_interval_minutes(parse_schedule(g.text)) == brute_force_min_interval(g)


def test_exhaustive_two_times_over_small_day_sets() -> None:
    """Every dom/dow pairing of a few values, hours 0 and 23: checks the cross-midnight rule exactly."""
    doms = ["*", "1", "28", "29", "30", "31", "1,31", "28,29", "*/15"]
    dows = ["*", "0", "6", "0,6", "1", "*/3"]
    months = ["*", "2", "2,3", "12,1", "1", "4,5"]
    for dom, dow, month in itertools.product(doms, dows, months):
        text = f"0 0,23 {dom} {month} {dow}"
        try:
            s = parse_schedule(text)
        except ValueError:
            continue
        g = GeneratedSchedule(
            text,
            (s.minutes, s.hours, s.days_of_month, s.months, s.days_of_week),
            dom.startswith("*"),
            dow.startswith("*"),
        )
        times = g.times()
        # brute force only the cross-midnight question over 2000-2110 (the within-day gap is 1380)
        day, prev_fires, adjacent = _START, False, False
        while day <= _END and not adjacent:
            fires = g.day_fires(day)
            adjacent = fires and prev_fires
            prev_fires = fires
            day += timedelta(days=1)
        expected = 60 if adjacent else 1380
        assert times == [0, 1380]
        assert min_interval_minutes(s) == expected, text
