"""The emulator's Jenkins cron validator and matcher against the examples in jenkins-facts.md."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.jenkins_emulator.cron import (
    CronSpecError,
    JavaRandom,
    jenkins_spec_error,
    jenkins_spec_is_valid,
    jenkins_spec_matches,
    parse_spec,
)

VALID = [
    "",
    "TZ=Europe/Kyiv",
    "TZ=Europe/Kyiv\n30 19 * * *",
    "TZ=Europe/Kiev\n30 19 1 * *\n30 19 * * 1",
    "TZ=Etc/GMT+2\n0 0 * * *",
    "TZ=PST\n0 0 * * *",
    "TZ=Europe/Kyiv \n0 0 * * *",  # trailing blank trimmed
    "  0   0\t*  * *  ",
    "# comment\n\n0 0 * * *",
    "00 07 * * 7",
    "0 0 31 2 *",  # parses, never fires
    "H H * * *",
    "H/15 * * * *",
    "H(0-29)/10 H(1-5) * * 1-5",
    "0-30/10 1,2,3 1-31/2 */3 0-7",
    "@daily",
    "@midnight",
    "@hourly\n@yearly\n@annually\n@monthly\n@weekly",
    "0 0 * * *\r\n0 12 * * *",
]
INVALID = [
    "TZ=europe/kyiv\n0 0 * * *",
    "TZ= Europe/Kyiv\n0 0 * * *",
    "TZ=Mars/Olympus",
    "TZ=GMT+2",
    "TZ=localtime",
    "TZ=Factory",
    "TZ=posixrules",
    "TZ=right/UTC",
    "TZ=posix/UTC",
    "# comment\nTZ=UTC\n0 0 * * *",
    "0 0 * * *\nTZ=UTC",
    "5/15 * * * *",
    "0 0 * * MON",
    "0 0 * JAN *",
    "0 0 * * mon-fri",
    "0 0 L * *",
    "0 0 15W * *",
    "0 0 * * 5#3",
    "0 0 ? * *",
    "0 0 * * * *",
    "0 0 * * * * 2026",
    "0 0 * *",
    "h * * * *",
    "10-5 * * * *",
    "0 0 * * 7-1",
    "*/0 * * * *",
    "H(0-5)/7 * * * *",
    "-1 * * * *",
    "1, * * * *",
    "0 24 * * *",
    "60 0 * * *",
    "0 0 0 * *",
    "0 0 32 * *",
    "0 0 * 13 *",
    "0 0 * 0 *",
    "0 0 * * 8",
    "@DAILY",
    "@reboot",
    "@daily 0",
    "0 0 * * * ; rm -rf /",
    "$(id) * * * *",
    "`id` * * * *",
    "0 0 * * *\n0 0 * * 1\r0 1 * * *",  # a lone CR does not split lines
    "99999999999 * * * *",
    "0 0 1,2, * *",
    "0 0 * * 1 </spec>",
]


@pytest.mark.parametrize("spec", VALID)
def test_valid(spec: str) -> None:
    assert jenkins_spec_error(spec) is None


@pytest.mark.parametrize("spec", INVALID)
def test_invalid(spec: str) -> None:
    assert not jenkins_spec_is_valid(spec)


def test_messages_follow_jenkins() -> None:
    assert jenkins_spec_error("TZ=Mars/Olympus") == "Invalid or unsupported timezone 'Mars/Olympus'"
    assert "You mean 5-10?" in (jenkins_spec_error("10-5 * * * *") or "")
    assert "step must be positive, but found 0" in (jenkins_spec_error("*/0 * * * *") or "")
    assert "24 is an invalid value. Must be within 0 and 23" in (jenkins_spec_error("0 24 * * *") or "")
    assert (jenkins_spec_error("0 0 * * 8") or "").startswith('Invalid input: "0 0 * * 8": line 1:')


def test_java_random_matches_known_sequence() -> None:
    # java: r = new Random(42); r.nextInt() -> -1170105035, then 234785527; new Random(42).nextInt(10) -> 0
    rnd = JavaRandom(42)
    assert [rnd._next(32), rnd._next(32)] == [-1170105035, 234785527]
    assert JavaRandom(42).next_int(10) == 0


def test_hash_matches_jenkins_example() -> None:
    line = parse_spec("H H * * *", "Create-registry-backup").lines[0]
    assert (line.minutes, line.hours) == ({47}, {19})


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def _fires(spec: str, start: datetime, end: datetime, name: str | None = None) -> list[datetime]:
    parsed = parse_spec(spec, name)
    out = []
    t = start
    while t < end:
        if parsed.matches(t):
            out.append(t)
        t += timedelta(minutes=1)
    return out


def test_dom_and_dow_are_anded() -> None:
    spec = "TZ=Europe/Kiev\n0 12 1 * 1"
    for hit in (_utc(2026, 6, 1, 9), _utc(2027, 2, 1, 10), _utc(2027, 3, 1, 10), _utc(2027, 11, 1, 10)):
        assert jenkins_spec_matches(spec, hit)
    assert not jenkins_spec_matches(spec, _utc(2026, 1, 1, 10))  # the 1st, a Thursday
    assert not jenkins_spec_matches(spec, _utc(2026, 1, 5, 10))  # a Monday, the 5th


def test_spring_forward_gap_is_skipped() -> None:
    fires = _fires("TZ=Europe/Kiev\n30 3 * * *", _utc(2027, 3, 27), _utc(2027, 3, 29, 2))
    assert fires == [_utc(2027, 3, 27, 1, 30), _utc(2027, 3, 29, 0, 30)]


def test_fall_back_overlap_fires_twice() -> None:
    assert _fires("TZ=Europe/Kyiv\n0 3 * * *", _utc(2026, 10, 24, 20), _utc(2026, 10, 25, 6)) == [
        _utc(2026, 10, 25, 0),
        _utc(2026, 10, 25, 1),
    ]
    assert len(_fires("TZ=Europe/Kyiv\n*/30 3 * * *", _utc(2026, 10, 24, 20), _utc(2026, 10, 25, 6))) == 4


def test_macros_ignore_tz_but_hash_lines_do_not() -> None:
    name = "Create-registry-backup"
    day = (_utc(2026, 11, 22), _utc(2026, 11, 23))
    assert _fires("TZ=Europe/Kiev\n@daily", *day, name=name) == [_utc(2026, 11, 22, 19, 47)]
    assert _fires("TZ=Europe/Kiev\nH H * * *", *day, name=name) == [_utc(2026, 11, 22, 17, 47)]


def test_lines_are_ored_and_sunday_is_0_or_7() -> None:
    spec = "TZ=UTC\n30 19 1 * *\n30 19 * * 7"
    sunday = _utc(2026, 11, 22, 19, 30)
    assert sunday.weekday() == 6
    assert jenkins_spec_matches(spec, sunday)
    assert jenkins_spec_matches(spec, _utc(2026, 12, 1, 19, 30))
    assert not jenkins_spec_matches(spec, _utc(2026, 11, 23, 19, 30))
    assert not jenkins_spec_matches("TZ=Europe/Kyiv", sunday)  # no cron line: never fires


def test_parse_spec_raises() -> None:
    with pytest.raises(CronSpecError):
        parse_spec("5/15 * * * *")


# --- property tests -----------------------------------------------------------------------------
BOUNDS = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 6)]


@st.composite
def field_text(draw: st.DrawFn, index: int) -> str:
    lo, hi = BOUNDS[index]
    terms = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["n", "range", "range_step", "star", "star_step"]))
        a = draw(st.integers(lo, hi))
        b = draw(st.integers(a, hi))
        if a == b:  # croniter mis-reads degenerate ranges such as "1-1" (Jenkins accepts them)
            kind = "n"
        step = draw(st.integers(1, hi - lo + 1))
        terms.append(
            {
                "n": f"{a}",
                "range": f"{a}-{b}",
                "range_step": f"{a}-{b}/{step}",
                "star": "*",
                "star_step": f"*/{step}",
            }[kind]
        )
    return ",".join(terms)


@st.composite
def cron_line(draw: st.DrawFn) -> str:
    return " ".join(draw(field_text(i)) for i in range(5))


@settings(max_examples=150, deadline=None)
@given(line=cron_line(), minute=st.integers(0, 60 * 24 * 366 * 2))
def test_matches_croniter_with_and_semantics(line: str, minute: int) -> None:
    instant = _utc(2026, 1, 1) + timedelta(minutes=minute)
    assert jenkins_spec_is_valid(line)
    expected = croniter.match(line, instant.replace(tzinfo=None), day_or=False)
    assert jenkins_spec_matches(line, instant) == expected


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=40))
def test_validator_never_crashes(text: str) -> None:
    assert isinstance(jenkins_spec_is_valid(text), bool)
