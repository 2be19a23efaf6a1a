"""Time zone names that both Python's tz database (the ``tzdata`` package) and Java know."""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

# In tzdata 2026f but not in Java's TimeZone.getAvailableIDs() (OpenJDK 17.0.15, tzdb 2025a), or
# not a real zone: Jenkins rejects "TZ=<id>" for these. America/Coyhaique is newer than 2025a.
_NOT_IN_JAVA = frozenset({"Factory", "GMT+0", "GMT-0", "ROC", "America/Coyhaique", "localtime", "posixrules"})

DEFAULT_TIME_ZONE = "Europe/Kiev"


@cache
def known_time_zones() -> frozenset[str]:
    """Exact (case-sensitive) keys from the tzdata package's list, minus names Java lacks."""
    # the tzdata package lists its zones in a plain file (importlib.resources would cost more to import)
    spec = importlib.util.find_spec("tzdata")
    if spec is None or spec.origin is None:  # pragma: no cover - tzdata is a dependency
        raise RuntimeError("the tzdata package is missing: pip install tzdata")
    listing = (Path(spec.origin).parent / "zones").read_text(encoding="utf-8")
    names = frozenset(listing.split())
    return frozenset(
        n for n in names if n not in _NOT_IN_JAVA and not n.startswith(("posix/", "right/", "SystemV/"))
    )


def time_zone_problem(name: str) -> str | None:
    """None when ``name`` is acceptable, else what is wrong with it."""
    if not name:
        return "the time zone is empty"
    if any(not ch.isprintable() or ch.isspace() for ch in name):
        return "the time zone contains blanks or control characters"
    if name in known_time_zones():
        return None
    folded = {z.lower(): z for z in known_time_zones()}
    if name.lower() in folded:
        return f"time zone names are case-sensitive: did you mean {folded[name.lower()]!r}?"
    if name.startswith(("/", ".")) or ".." in name:
        return "a path is not a time zone name"
    return (
        "not an IANA time zone name known to both Python and Java (e.g. Europe/Kiev, Europe/Kyiv, UTC, "
        "America/New_York); POSIX TZ strings, localtime, posixrules, Factory, posix/... and right/... "
        "are not accepted"
    )
