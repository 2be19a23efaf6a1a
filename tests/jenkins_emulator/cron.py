"""Jenkins timer-spec semantics, reimplemented for the emulator and for tests.

Follows jenkins-facts.md §1.2-§1.4 (Jenkins core ``hudson.scheduler``):

* ``CronTabList.create``: split on ``\\r?\\n``, Java-trim each line, ``TZ=<id>`` only on physical
  line 1 (id an exact Java ``TimeZone`` id), blank and ``#`` lines skipped, other lines ORed.
* ``CrontabLexer.g4`` / ``CrontabParser.g4`` / ``BaseParser``: exactly five fields of
  ``N | N-M | N-M/S | * | */S | H | H/S | H(N-M) | H(N-M)/S`` comma lists, or a lowercase ``@macro``;
  bounds minute 0-59, hour 0-23, dom 1-31, month 1-12, dow 0-7 (7 = Sunday); Jenkins's messages.
* ``CronTab.check``: all five fields must match (day of month AND day of week), evaluated on the
  wall clock of the spec zone; ``@`` macros ignore ``TZ=`` (they run in the JVM default zone).
* ``Hash``: MD5 of the job full name folded to a long, seeding ``java.util.Random``.

Public: :func:`parse_spec`, :func:`jenkins_spec_is_valid`, :func:`jenkins_spec_error`,
:func:`jenkins_spec_matches`, :class:`JenkinsSpec`, :class:`CronSpecError`, :func:`java_zone_ids`.
"""

from __future__ import annotations

import functools
import hashlib
import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = [
    "CronLine",
    "CronSpecError",
    "JavaRandom",
    "JenkinsSpec",
    "java_zone_ids",
    "jenkins_hash",
    "jenkins_spec_error",
    "jenkins_spec_is_valid",
    "jenkins_spec_matches",
    "parse_spec",
]

FIELD_NAMES = ("minute", "hour", "day of month", "month", "day of week")
LOWER_BOUNDS = (0, 0, 1, 1, 0)
UPPER_BOUNDS = (59, 23, 31, 12, 7)
MACROS = {
    "yearly": "H H H H *",
    "annually": "H H H H *",
    "monthly": "H H H * *",
    "weekly": "H H * * H",
    "daily": "H H * * *",
    "midnight": "H H(0-2) * * *",
    "hourly": "H * * * *",
}
_LINE_SPLIT = re.compile(r"\r?\n")
_INT_MAX = 2**31 - 1

# Old three-letter ids that Java's TimeZone still lists (sun.util.calendar.ZoneInfoFile oldMappings),
# absent from tzdata; mapped to the zone Java uses for them.
_JAVA_OLD_IDS = {
    "ACT": "Australia/Darwin",
    "AET": "Australia/Sydney",
    "AGT": "America/Argentina/Buenos_Aires",
    "ART": "Africa/Cairo",
    "AST": "America/Anchorage",
    "BET": "America/Sao_Paulo",
    "BST": "Asia/Dhaka",
    "CAT": "Africa/Harare",
    "CNT": "America/St_Johns",
    "CST": "America/Chicago",
    "CTT": "Asia/Shanghai",
    "EAT": "Africa/Addis_Ababa",
    "ECT": "Europe/Paris",
    "IET": "America/Indiana/Indianapolis",
    "IST": "Asia/Kolkata",
    "JST": "Asia/Tokyo",
    "MIT": "Pacific/Apia",
    "NET": "Asia/Yerevan",
    "NST": "Pacific/Auckland",
    "PLT": "Asia/Karachi",
    "PNT": "America/Phoenix",
    "PRT": "America/Puerto_Rico",
    "PST": "America/Los_Angeles",
    "SST": "Pacific/Guadalcanal",
    "VST": "Asia/Ho_Chi_Minh",
}
_NOT_JAVA = {"localtime", "posixrules", "Factory"}


class CronSpecError(ValueError):
    """A spec Jenkins would reject; the message mimics Jenkins's."""


@functools.cache
def java_zone_ids() -> frozenset[str]:
    """Approximation of Java ``TimeZone.getAvailableIDs()`` built from the IANA database."""
    ids = {
        key
        for key in zoneinfo.available_timezones()
        if key not in _NOT_JAVA and not key.startswith(("posix/", "right/"))
    }
    ids.update(_JAVA_OLD_IDS)
    return frozenset(ids)


