from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioner.settings.cron import dst_warnings, local_instants, next_runs, parse_schedule, transitions
from tests.settings.cron.cron_strategies import GeneratedSchedule, schedules

KIEV = ZoneInfo("Europe/Kiev")


def iso(runs: list[datetime]) -> list[str]:
    return [r.isoformat() for r in runs]


def brute_force_runs(
    g: GeneratedSchedule, zone: ZoneInfo, after: datetime, count: int, days: int
) -> list[datetime]:
    """Jenkins's rule by brute force: every real UTC minute whose local wall clock matches."""
    minutes = set(g.times())
    t = after.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    end = t + timedelta(days=days)
    out: list[datetime] = []
    while t < end and len(out) < count:
        local = t.astimezone(zone)
        if local.hour * 60 + local.minute in minutes and g.day_fires(local.date()):
            out.append(local)
        t += timedelta(minutes=1)
    return out


def test_issue_example_daily_in_kiev() -> None:
    runs = next_runs(parse_schedule("30 19 * * *"), KIEV, datetime(2026, 11, 22, 10, tzinfo=UTC), 3)
    assert iso(runs) == [
        "2026-11-22T19:30:00+02:00",
        "2026-11-23T19:30:00+02:00",
        "2026-11-24T19:30:00+02:00",
    ]
    assert all(r.tzinfo is KIEV for r in runs)


def test_spring_forward_gap_skips_the_day() -> None:
    runs = next_runs(parse_schedule("30 3 * * *"), KIEV, datetime(2027, 3, 26, 12, tzinfo=UTC), 3)
    assert iso(runs) == [
        "2027-03-27T03:30:00+02:00",
        "2027-03-29T03:30:00+03:00",
        "2027-03-30T03:30:00+03:00",
    ]
    assert runs[0].astimezone(UTC) == datetime(2027, 3, 27, 1, 30, tzinfo=UTC)
    assert runs[1].astimezone(UTC) == datetime(2027, 3, 29, 0, 30, tzinfo=UTC)


def test_fall_back_overlap_runs_twice() -> None:
    runs = next_runs(parse_schedule("0 3 * * *"), KIEV, datetime(2026, 10, 24, 12, tzinfo=UTC), 3)
    assert iso(runs) == [
        "2026-10-25T03:00:00+03:00",
        "2026-10-25T03:00:00+02:00",
        "2026-10-26T03:00:00+02:00",
    ]
    assert [r.astimezone(UTC).hour for r in runs[:2]] == [0, 1]
    half = next_runs(parse_schedule("0,30 3 * * *"), KIEV, datetime(2026, 10, 24, 12, tzinfo=UTC), 4)
    assert iso(half) == [
        "2026-10-25T03:00:00+03:00",
        "2026-10-25T03:30:00+03:00",
        "2026-10-25T03:00:00+02:00",
        "2026-10-25T03:30:00+02:00",
    ]


def test_strictly_after() -> None:
    s = parse_schedule("30 19 * * *")
    at_run = datetime(2026, 11, 22, 17, 30, tzinfo=UTC)  # 19:30+02:00 exactly
    assert iso(next_runs(s, KIEV, at_run, 1)) == ["2026-11-23T19:30:00+02:00"]
    just_before = at_run - timedelta(microseconds=1)
    assert iso(next_runs(s, KIEV, just_before, 1)) == ["2026-11-22T19:30:00+02:00"]
    # the second 03:00 of the overlap is still ahead after the first one
    first = datetime(2026, 10, 25, 0, 0, tzinfo=UTC)
    assert iso(next_runs(parse_schedule("0 3 * * *"), KIEV, first, 1)) == ["2026-10-25T03:00:00+02:00"]


def test_after_in_another_zone_and_counts() -> None:
    s = parse_schedule("0 12 1 * 1")  # vixie OR: the 1st or a Monday
    after = datetime(2026, 1, 1, 0, 0, tzinfo=ZoneInfo("America/New_York"))
    runs = next_runs(s, KIEV, after, 4)
    assert [r.date().isoformat() for r in runs] == ["2026-01-01", "2026-01-05", "2026-01-12", "2026-01-19"]
    assert next_runs(s, KIEV, after, 0) == []
    assert len(next_runs(s, KIEV, after, 100)) == 100


def test_rare_schedule_and_end_of_calendar() -> None:
    s = parse_schedule("0 0 29 2 *")
    runs = next_runs(s, ZoneInfo("UTC"), datetime(2096, 3, 1, tzinfo=UTC), 2)
    assert iso(runs) == ["2104-02-29T00:00:00+00:00", "2108-02-29T00:00:00+00:00"]  # 2100 is not a leap year
    late = next_runs(parse_schedule("0 0 * * *"), ZoneInfo("UTC"), datetime(9999, 12, 29, tzinfo=UTC), 5)
    assert iso(late) == ["9999-12-30T00:00:00+00:00", "9999-12-31T00:00:00+00:00"]


