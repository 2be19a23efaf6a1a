"""Parse unix-cron schedules (five fields, vixie semantics) into a frozen :class:`Schedule`.

Only the portable subset that both vixie cron and Jenkins understand is accepted, so the same text
means the same thing in values.yaml, in the preview and in the rendered Jenkins spec.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import date

MAX_SCHEDULE_LENGTH = 100

MACROS: dict[str, str] = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

# (name, lowest, highest) per field; day of week allows 7 (= Sunday) like vixie cron and Jenkins.
FIELD_SPECS: tuple[tuple[str, int, int], ...] = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
)

_ALLOWED = re.compile(r"[0-9*,/\- \t@a-z]*")
_TERM = re.compile(r"(?P<base>\*|(?P<lo>[0-9]+)(?:-(?P<hi>[0-9]+))?)(?:/(?P<step>[0-9]+))?")
_MAX_DIGITS = 4


class ScheduleError(ValueError):
    """A schedule that is not accepted; the message is meant for the user."""


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule. Days of week are 0-6 with 0 = Sunday (7 is folded into 0)."""

    source: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int]
    months: frozenset[int]
    days_of_week: frozenset[int]
    dom_restricted: bool
    dow_restricted: bool
    fields: tuple[str, str, str, str, str]

    @property
    def day_or(self) -> bool:
        """Vixie rule: when both day fields are restricted, a day matching either one fires."""
        return self.dom_restricted and self.dow_restricted

    def times_of_day(self) -> list[int]:
        """Sorted minutes after midnight at which the schedule fires on a firing day."""
        return sorted(h * 60 + m for h in self.hours for m in self.minutes)

    def fires_on(self, day: date) -> bool:
        """Whether the schedule fires on this calendar day (naive wall-clock date)."""
        if day.month not in self.months:
            return False
        dom_ok = day.day in self.days_of_month
        dow_ok = day.isoweekday() % 7 in self.days_of_week
        if self.day_or:
            return dom_ok or dow_ok
        return dom_ok and dow_ok


def _describe_char(ch: str) -> str:
    if ch == "\n" or ch == "\r":
        return "a line break"
    if ch.isprintable():
        return repr(ch)
    if ch.isspace():
        return f"the blank U+{ord(ch):04X} (only spaces and tabs separate fields)"
    return f"the control character U+{ord(ch):04X}"


def _check_characters(text: str) -> None:
    for word in re.findall(r"[A-Za-z]+", text):
        if word == "H":
            raise ScheduleError(
                "Jenkins hash syntax 'H' is not supported: write explicit unix-cron values "
                "(e.g. '30 19 * * *')"
            )
        if word in ("L", "W", "LW"):
            raise ScheduleError(
                f"the croniter/Quartz extension {word!r} is not supported: use plain unix-cron fields"
            )
    for token in ("#", "?"):
        if token in text:
            raise ScheduleError(
                f"the croniter/Quartz extension {token!r} is not supported: use plain unix-cron fields"
            )
    if not _ALLOWED.fullmatch(text):
        bad = next(ch for ch in text if not _ALLOWED.fullmatch(ch))
        if bad.isalpha() and bad.isascii():
            raise ScheduleError(
                "names (like MON or JAN) and letters are not supported: use numbers (0-7 for the days of "
                "the week, 0 and 7 are Sunday; 1-12 for the months)"
            )
        raise ScheduleError(
            f"{_describe_char(bad)} is not allowed: a schedule holds only digits, '*', ',', '-', '/' "
            "and blanks between five fields (or one of the @ macros)"
        )


def _parse_number(text: str, name: str, lo: int, hi: int) -> int:
    if len(text) > _MAX_DIGITS:
        raise ScheduleError(
            f"{name} value {text[:12]}{'...' if len(text) > 12 else ''} is out of range ({lo}-{hi})"
        )
    value = int(text)
    if not lo <= value <= hi:
        raise ScheduleError(f"{name} value {text} is out of range ({lo}-{hi})")
    return value