@functools.cache
def _zone(zone_id: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(_JAVA_OLD_IDS.get(zone_id, zone_id))


class JavaRandom:
    """``java.util.Random`` (48-bit LCG), enough for ``nextInt(bound)``."""

    _MULT = 0x5DEECE66D
    _MASK = (1 << 48) - 1

    def __init__(self, seed: int) -> None:
        self._seed = (seed ^ self._MULT) & self._MASK

    def _next(self, bits: int) -> int:
        self._seed = (self._seed * self._MULT + 0xB) & self._MASK
        value = self._seed >> (48 - bits)
        if value & (1 << 31):  # Java int is signed
            value -= 1 << 32
        return value

    def next_int(self, bound: int) -> int:
        if bound <= 0:
            raise ValueError("bound must be positive")
        r = self._next(31)
        m = bound - 1
        if bound & m == 0:
            return (bound * r) >> 31
        u = r
        while True:
            r = u % bound
            total = u - r + m
            if total > _INT_MAX:  # int overflow in Java makes this negative: draw again
                u = self._next(31)
                continue
            return r


def jenkins_hash(full_name: str | None) -> JavaRandom | None:
    """``hudson.scheduler.Hash.from(fullName)``; None stands for ``Hash.zero()``."""
    if full_name is None:
        return None
    digest = bytearray(hashlib.md5(full_name.encode("utf-8")).digest())
    for i in range(8, len(digest)):
        digest[i % 8] ^= digest[i]
    seed = int.from_bytes(digest[:8], "big", signed=True)
    return JavaRandom(seed)


@dataclass(frozen=True)
class CronLine:
    """One parsed crontab line: the sets of matching values per field."""

    source: str
    line_number: int
    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int]
    months: frozenset[int]
    days_of_week: frozenset[int]  # 0-6, 0 = Sunday
    zone: str | None  # None: JVM default zone (no TZ= line, or an @macro)

    def matches(self, instant: datetime, default_zone: str = "UTC") -> bool:
        local = instant.astimezone(_zone(self.zone or default_zone))
        return (
            local.minute in self.minutes
            and local.hour in self.hours
            and local.day in self.days_of_month
            and local.month in self.months
            and (local.weekday() + 1) % 7 in self.days_of_week
        )


@dataclass(frozen=True)
class JenkinsSpec:
    source: str
    zone: str | None
    lines: tuple[CronLine, ...]

    def matches(self, instant: datetime, default_zone: str = "UTC") -> bool:
        """True when Jenkins fires in the minute containing ``instant`` (aware datetime)."""
        if instant.tzinfo is None:
            raise ValueError("instant must be timezone-aware")
        return any(line.matches(instant, default_zone) for line in self.lines)


class _LineParser:
    """Recursive descent over one trimmed line, with Jenkins's lexer and parser rules."""

    def __init__(self, text: str, line_number: int, rnd: JavaRandom | None) -> None:
        self.text = text
        self.pos = 0
        self.line_number = line_number
        self.rnd = rnd

    def fail(self, message: str) -> CronSpecError:
        return CronSpecError(f'Invalid input: "{self.text}": line {self.line_number}:{self.pos}: {message}')

    def _hash_next(self, n: int) -> int:
        return 0 if self.rnd is None else self.rnd.next_int(n)

    def peek(self) -> str:
        if self.pos >= len(self.text):
            return ""
        ch = self.text[self.pos]
        if not (ch.isascii() and (ch.isdigit() or ch in " \t-*/,@H()" or ch.islower())):
            raise self.fail(f"token recognition error at: '{ch}'")
        return ch

    def expect(self, ch: str) -> None:
        got = self.peek()
        if got != ch:
            raise self.fail(f"mismatched input '{got or '<EOF>'}' expecting '{ch}'")
        self.pos += 1

    def number(self) -> int:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in "0123456789":
            self.pos += 1
        if start == self.pos:
            got = self.peek()
            raise self.fail(f"mismatched input '{got or '<EOF>'}' expecting TOKEN")
        value = int(self.text[start : self.pos])
        if value > _INT_MAX:
            raise self.fail(f'For input string: "{self.text[start : self.pos]}"')
        return value

    def range_check(self, value: int, field: int) -> int:
        lo, hi = LOWER_BOUNDS[field], UPPER_BOUNDS[field]
        if value < lo or value > hi:
            raise self.fail(f"{value} is an invalid value. Must be within {lo} and {hi}")
        return value

    def do_range(self, start: int, end: int, step: int, field: int) -> set[int]:
        self.range_check(start, field)
        self.range_check(end, field)
        if start > end:
            raise self.fail(f"You mean {end}-{start}?")
        if step <= 0:
            raise self.fail(f"step must be positive, but found {step}")
        return set(range(start, end + 1, step))

    def do_hash(self, start: int, end: int, step: int, field: int) -> set[int]:
        self.range_check(start, field)
        self.range_check(end, field)
        if step > end - start + 1:
            raise self.fail(f"{step} is an invalid value. Must be within 1 and {end - start + 1}")
        if step > 1:
            return set(range(self._hash_next(step) + start, end + 1, step))
        if step <= 0:
            raise self.fail(f"step must be positive, but found {step}")
        return {start + self._hash_next(end + 1 - start)}

    def optional_step(self) -> int:
        if self.pos < len(self.text) and self.text[self.pos] == "/":
            self.pos += 1
            return self.number()
        return 1

    def term(self, field: int) -> set[int]:
        ch = self.peek()
        if ch == "*":
            self.pos += 1
            return self.do_range(LOWER_BOUNDS[field], UPPER_BOUNDS[field], self.optional_step(), field)
        if ch == "H":
            self.pos += 1
            if self.pos < len(self.text) and self.text[self.pos] == "(":
                self.pos += 1
                start = self.number()
                self.expect("-")
                end = self.number()
                self.expect(")")
                return self.do_hash(start, end, self.optional_step(), field)
            upper = {2: 28, 4: 6}.get(field, UPPER_BOUNDS[field])
            return self.do_hash(LOWER_BOUNDS[field], upper, self.optional_step(), field)
        start = self.number()
        if self.pos < len(self.text) and self.text[self.pos] == "-":
            self.pos += 1
            end = self.number()
            return self.do_range(start, end, self.optional_step(), field)
        if self.pos < len(self.text) and self.text[self.pos] == "/":
            raise self.fail("mismatched input '/' expecting {<EOF>, WS, ','}")
        return {self.range_check(start, field)}

    def expr(self, field: int) -> set[int]:
        values = self.term(field)
        while self.pos < len(self.text) and self.text[self.pos] == ",":
            self.pos += 1
            values |= self.term(field)
        return values

    def parse(self) -> list[set[int]]:
        if self.peek() == "@":
            self.pos += 1
            start = self.pos
            while (
                self.pos < len(self.text) and self.text[self.pos].isascii() and self.text[self.pos].islower()
            ):
                self.pos += 1
            word = self.text[start : self.pos]
            if word not in MACROS:
                raise self.fail(f"token recognition error at: '{self.text[start : self.pos + 1]}'")
            if self.pos != len(self.text):
                self.peek()
                raise self.fail(f"extraneous input '{self.text[self.pos]}' expecting <EOF>")
            return _LineParser(MACROS[word], self.line_number, self.rnd).parse()
        fields: list[set[int]] = []
        for field in range(5):
            if field:
                if self.peek() not in (" ", "\t"):
                    got = self.peek()
                    raise self.fail(f"mismatched input '{got or '<EOF>'}' expecting WS")
                while self.pos < len(self.text) and self.text[self.pos] in " \t":
                    self.pos += 1
            fields.append(self.expr(field))
        if self.pos != len(self.text):
            got = self.peek()
            raise self.fail(f"extraneous input '{got}' expecting <EOF>")
        return fields