def test_ends_of_the_calendar_do_not_crash() -> None:
    s = parse_schedule("0 0 * * *")
    far_east = timezone(timedelta(hours=14))
    assert next_runs(s, KIEV, datetime(1, 1, 1, tzinfo=far_east), 2) == []  # before the calendar: nothing
    early = next_runs(s, KIEV, datetime(1, 1, 2, tzinfo=UTC), 2)
    assert [r.date().isoformat() for r in early] == ["0001-01-03", "0001-01-04"]
    assert next_runs(s, KIEV, datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-12))), 2) == []
    assert dst_warnings(s, KIEV, datetime(9999, 12, 31, tzinfo=UTC)) == []
    assert dst_warnings(parse_schedule("0 3 * * *"), KIEV, datetime(1, 1, 2, tzinfo=UTC)) == []


def test_naive_after_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        next_runs(parse_schedule("0 0 * * *"), KIEV, datetime(2026, 1, 1), 1)


def test_local_instants() -> None:
    assert local_instants(datetime(2027, 3, 28, 3, 30), KIEV) == []
    both = local_instants(datetime(2026, 10, 25, 3, 0), KIEV)
    assert [b.isoformat() for b in both] == ["2026-10-25T03:00:00+03:00", "2026-10-25T03:00:00+02:00"]
    assert len(local_instants(datetime(2026, 7, 1, 3, 0), KIEV)) == 1


def test_transitions_of_kiev() -> None:
    found = transitions(KIEV, datetime(2026, 1, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC))
    assert [(t.instant.isoformat(), t.kind) for t in found] == [
        ("2026-03-29T01:00:00+00:00", "gap"),
        ("2026-10-25T01:00:00+00:00", "overlap"),
        ("2027-03-28T01:00:00+00:00", "gap"),
        ("2027-10-31T01:00:00+00:00", "overlap"),
    ]
    assert (found[0].start, found[0].end) == (datetime(2026, 3, 29, 3, 0), datetime(2026, 3, 29, 4, 0))
    assert (found[1].start, found[1].end) == (datetime(2026, 10, 25, 3, 0), datetime(2026, 10, 25, 4, 0))


def test_dst_warnings() -> None:
    now = datetime(2026, 11, 22, tzinfo=UTC)
    warnings = dst_warnings(parse_schedule("30 3 * * *"), KIEV, now)
    assert any("2027-03-28" in w and "does not happen" in w and "03:30" in w for w in warnings)
    assert any("2027-10-31" in w and "twice" in w for w in warnings)
    assert dst_warnings(parse_schedule("30 19 * * *"), KIEV, now) == []
    assert dst_warnings(parse_schedule("0 3 * * *"), ZoneInfo("UTC"), now) == []
    # only on days the schedule fires: 2027-03-28 is a Sunday
    sunday_only = dst_warnings(parse_schedule("30 3 * * 1"), KIEV, now)
    assert not any("2027-03-28" in w for w in sunday_only)


ZONES = [
    "Europe/Kiev",
    "America/New_York",
    "Australia/Lord_Howe",  # 30-minute shift
    "America/Havana",  # transitions at midnight
    "America/Santiago",  # transitions at midnight, southern hemisphere
    "Europe/Dublin",  # negative DST in tzdata
    "Pacific/Apia",  # skipped a whole day (2011-12-30)
    "Asia/Kolkata",
]
ANCHORS = [
    datetime(2026, 3, 28, 12, tzinfo=UTC),
    datetime(2026, 10, 24, 12, tzinfo=UTC),
    datetime(2026, 4, 4, 12, tzinfo=UTC),
    datetime(2026, 9, 5, 12, tzinfo=UTC),
    datetime(2026, 11, 1, 0, tzinfo=UTC),
    datetime(2011, 12, 28, 0, tzinfo=UTC),
    datetime(2026, 3, 8, 0, tzinfo=UTC),
]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow]
)
@given(
    schedules(sparse_times=True),
    st.sampled_from(ZONES),
    st.sampled_from(ANCHORS),
    st.integers(-48 * 60, 48 * 60),
)
def test_agrees_with_brute_force_utc_minute_walk(
    g: GeneratedSchedule, zone_name: str, anchor: datetime, shift_minutes: int
) -> None:
    zone = ZoneInfo(zone_name)
    after = anchor + timedelta(minutes=shift_minutes, seconds=7)
    days = 6
    expected = brute_force_runs(g, zone, after, 12, days)
    got = next_runs(parse_schedule(g.text), zone, after, 12)
    window_end = after + timedelta(days=days)
    assert got[: len(expected)] == expected
    assert [r.utcoffset() for r in got[: len(expected)]] == [r.utcoffset() for r in expected]
    if len(expected) < 12:
        assert all(r > window_end - timedelta(minutes=1) for r in got[len(expected) :])
