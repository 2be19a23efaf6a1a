"""Backup ids: the UTC second a backup was made, ``YYYYMMDDTHHMMSSZ``, and ``-01``..``-99`` when that
second is already taken. They sort as text in creation order, and every backend uses the same ids.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

__all__ = ["ID_PATTERN", "STAMP", "created_at", "is_backup_id", "new_backup_id"]

STAMP = "%Y%m%dT%H%M%SZ"  # strftime/strptime format of an id without its -NN suffix
ID_PATTERN = r"[0-9]{8}T[0-9]{6}Z(-[0-9]{2})?"  # for names built from an id (store.py's temp files)
_BACKUP_ID = re.compile(ID_PATTERN, re.ASCII)


def is_backup_id(text: str) -> bool:
    return _BACKUP_ID.fullmatch(text) is not None


def new_backup_id(now: datetime, taken: set[str]) -> str:
    """A sortable id from the UTC creation time; ``-01``..``-99`` appended if the second is taken."""
    base = now.astimezone(UTC).strftime(STAMP)
    if base not in taken:
        return base
    for n in range(1, 100):
        candidate = f"{base}-{n:02d}"
        if candidate not in taken:
            return candidate
    raise RuntimeError(f"more than 100 backups within the second {base}")


def created_at(backup_id: str) -> datetime:
    """The UTC second an id names (ValueError for a text that is not a backup id or not a date)."""
    if not is_backup_id(backup_id):
        raise ValueError(f"not a backup id: {backup_id[:40]!r}")
    return datetime.strptime(backup_id[:16], STAMP).replace(tzinfo=UTC)
