"""Every spec the renderer emits is valid Jenkins cron and fires exactly at the validator's next runs.

Jenkins side: the emulator's independent reimplementation of hudson.scheduler (fields ANDed per
line, lines ORed, wall clock of the TZ= zone, every real minute checked). Validator side:
provisioner.settings.cron.next_runs. Compared minute by minute over windows chosen around DST changes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioner.jobs.render import spec_text
from provisioner.settings.cron import next_runs, parse_schedule
from provisioner.settings.model import BackupSettings
from tests.jenkins_emulator import jenkins_spec_error, jenkins_spec_matches
from tests.settings.cron.cron_strategies import GeneratedSchedule, schedules

ZONES = [
    "Europe/Kyiv",
    "Europe/Kiev",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "UTC",
    "America/Sao_Paulo",
]
# Local midnights shortly before DST changes (and ordinary days), as UTC instants.
STARTS = [
    datetime(2026, 3, 28, 12, tzinfo=UTC),  # Europe: spring forward on 03-29
    datetime(2026, 10, 24, 12, tzinfo=UTC),  # Europe: fall back on 10-25
    datetime(2027, 3, 27, 12, tzinfo=UTC),
    datetime(2026, 3, 7, 12, tzinfo=UTC),  # US: 03-08
    datetime(2026, 10, 31, 12, tzinfo=UTC),  # US: 11-01
    datetime(2026, 4, 4, 6, tzinfo=UTC),  # Lord Howe: half-hour shift on 04-05
    datetime(2026, 6, 1, 0, tzinfo=UTC),  # a Monday the 1st
    datetime(2028, 2, 28, 0, tzinfo=UTC),  # leap day
]
WINDOW = timedelta(hours=36)


def jenkins_fires(spec: str, start: datetime, end: datetime) -> list[datetime]:
    fires = []
    minute = start.replace(second=0, microsecond=0)
    while minute < end:
        if jenkins_spec_matches(spec, minute):
            fires.append(minute)
        minute += timedelta(minutes=1)
    return fires


def validator_runs(schedule_text: str, zone: str, start: datetime, end: datetime) -> list[datetime]:
    schedule = parse_schedule(schedule_text)
    runs = next_runs(schedule, ZoneInfo(zone), start - timedelta(seconds=1), 200)
    return [r.astimezone(UTC) for r in runs if r < end]


def spec_for(schedule_text: str, zone: str) -> str:
    return spec_text(BackupSettings(enabled=True, schedule=schedule_text, expires_in_days=7, time_zone=zone))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
@given(
    g=schedules(sparse_times=True),
    zone=st.sampled_from(ZONES),
    start=st.sampled_from(STARTS),
    shift_days=st.integers(0, 40),
)
def test_generated_schedules_fire_exactly_at_next_runs(
    g: GeneratedSchedule, zone: str, start: datetime, shift_days: int
) -> None:
    spec = spec_for(g.text, zone)
    assert jenkins_spec_error(spec) is None, spec
    lines = spec.split("\n")
    assert lines[0] == f"TZ={zone}" and all(len(line.split()) == 5 for line in lines[1:])
    assert not any(c in line for line in lines[1:] for c in "@H?LW#")
    begin = start + timedelta(days=shift_days if shift_days > 30 else 0)
    assert jenkins_fires(spec, begin, begin + WINDOW) == validator_runs(g.text, zone, begin, begin + WINDOW)


@pytest.mark.parametrize(
    ("schedule", "zone", "start", "hours"),
    [
        ("30 3 * * *", "Europe/Kyiv", datetime(2027, 3, 27, 0, tzinfo=UTC), 72),  # gap: skipped on 03-28
        ("0 3 * * *", "Europe/Kyiv", datetime(2026, 10, 24, 12, tzinfo=UTC), 24),  # overlap: twice
        ("*/30 3 * * *", "Europe/Kyiv", datetime(2026, 10, 24, 12, tzinfo=UTC), 24),  # overlap: 4 runs
        ("0 12 1 * 1", "Europe/Kyiv", datetime(2026, 5, 31, 0, tzinfo=UTC), 24 * 10),  # dom OR dow
        ("@daily", "Europe/Kyiv", datetime(2026, 3, 28, 0, tzinfo=UTC), 48),
        ("@hourly", "America/New_York", datetime(2026, 11, 1, 3, tzinfo=UTC), 6),
        ("15 2 29 2 *", "UTC", datetime(2028, 2, 28, 0, tzinfo=UTC), 48),
    ],
)
def test_dst_and_day_rule_examples(schedule: str, zone: str, start: datetime, hours: int) -> None:
    spec = spec_for(schedule, zone)
    assert jenkins_spec_error(spec) is None
    end = start + timedelta(hours=hours)
    fires = jenkins_fires(spec, start, end)
    assert fires == validator_runs(schedule, zone, start, end)
    assert fires  # every example fires in its window


def test_facts_examples() -> None:
    gap = jenkins_fires(
        spec_for("30 3 * * *", "Europe/Kyiv"),
        datetime(2027, 3, 27, tzinfo=UTC),
        datetime(2027, 3, 30, tzinfo=UTC),
    )
    assert gap == [datetime(2027, 3, 27, 1, 30, tzinfo=UTC), datetime(2027, 3, 29, 0, 30, tzinfo=UTC)]
    overlap = jenkins_fires(
        spec_for("0 3 * * *", "Europe/Kyiv"),
        datetime(2026, 10, 24, 22, tzinfo=UTC),
        datetime(2026, 10, 25, 3, tzinfo=UTC),
    )
    assert overlap == [datetime(2026, 10, 25, 0, tzinfo=UTC), datetime(2026, 10, 25, 1, tzinfo=UTC)]
    dom_dow = spec_for("0 12 1 * 1", "Europe/Kyiv")
    assert dom_dow == "TZ=Europe/Kyiv\n0 12 1 * *\n0 12 * * 1"
