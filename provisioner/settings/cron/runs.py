"""When a schedule fires in a time zone, by Jenkins's rule, and where daylight saving bites.

Jenkins fires at every real minute whose local wall-clock time in the zone matches the schedule.
So a local time inside a spring-forward gap never happens (no run that day) and a local time inside
a fall-back overlap happens twice (two runs). We generate naive local candidates day by day and map
each one to the real instants that show it on the wall clock.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from provisioner.settings.cron.schedule import Schedule

# Offsets change by at most a day, so runs from days this far past the last needed day cannot
# come earlier than the runs already collected.
_SETTLE_DAYS = 2
_DAY = timedelta(days=1)


def local_instants(naive: datetime, zone: ZoneInfo) -> list[datetime]:
    """The real instants (aware, in ``zone``) whose wall-clock time is ``naive``: 0, 1 or 2 of them."""
    found: list[datetime] = []
    for fold in (0, 1):
        candidate = naive.replace(tzinfo=zone, fold=fold)
        back = candidate.astimezone(UTC).astimezone(zone)
        if back.replace(tzinfo=None) != naive:
            continue  # in a gap: this wall-clock time does not exist
        if all(back.utcoffset() != f.utcoffset() for f in found):
            found.append(back)
    return found


def _firing_days(schedule: Schedule, start: date) -> Iterator[date]:
    day = start
    while True:
        if day.month not in schedule.months:
            # skip to the 1st of the next month
            nxt = date(day.year + (day.month == 12), day.month % 12 + 1, 1)
            day = nxt
            continue
        if schedule.fires_on(day):
            yield day
        day += _DAY


def next_runs(schedule: Schedule, zone: ZoneInfo, after: datetime, count: int) -> list[datetime]:
    """The first ``count`` runs strictly after ``after`` (aware), as aware datetimes in ``zone``.

    Fewer are returned only when the calendar ends (year 9999).
    """
    if after.tzinfo is None or after.utcoffset() is None:
        raise ValueError("after must be an aware datetime")
    if count <= 0:
        return []
    times = [time(t // 60, t % 60) for t in schedule.times_of_day()]
    runs: list[datetime] = []
    settle_until: date | None = None
    try:
        after_utc = after.astimezone(UTC)
        local_start = after_utc.astimezone(zone).date() - _DAY  # an overlap may reach back across midnight
        for day in _firing_days(schedule, local_start):
            if settle_until is not None and day > settle_until:
                break
            for t in times:
                try:
                    instants = local_instants(datetime.combine(day, t), zone)
                except OverflowError:  # before the calendar's first day in UTC
                    continue
                runs.extend(instant for instant in instants if instant > after_utc)
            if settle_until is None and len(runs) >= count:
                settle_until = day + timedelta(days=_SETTLE_DAYS)
    except (OverflowError, ValueError):
        pass  # ran off either end of the calendar (years 1 and 9999)
    runs.sort(key=lambda r: r.astimezone(UTC))
    return runs[:count]


@dataclass(frozen=True)
class Transition:
    """A change of UTC offset: local wall-clock times [start, end) are skipped (gap) or repeated."""

    instant: datetime  # UTC instant of the change
    kind: str  # "gap" (spring forward) or "overlap" (fall back)
    start: datetime  # naive local wall-clock start of the affected interval
    end: datetime  # naive local wall-clock end (exclusive)


def transitions(zone: ZoneInfo, start: datetime, end: datetime) -> list[Transition]:
    """Offset changes of ``zone`` between two aware instants (found to the minute).

    Sampled once a day, then bisected: no zone changes its offset twice within a day.
    """
    step = timedelta(days=1)
    out: list[Transition] = []
    t = start.astimezone(UTC)
    stop = end.astimezone(UTC)
    offset = t.astimezone(zone).utcoffset()
    while t < stop:
        nxt = min(t + step, stop)
        new_offset = nxt.astimezone(zone).utcoffset()
        if new_offset != offset:
            lo, hi = t, nxt  # offset(lo) == old, offset(hi) == new; bisect to the minute
            while hi - lo > timedelta(minutes=1):
                mid = lo + (hi - lo) / 2
                mid = mid.replace(second=0, microsecond=0)
                if mid <= lo:
                    mid = lo + timedelta(minutes=1)
                if mid.astimezone(zone).utcoffset() == offset:
                    lo = mid
                else:
                    hi = mid
            assert offset is not None and new_offset is not None
            before_local = (hi + offset).replace(tzinfo=None)
            after_local = (hi + new_offset).replace(tzinfo=None)
            if new_offset > offset:
                out.append(Transition(hi, "gap", before_local, after_local))
            else:
                out.append(Transition(hi, "overlap", after_local, before_local))
            offset = new_offset
        t = nxt
    return out


def _transitions_between(zone: ZoneInfo, start: datetime, end: datetime) -> list[Transition]:
    """:func:`transitions`, computed once per zone and UTC day for a fleet validating many registries."""
    span = end - start
    if zone.key is None or span.days > 3700 or start.astimezone(UTC).year >= 9990:
        return transitions(zone, start, end)
    begin = start.astimezone(UTC)
    day = begin.date()
    found = _day_transitions(zone.key, day, span.days + 2)
    stop = end.astimezone(UTC)
    return [tr for tr in found if begin < tr.instant <= stop]


@functools.lru_cache(maxsize=256)
def _day_transitions(zone_key: str, day: date, days: int) -> tuple[Transition, ...]:
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return tuple(transitions(ZoneInfo(zone_key), midnight, midnight + timedelta(days=days)))


def dst_warnings(schedule: Schedule, zone: ZoneInfo, now: datetime, years: int = 2) -> list[str]:
    """Warnings for runs the zone's offset changes skip or double, over the next ``years`` years.

    One warning per kind of effect (same window, same run times), listing the dates.
    """
    last = datetime(9999, 12, 1, tzinfo=UTC)  # stay clear of the calendar's end when converting zones
    horizon = (
        last
        if now.astimezone(UTC) > last - timedelta(days=366 * years)
        else now + timedelta(days=366 * years)
    )
    found = tuple(_transitions_between(zone, now, horizon))
    if zone.key is None:
        return _warnings_for(schedule, zone, found)
    return list(_cached_warnings(schedule, zone.key, found))


@functools.lru_cache(maxsize=1024)
def _cached_warnings(schedule: Schedule, zone_key: str, found: tuple[Transition, ...]) -> tuple[str, ...]:
    """The warnings depend only on the schedule, the zone and the transitions ahead: cached for fleets."""
    return tuple(_warnings_for(schedule, ZoneInfo(zone_key), found))


def _warnings_for(schedule: Schedule, zone: ZoneInfo, found: tuple[Transition, ...]) -> list[str]:
    minutes = set(schedule.times_of_day())
    grouped: dict[tuple[str, str, str], list[str]] = {}
    for tr in found:
        hit: list[datetime] = []
        cursor = tr.start
        while cursor < tr.end:
            if cursor.hour * 60 + cursor.minute in minutes and schedule.fires_on(cursor.date()):
                hit.append(cursor)
            cursor += timedelta(minutes=1)
        if not hit:
            continue
        shown = ", ".join(h.strftime("%H:%M") for h in hit[:4]) + (" ..." if len(hit) > 4 else "")
        window = f"{tr.start:%H:%M}-{tr.end:%H:%M}"
        grouped.setdefault((tr.kind, window, shown), []).append(hit[0].strftime("%Y-%m-%d"))
    warnings: list[str] = []
    for (kind, window, shown), dates in grouped.items():
        several = "," in shown
        runs = f"the run{'s' if several else ''} at {shown}"
        days = "that day" if len(dates) == 1 else "those days"
        if kind == "gap":
            effect = f"{runs} {'do' if several else 'does'} not happen on {days}"
        else:
            effect = f"{runs} {'happen' if several else 'happens'} twice on {days}"
        verb = "skip" if kind == "gap" else "repeat"
        on = ", ".join(dates)
        clocks = f"the clocks in {zone.key} {verb} {window} local time on {on}"
        warnings.append(f"daylight saving: {clocks}; {effect}")
    return warnings