def _java_trim(text: str) -> str:
    start, end = 0, len(text)
    while start < end and ord(text[start]) <= 0x20:
        start += 1
    while end > start and ord(text[end - 1]) <= 0x20:
        end -= 1
    return text[start:end]


def parse_spec(spec: str, job_full_name: str | None = None) -> JenkinsSpec:
    """Parse a whole ``<spec>`` text as ``CronTabList.create`` does; raise :class:`CronSpecError`.

    ``job_full_name`` seeds ``H`` like Jenkins's ``Hash.from``; None uses ``Hash.zero()``.
    """
    rnd = jenkins_hash(job_full_name)
    zone: str | None = None
    lines: list[CronLine] = []
    for number, raw in enumerate(_LINE_SPLIT.split(spec), start=1):
        line = _java_trim(raw)
        if number == 1 and line.startswith("TZ="):
            zone_id = line.replace("TZ=", "")
            if zone_id not in java_zone_ids():
                raise CronSpecError(f"Invalid or unsupported timezone '{zone_id}'")
            zone = zone_id
            continue
        if not line or line.startswith("#"):
            continue
        parser = _LineParser(line, number, rnd)
        is_macro = line.startswith("@")
        fields = parser.parse()
        dow = set(fields[4])
        if 7 in dow:
            dow.discard(7)
            dow.add(0)
        lines.append(
            CronLine(
                source=line,
                line_number=number,
                minutes=frozenset(fields[0]),
                hours=frozenset(fields[1]),
                days_of_month=frozenset(fields[2]),
                months=frozenset(fields[3]),
                days_of_week=frozenset(dow),
                zone=None if is_macro else zone,
            )
        )
    return JenkinsSpec(source=spec, zone=zone, lines=tuple(lines))


def jenkins_spec_error(spec: str) -> str | None:
    """Jenkins's error message for ``spec``, or None when Jenkins accepts it."""
    try:
        parse_spec(spec)
    except CronSpecError as exc:
        return str(exc)
    return None


def jenkins_spec_is_valid(spec: str) -> bool:
    return jenkins_spec_error(spec) is None


@functools.lru_cache(maxsize=256)
def _cached_spec(spec: str, job_full_name: str | None) -> JenkinsSpec:
    return parse_spec(spec, job_full_name)


def jenkins_spec_matches(
    spec: str,
    instant_utc: datetime,
    *,
    job_full_name: str | None = None,
    default_zone: str = "UTC",
) -> bool:
    """Whether Jenkins fires ``spec`` in the minute of ``instant_utc`` (aware; naive means UTC).

    Lines are ORed, the five fields of a line ANDed, each evaluated on the wall clock of the
    ``TZ=`` zone (``default_zone``, the JVM zone, without ``TZ=`` and for ``@`` macros).
    """
    if instant_utc.tzinfo is None:
        instant_utc = instant_utc.replace(tzinfo=UTC)
    return _cached_spec(spec, job_full_name).matches(instant_utc, default_zone)
