"""Hypothesis strategies for unix-cron schedules, with their expected value sets computed independently."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from hypothesis import strategies as st

BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


@dataclass(frozen=True)
class GeneratedSchedule:
    text: str
    sets: tuple[frozenset[int], ...]  # minute, hour, dom, month, dow (0-6)
    dom_star: bool
    dow_star: bool

    def day_fires(self, day: date) -> bool:
        """Vixie cron's day rule, written independently of provisioner.settings.cron."""
        if day.month not in self.sets[3]:
            return False
        dom = day.day in self.sets[2]
        dow = day.isoweekday() % 7 in self.sets[4]
        if self.dom_star or self.dow_star:
            return dom and dow
        return dom or dow

    def times(self) -> list[int]:
        return sorted(h * 60 + m for h in self.sets[1] for m in self.sets[0])


@st.composite
def term(draw: st.DrawFn, lo: int, hi: int) -> tuple[str, set[int]]:
    kind = draw(st.sampled_from(["num", "range", "range_step", "star_step"]))
    if kind == "num":
        n = draw(st.integers(lo, hi))
        return str(n), {n}
    if kind == "star_step":
        step = draw(st.integers(1, hi))
        return f"*/{step}", set(range(lo, hi + 1, step))
    a = draw(st.integers(lo, hi))
    b = draw(st.integers(a, hi))
    if kind == "range":
        return f"{a}-{b}", set(range(a, b + 1))
    step = draw(st.integers(1, hi))
    return f"{a}-{b}/{step}", set(range(a, b + 1, step))


@st.composite
def field(draw: st.DrawFn, index: int, star_weight: float = 0.3) -> tuple[str, set[int]]:
    lo, hi = BOUNDS[index]
    if draw(st.floats(0, 1)) < star_weight:
        return "*", set(range(lo, hi + 1))
    terms = draw(st.lists(term(lo, hi), min_size=1, max_size=3))
    values: set[int] = set()
    for _, v in terms:
        values |= v
    return ",".join(t for t, _ in terms), values


def _fires_some_day(g: GeneratedSchedule) -> bool:
    longest = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}
    if not (g.dom_star or g.dow_star):
        return True
    return any(d <= longest[m] for m in g.sets[3] for d in g.sets[2])


@st.composite
def schedules(draw: st.DrawFn, *, sparse_times: bool = False) -> GeneratedSchedule:
    """Valid schedules (never-firing ones filtered out), written with random blanks."""
    texts: list[str] = []
    sets: list[frozenset[int]] = []
    for i in range(5):
        text, values = draw(field(i))
        if i == 4:
            values = {v % 7 for v in values}
        texts.append(text)
        sets.append(frozenset(values))
    if sparse_times:
        m = draw(st.integers(0, 59))
        hours = draw(st.lists(st.integers(0, 23), min_size=1, max_size=3, unique=True))
        texts[0], texts[1] = str(m), ",".join(map(str, hours))
        sets[0], sets[1] = frozenset({m}), frozenset(hours)
    seps = draw(st.lists(st.sampled_from([" ", "  ", "\t", " \t"]), min_size=4, max_size=4))
    lead = draw(st.sampled_from(["", " ", "\t"]))
    trail = draw(st.sampled_from(["", " ", "\t "]))
    text = lead + texts[0] + "".join(s + t for s, t in zip(seps, texts[1:], strict=True)) + trail
    g = GeneratedSchedule(text, tuple(sets), texts[2].startswith("*"), texts[4].startswith("*"))
    if len(text) > 100 or not _fires_some_day(g):
        from hypothesis import reject

        reject()
    return g
