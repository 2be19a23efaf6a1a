"""The console's JSON documents (pure): committed settings + backup facts + a clock in, dicts out.

The page renders the same documents, so the API and the page never disagree.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from provisioner.console.state import Backup, Committed, Facts, RegistrySource
from provisioner.settings.cron import describe
from provisioner.status import build_status, overdue

_DAY_SECONDS = 86400


def days_until(moment: datetime | None, now: datetime) -> int | None:
    """Whole days left (rounded down; 0 once due); None when the moment is unknown."""
    if moment is None:
        return None
    return max(0, int((moment - now).total_seconds() // _DAY_SECONDS))


def _local(moment: datetime | None, zone: ZoneInfo) -> str | None:
    return moment.astimezone(zone).isoformat() if moment is not None else None


def _backup_json(backup: Backup, zone: ZoneInfo, now: datetime) -> dict[str, object]:
    return {
        "id": backup.id,
        "createdAt": _local(backup.created_at, zone),
        "deletesAt": _local(backup.deletes_at, zone),
        "daysUntilDeletion": days_until(backup.deletes_at, now),
    }


def _zone(committed: Committed) -> ZoneInfo:
    settings = committed.result.settings
    return ZoneInfo(settings.time_zone if settings is not None else "UTC")


def _last_json(facts: Facts, zone: ZoneInfo, now: datetime) -> dict[str, object] | None:
    if facts.last is None:
        return None
    last = facts.last
    return _backup_json(Backup(last.id, last.at, last.deletes_at), zone, now)


def registry_json(
    source: RegistrySource, committed: Committed, facts: Facts, now: datetime
) -> dict[str, object]:
    """``GET /registries/{name}``."""
    result, zone = committed.result, _zone(committed)
    settings = result.settings
    runs: list[str] = []
    is_overdue = False
    if settings is not None:
        status = build_status(
            source.name, settings, source="store", now=now, last=facts.last, backups_kept=None
        )
        runs = [run.isoformat() for run in status.next_runs]  # none while switched off
        is_overdue = settings.enabled and facts.last is not None and overdue(settings, facts.last.at, now)
    return {
        "registry": source.name,
        "branch": source.branch,
        "commit": committed.head,
        "values": {
            "path": source.values_path,
            "commit": committed.values_commit,
            "author": committed.author.to_json() if committed.author is not None else None,
        },
        "settings": settings.to_json() if settings is not None else None,
        "errors": [e.to_json() for e in result.errors],
        "written": dict(committed.written),  # when invalid: the values as the file writes them
        "scheduleText": describe(result.schedule) if result.schedule is not None else None,
        "nextRuns": runs,
        "warnings": list(result.warnings),
        "lastSuccessfulBackup": _last_json(facts, zone, now),
        "backups": [_backup_json(b, zone, now) for b in facts.kept] if facts.kept is not None else None,
        "overdue": is_overdue,
        "notices": list(facts.warnings),  # e.g. a newer backup that failed verification
    }


def summary_json(
    source: RegistrySource, committed: Committed, facts: Facts, now: datetime
) -> dict[str, object]:
    """One item of ``GET /registries``."""
    settings = committed.result.settings
    zone = _zone(committed)
    return {
        "registry": source.name,
        "valid": settings is not None,
        "enabled": settings.enabled if settings is not None else None,
        "schedule": settings.schedule if settings is not None else None,
        "timeZone": settings.time_zone if settings is not None else None,
        "lastSuccessfulBackup": _last_json(facts, zone, now),
        "overdue": bool(
            settings is not None
            and settings.enabled
            and facts.last is not None
            and overdue(settings, facts.last.at, now)
        ),
    }
