from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings

from provisioner.settings.cron import Schedule, describe, jenkins_spec_lines, parse_schedule
from tests.settings.cron.cron_strategies import GeneratedSchedule, schedules


def jenkins_day_fires(s: Schedule, day: date) -> bool:
    """Jenkins's CronTab.check: every field must match (day of month AND day of week)."""
    return day.month in s.months and day.day in s.days_of_month and day.isoweekday() % 7 in s.days_of_week


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        ("30 19 * * *", ["30 19 * * *"]),
        ("@daily", ["0 0 * * *"]),
        ("@hourly", ["0 * * * *"]),
        ("@weekly", ["0 0 * * 0"]),
        ("@monthly", ["0 0 1 * *"]),
        ("@yearly", ["0 0 1 1 *"]),
        ("30 19 1 * 1", ["30 19 1 * *", "30 19 * * 1"]),
        ("0 12 1,15 1-6 1-5", ["0 12 1,15 1-6 *", "0 12 * 1-6 1-5"]),
        ("0 0 */2 * 1", ["0 0 */2 * 1"]),  # dom starts with '*': AND in both crons
        ("0\t0  *\t* 7", ["0 0 * * 7"]),
    ],
)
def test_spec_lines(text: str, lines: list[str]) -> None:
    assert jenkins_spec_lines(parse_schedule(text)) == lines
    for line in lines:
        assert "H" not in line and "@" not in line and "\n" not in line


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(schedules())
def test_union_of_lines_equals_vixie_runs(g: GeneratedSchedule) -> None:
    s = parse_schedule(g.text)
    lines = [parse_schedule(line) for line in jenkins_spec_lines(s)]
    for ls in lines:
        assert (ls.minutes, ls.hours) == (s.minutes, s.hours)
    day = date(2027, 1, 1)
    while day < date(2033, 1, 1):  # six years: every weekday on every date, a leap year
        assert any(jenkins_day_fires(line, day) for line in lines) == g.day_fires(day), (g.text, day)
        day += timedelta(days=1)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("30 19 * * *", "At 19:30, every day"),
        ("@daily", "At 00:00, every day"),
        ("0 0,12 * * *", "At 00:00 and 12:00, every day"),
        ("0 * * * *", "At minute 0 past every hour, every day"),
        (
            "15 */2 * * *",
            "At minute 15 past the hours 00:00, 02:00, 04:00, 06:00, 08:00, 10:00, 12:00, 14:00, "
            "16:00, 18:00, 20:00 and 22:00, every day",
        ),
        ("0 3 * * 1-5", "At 03:00, on Monday through Friday"),
        ("0 3 * * 6,0", "At 03:00, on Sunday and Saturday"),
        ("30 19 1 * 1", "At 19:30, on day-of-month 1 or on Monday"),
        ("0 0 1 1 *", "At 00:00, on day-of-month 1 in January"),
        ("0 0 */15 * 1", "At 00:00, on day-of-month 1, 16 and 31 if it is a Monday"),
        ("0 4 * 6-8 *", "At 04:00, every day in June through August"),
    ],
)
def test_describe(text: str, words: str) -> None:
    assert describe(parse_schedule(text)) == words
