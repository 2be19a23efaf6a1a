from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioner.settings.cron import MACROS, ScheduleError, parse_schedule
from tests.settings.cron.cron_strategies import GeneratedSchedule, schedules


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        ("30 19 * * *", ("30", "19", "*", "*", "*")),
        ("  30\t19  * *\t* ", ("30", "19", "*", "*", "*")),
        ("@yearly", ("0", "0", "1", "1", "*")),
        ("@annually", ("0", "0", "1", "1", "*")),
        ("@monthly", ("0", "0", "1", "*", "*")),
        ("@weekly", ("0", "0", "*", "*", "0")),
        ("@daily", ("0", "0", "*", "*", "*")),
        ("@midnight", ("0", "0", "*", "*", "*")),
        ("@hourly", ("0", "*", "*", "*", "*")),
        (" @daily\t", ("0", "0", "*", "*", "*")),
        ("00 07 * * *", ("00", "07", "*", "*", "*")),
        ("0 0 1-31/2 1-12/3 1-5", ("0", "0", "1-31/2", "1-12/3", "1-5")),
    ],
)
def test_accepted(text: str, fields: tuple[str, ...]) -> None:
    assert parse_schedule(text).fields == fields


def test_sets_and_flags() -> None:
    s = parse_schedule("5,10-12 */6 1,15 */4 5-7")
    assert s.minutes == {5, 10, 11, 12}
    assert s.hours == {0, 6, 12, 18}
    assert s.days_of_month == {1, 15}
    assert s.months == {1, 5, 9}
    assert s.days_of_week == {5, 6, 0}  # 7 folded into 0 (Sunday)
    assert s.dom_restricted and s.dow_restricted and s.day_or
    t = parse_schedule("0 0 */2 * 1")
    assert not t.dom_restricted and t.dow_restricted and not t.day_or
    assert parse_schedule("0 0 * * 7").days_of_week == {0}
    assert parse_schedule(" 0 0 * * * ").source == "0 0 * * *"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("H H * * *", "hash"),
        ("H/15 * * * *", "hash"),
        ("0 0 L * *", "'L'"),
        ("0 0 15W * *", "'W'"),
        ("0 0 * * 5#3", "'#'"),
        ("0 0 ? * *", "'?'"),
        ("0 0 * * MON", "names"),
        ("0 0 * JAN *", "names"),
        ("0 0 * * mon-fri", "names"),
        ("0 0 * * sun", "names"),
        ("0 0 0 * * *", "6 fields"),
        ("0 0 0 * * * 2026", "7 fields"),
        ("0 0 * *", "4 fields"),
        ("0", "1 field"),
        ("60 * * * *", "out of range (0-59)"),
        ("0 24 * * *", "out of range (0-23)"),
        ("0 0 0 * *", "out of range (1-31)"),
        ("0 0 32 * *", "out of range (1-31)"),
        ("0 0 * 0 *", "out of range (1-12)"),
        ("0 0 * 13 *", "out of range (1-12)"),
        ("0 0 * * 8", "out of range (0-7)"),
        ("-1 * * * *", "not a number"),
        ("99999999999999999999 * * * *", "out of range"),
        ("5/15 * * * *", "a step needs"),
        ("10-5 * * * *", "reversed"),
        ("0 0 * * 7-1", "reversed"),
        ("*/0 * * * *", "at least 1"),
        ("0-10/00 * * * *", "at least 1"),
        ("1, * * * *", "empty list item"),
        (",1 * * * *", "empty list item"),
        ("1,,2 * * * *", "empty list item"),
        ("", "empty"),
        ("   \t ", "empty"),
        ("@reboot", "@reboot"),
        ("@DAILY", "lowercase"),
        ("@every", "unknown macro"),
        ("0 0 @daily", "'@' is only allowed"),
        ("0 0 30 2 *", "never fires"),
        ("0 0 31 4,6,9,11 *", "never fires"),
        ("0 0 30,31 2 *", "never fires"),
        ("0 0 * * * ; rm -rf /", "';' is not allowed"),
        ("$(reboot) * * * *", "'$' is not allowed"),
        ("`id` * * * *", "'`' is not allowed"),
        ("0 0 * * *\n0 1 * * *", "line break"),
        ("0 0 * * *\r", "line break"),
        ("0 0 * * *\x00", "control character"),
        ('"0 0 * * *"', "'\"' is not allowed"),
        ("0 0 * * * </spec>", "'<' is not allowed"),
        ("0\u00a00 * * *", "not allowed"),
        ("\uff10 0 * * *", "not allowed"),  # fullwidth digit zero
        ("*/60 * * * *", "out of range"),
        ("1" * 101, "longer than 100"),
    ],
)
def test_rejected(text: str, needle: str) -> None:
    with pytest.raises(ScheduleError) as info:
        parse_schedule(text)
    assert needle in str(info.value)


def test_macros_are_unix_cron_not_jenkins_hash() -> None:
    assert parse_schedule("@daily").hours == {0} and parse_schedule("@daily").minutes == {0}
    assert set(MACROS) == {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(schedules())
def test_generated_valid_schedules_are_accepted_with_the_right_sets(g: GeneratedSchedule) -> None:
    s = parse_schedule(g.text)
    assert (s.minutes, s.hours, s.days_of_month, s.months, s.days_of_week) == g.sets
    assert (not s.dom_restricted, not s.dow_restricted) == (g.dom_star, g.dow_star)


_HOSTILE_ALPHABET = st.sampled_from(
    [*"0123456789*,/- \t@abcdefhlmnorstuvwyHLW#?$`;|&<>'\"\\\n\r\x00\x1b\u00a0\u2028", "</spec>", "$(id)"]
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=120), st.lists(_HOSTILE_ALPHABET, max_size=40).map("".join)))
def test_arbitrary_strings_never_crash(text: str) -> None:
    try:
        s = parse_schedule(text)
    except ScheduleError as exc:
        assert str(exc)
    else:
        assert set(s.source) <= set("0123456789*,/- \t@abcdefghijklmnopqrstuvwxyz")
        assert "\n" not in s.source


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(schedules(), st.integers(0, 99), st.text(min_size=1, max_size=3))
def test_mutated_schedules_never_crash(g: GeneratedSchedule, pos: int, insert: str) -> None:
    i = pos % (len(g.text) + 1)
    mutated = g.text[:i] + insert + g.text[i:]
    try:
        parse_schedule(mutated)
    except ScheduleError as exc:
        assert str(exc)