def _parse_field(text: str, name: str, lo: int, hi: int) -> frozenset[int]:
    values: set[int] = set()
    for term in text.split(","):
        if term == "":
            raise ScheduleError(f"{name} field {text!r} has an empty list item")
        if any(ch.isalpha() for ch in term):
            raise ScheduleError(
                f"{name} field {text!r}: names (like MON or JAN) and letters are not supported; use numbers"
            )
        match = _TERM.fullmatch(term)
        if match is None:
            raise ScheduleError(
                f"{name} field {text!r}: {term!r} is not a number, a range a-b, '*', "
                "or a step '*/n' or 'a-b/n'"
            )
        step_text = match.group("step")
        if match.group("base") == "*":
            start, end = lo, hi
        else:
            start = _parse_number(match.group("lo"), name, lo, hi)
            hi_text = match.group("hi")
            if hi_text is None:
                if step_text is not None:
                    raise ScheduleError(
                        f"{name} field {text!r}: a step needs '*' or a range before it ('*/n' or 'a-b/n'), "
                        f"not {term!r}"
                    )
                end = start
            else:
                end = _parse_number(hi_text, name, lo, hi)
                if start > end:
                    raise ScheduleError(
                        f"{name} field {text!r}: range {term!r} is reversed (wrap-around ranges are not "
                        f"supported; did you mean {end}-{start}?)"
                    )
        step = 1
        if step_text is not None:
            step = _parse_number(step_text, f"{name} step", 1, hi) if step_text.strip("0") else 0
            if step == 0:
                raise ScheduleError(f"{name} field {text!r}: the step must be at least 1")
        values.update(range(start, end + 1, step))
    return frozenset(values)


@functools.lru_cache(maxsize=4096)  # pure; a fleet parses each schedule several times per registry
def parse_schedule(text: str) -> Schedule:
    """Parse a unix-cron schedule; raise :class:`ScheduleError` with a user-facing message."""
    if not isinstance(text, str):
        raise ScheduleError("the schedule must be a string")
    if len(text) > MAX_SCHEDULE_LENGTH:
        raise ScheduleError(f"the schedule is longer than {MAX_SCHEDULE_LENGTH} characters")
    candidate = text.strip(" \t")
    if candidate.startswith("@") and candidate != candidate.lower() and candidate.lower() in MACROS:
        raise ScheduleError(f"macros are lowercase: write {candidate.lower()!r}, not {candidate!r}")
    _check_characters(text)
    stripped = text.strip(" \t")
    if not stripped:
        raise ScheduleError("the schedule is empty")
    if stripped.startswith("@"):
        if stripped == "@reboot":
            raise ScheduleError("@reboot is not a time schedule and is not supported")
        expanded = MACROS.get(stripped)
        if expanded is None:
            raise ScheduleError(f"unknown macro {stripped!r}: use one of {', '.join(MACROS)}")
        field_texts = expanded.split()
    else:
        if "@" in stripped:
            raise ScheduleError("'@' is only allowed at the start of a macro such as @daily")
        field_texts = re.split(r"[ \t]+", stripped)
        if len(field_texts) in (6, 7):
            raise ScheduleError(
                f"the schedule has {len(field_texts)} fields: seconds and year fields are not supported; "
                "write exactly five fields (minute hour day-of-month month day-of-week)"
            )
        if len(field_texts) != 5:
            raise ScheduleError(
                f"the schedule has {len(field_texts)} field{'s' if len(field_texts) != 1 else ''}; "
                "write exactly "
                "five (minute hour day-of-month month day-of-week)"
            )
    sets = [
        _parse_field(field, name, lo, hi)
        for field, (name, lo, hi) in zip(field_texts, FIELD_SPECS, strict=True)
    ]
    dow = frozenset(d % 7 for d in sets[4])
    fields = (field_texts[0], field_texts[1], field_texts[2], field_texts[3], field_texts[4])
    schedule = Schedule(
        source=stripped,
        minutes=sets[0],
        hours=sets[1],
        days_of_month=sets[2],
        months=sets[3],
        days_of_week=dow,
        dom_restricted=not fields[2].startswith("*"),
        dow_restricted=not fields[4].startswith("*"),
        fields=fields,
    )
    if not fires_ever(schedule):
        raise ScheduleError(
            "the schedule never fires: no month in it has the days of month it names "
            f"(e.g. {fields[2]!r} in month {fields[3]!r})"
        )
    return schedule


_MAX_MONTH_LENGTH = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}


def fires_ever(schedule: Schedule) -> bool:
    """Exact: every existing (month, day) date falls on each weekday in some year (Feb 29 included)."""
    if schedule.day_or:
        return True  # every month has every weekday
    return any(d <= _MAX_MONTH_LENGTH[m] for m in schedule.months for d in schedule.days_of_month)
