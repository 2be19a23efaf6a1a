"""Where the last successful backup comes from: a backup store (the newest backup whose checksum
verifies), or the Jenkins job's last successful build. Used by ``status``, ``status --fleet``,
``metrics`` and the admin console; the pure parts are :mod:`provisioner.status`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from provisioner.errors import UsageError

if TYPE_CHECKING:
    from provisioner.backup import BackupRecord
    from provisioner.jenkins.http import HttpTarget
    from provisioner.jenkins.target import JobPath
    from provisioner.status import LastBackup, LastDrill


def last_drill_from_store(store: Path, registry: str) -> LastDrill | None:
    """The most recent successful drill of any of the registry's backups (from their metadata)."""
    from provisioner.backup import list_backups
    from provisioner.backup.store import parse_utc
    from provisioner.status import LastDrill

    found: LastDrill | None = None
    for record in list_backups(store, registry):
        good = record.last_good_drill
        if good is None:
            continue
        at, seconds = parse_utc(str(good["at"])), good["seconds"]
        assert isinstance(seconds, int | float)
        if found is None or at > found.at:
            found = LastDrill(record.id, at, float(seconds))
    return found


def last_from_store(store: Path, registry: str) -> tuple[LastBackup | None, list[BackupRecord], list[str]]:
    """The newest backup whose checksum verifies, the backups the store keeps (newest first), warnings."""
    from provisioner.backup import list_backups, verify_backup
    from provisioner.status import LastBackup

    if not store.is_dir():
        raise UsageError(f"--store {store} is not a directory")
    try:
        records = list_backups(store, registry)
    except OSError as exc:
        raise UsageError(f"cannot read the backup store {store}: {exc.strerror or exc}") from exc
    warnings: list[str] = []
    failed: list[str] = []
    for record in records:
        if verify_backup(record):
            if failed:
                warnings.append(
                    f"newer backup(s) {', '.join(failed)} failed verification (size or checksum mismatch): "
                    f"the last good backup is {record.id}"
                )
            return LastBackup(record.id, record.created_at, record.expires_at), records, warnings
        failed.append(record.id)
    if failed:
        warnings.append(
            f"no backup verifies: {', '.join(failed)} failed verification (size or checksum mismatch)"
        )
    return None, records, warnings


def last_from_jenkins(target: HttpTarget, path: JobPath) -> tuple[LastBackup | None, list[str]]:
    """The job's last successful build: its start, and start + the EXPIRES_IN_HOURS it ran with."""
    from provisioner.status import BUILD_TREE, last_from_build

    name = path.full_name
    url = target.job_url(path)
    build = target.get_json(
        f"{url}lastSuccessfulBuild/api/json?tree={quote(BUILD_TREE, safe=',')}",
        what=f"reading the last successful build of {name}",
    )
    if build is None:  # no successful build, or no job at all: one more request tells which
        if target.get_json(f"{url}api/json?tree=name", what=f"reading job {name}") is None:
            return None, [f"job {name} does not exist in Jenkins: run reconcile to create it"]
        return None, []
    last, warnings = last_from_build(build, name)
    return last, warnings
