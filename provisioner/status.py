"""What the admin console shows: the backup settings, the next runs, the last successful backup.

Pure: settings, a clock and the facts about the last backup in; the status object and its text out.
The facts come from a backup store (:mod:`provisioner.backup`) or from the job's last successful
build in Jenkins; :mod:`provisioner.commands.status` gathers them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from provisioner.errors import JenkinsFailure
from provisioner.settings.cron import describe, next_runs, parse_schedule
from provisioner.settings.model import BackupSettings

Source = Literal["store", "jenkins"]


@dataclass(frozen=True)
class LastBackup:
    id: str  # the backup id (store) or the build number (Jenkins)
    at: datetime  # aware
    deletes_at: datetime | None  # when retention may delete it (None: unknown)


@dataclass(frozen=True)
class LastDrill:
    backup_id: str
    at: datetime  # aware
    seconds: float  # how long the restore took: the measured recovery time


@dataclass(frozen=True)
class Status:
    registry: str
    settings: BackupSettings
    source: Source
    next_runs: list[datetime]
    last: LastBackup | None
    backups_kept: int | None
    warnings: list[str] = field(default_factory=list)
    last_drill: LastDrill | None = None

    def _local(self, moment: datetime | None) -> str | None:
        return moment.astimezone(ZoneInfo(self.settings.time_zone)).isoformat() if moment else None

    def to_json(self) -> dict[str, object]:
        last = None
        if self.last is not None:
            last = {
                "id": self.last.id,
                "at": self._local(self.last.at),
                "deletesAt": self._local(self.last.deletes_at),
            }
        return {
            "registry": self.registry,
            "enabled": self.settings.enabled,
            "schedule": self.settings.schedule,
            "timeZone": self.settings.time_zone,
            "expiresInDays": self.settings.expires_in_days,
            "nextRuns": [run.isoformat() for run in self.next_runs],
            "lastSuccessfulBackup": last,
            "backupsKept": self.backups_kept,
            "lastSuccessfulDrill": None
            if self.last_drill is None
            else {
                "id": self.last_drill.backup_id,
                "at": self._local(self.last_drill.at),
                "restoreSeconds": self.last_drill.seconds,
            },
            "warnings": list(self.warnings),
        }


def overdue(settings: BackupSettings, last_at: datetime, now: datetime) -> bool:
    """Whether two scheduled runs have come and gone since the last successful backup."""
    zone = ZoneInfo(settings.time_zone)
    runs = next_runs(parse_schedule(settings.schedule), zone, last_at, 2)
    return len(runs) == 2 and runs[1] <= now


def build_status(
    registry: str,
    settings: BackupSettings,
    *,
    source: Source,
    now: datetime,
    last: LastBackup | None,
    backups_kept: int | None,
    warnings: list[str] | None = None,
    last_drill: LastDrill | None = None,
) -> Status:
    found = list(warnings or [])
    zone = ZoneInfo(settings.time_zone)
    runs = next_runs(parse_schedule(settings.schedule), zone, now, 3) if settings.enabled else []
    if not settings.enabled:
        found.append(
            "automatic backups are off: no new backups are made; existing backups are kept "
            "(retention only runs after a backup)"
        )
    elif last is not None and overdue(settings, last.at, now):
        found.append(
            "the last successful backup is older than two scheduled runs: backups are failing or not running"
        )
    return Status(registry, settings, source, runs, last, backups_kept, found, last_drill)


def format_when(moment: datetime, zone: ZoneInfo) -> str:
    local = moment.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def render_text(status: Status) -> str:
    settings = status.settings
    zone = ZoneInfo(settings.time_zone)
    state = "on" if settings.enabled else "off"
    lines = [f"Registry: {status.registry}", f"Automatic backups: {state} ({settings.time_zone})"]
    lines.append(f"Schedule: {describe(parse_schedule(settings.schedule))} ({settings.schedule})")
    lines.append(f"Retention: {settings.expires_in_days} days")
    if status.next_runs:
        lines.append("Next runs:")
        lines.extend(f"  {format_when(run, zone)}" for run in status.next_runs)
    last = status.last
    if last is None:
        lines.append("Last successful backup: none yet")
    else:
        deletion = (
            f", to be deleted on or after {format_when(last.deletes_at, zone)}" if last.deletes_at else ""
        )
        lines.append(f"Last successful backup: {format_when(last.at, zone)}{deletion} ({_id_text(status)})")
        if status.source == "store":
            lines.append(
                "  (fixed when the backup was made: later retention changes do not move it; and retention "
                "never deletes the newest verified backup, so this is when it becomes eligible)"
            )
        else:
            lines.append("  (deletion date = the build's start + the EXPIRES_IN_HOURS it ran with)")
    if status.backups_kept is not None:
        lines.append(f"Backups kept: {status.backups_kept}")
    if status.last_drill is not None:
        drill = status.last_drill
        lines.append(
            f"Last successful drill: {format_when(drill.at, zone)} (backup {drill.backup_id} restored "
            f"and matched its manifest in {drill.seconds:g} s)"
        )
    lines.extend(f"warning: {warning}" for warning in status.warnings)
    return "\n".join(lines)


def _id_text(status: Status) -> str:
    assert status.last is not None
    return f"backup {status.last.id}" if status.source == "store" else f"Jenkins build #{status.last.id}"


# ---------------------------------------------------------------------------------------------
# The last backup from Jenkins: the job's last successful build, as its JSON API returns it

BUILD_TREE = "number,timestamp,actions[parameters[name,value]]"  # the fields last_from_build reads
_HOURS = re.compile(r"[0-9]{1,6}", re.ASCII)


def _parameters(build: dict[str, Any]) -> dict[str, object]:
    found: dict[str, object] = {}
    actions = build.get("actions")
    for action in actions if isinstance(actions, list) else []:
        parameters = action.get("parameters") if isinstance(action, dict) else None
        for parameter in parameters if isinstance(parameters, list) else []:
            if isinstance(parameter, dict) and isinstance(parameter.get("name"), str):
                found[parameter["name"]] = parameter.get("value")
    return found


def last_from_build(build: object, job: str) -> tuple[LastBackup, list[str]]:
    """A build's start, and start + the EXPIRES_IN_HOURS it ran with (unknown, with a warning, if absent).

    :class:`JenkinsFailure` when the build has no valid number and timestamp.
    """
    from provisioner.jobs.render import PARAM_EXPIRES

    number = build.get("number") if isinstance(build, dict) else None
    timestamp = build.get("timestamp") if isinstance(build, dict) else None
    if not isinstance(number, int) or isinstance(number, bool) or not isinstance(timestamp, int):
        raise JenkinsFailure(f"the last successful build of {job} has no valid number and timestamp")
    assert isinstance(build, dict)
    started = datetime.fromtimestamp(timestamp / 1000, UTC)
    hours = _parameters(build).get(PARAM_EXPIRES)
    if isinstance(hours, str) and _HOURS.fullmatch(hours):
        return LastBackup(str(number), started, started + timedelta(hours=int(hours))), []
    warning = (
        f"build #{number} has no valid {PARAM_EXPIRES} parameter ({hours!r}): its deletion date is unknown"
    )
    return LastBackup(str(number), started, None), [warning]
