"""Instants given on a command line (``--now``, ``--after``): one grammar for both CLIs.

ISO 8601 extended format with an explicit zone, ``YYYY-MM-DDTHH:MM[:SS[.ffffff]]`` then ``Z`` or
``+HH:MM``/``-HH:MM``. A time without a zone would mean "the clock of whatever machine runs this",
which differs between a laptop and a Jenkins agent; other ISO 8601 spellings (basic format, a space
instead of ``T``, week dates) are refused so a value means the same to ``provisioner`` and
``backup-registry``. Years 1970 to 9000 keep previews and daylight-saving scans inside the calendar.
"""

from __future__ import annotations

import re
from datetime import datetime

__all__ = ["MAX_YEAR", "MIN_YEAR", "InvalidInstant", "parse_instant"]

MIN_YEAR, MAX_YEAR = 1970, 9000
_MAX_LENGTH = 32  # the longest valid text is 32 characters (microseconds and an offset)
_INSTANT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2})",
    re.ASCII,
)
_NO_ZONE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?", re.ASCII)
_ALLOWED = "ISO 8601 with a zone, like 2026-11-22T19:30:00Z or 2026-11-22T21:30+02:00"


class InvalidInstant(ValueError):
    """The text is not an instant in the grammar above; the message says what is allowed."""


def parse_instant(text: str) -> datetime:
    """An aware datetime (with the offset given); :class:`InvalidInstant` for anything else."""
    shown = ascii(text[:40]) + ("..." if len(text) > 40 else "")
    if _NO_ZONE.fullmatch(text):
        raise InvalidInstant(f"{shown} needs a zone, a UTC offset (add Z or +HH:MM): whose clock is it?")
    if len(text) > _MAX_LENGTH or not _INSTANT.fullmatch(text):
        raise InvalidInstant(f"{shown} is not {_ALLOWED}")
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:  # month 13, February 30, offset +24:00
        raise InvalidInstant(f"{shown} is not a valid date and time ({exc})") from None
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise InvalidInstant(f"{shown} must lie in the years {MIN_YEAR} to {MAX_YEAR}")
    return value
