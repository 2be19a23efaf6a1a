"""Orphaned jobs: managed jobs (backup jobs, and ``Drill-registry-backup-*`` drill jobs: their marker
names the registry too) of registries that are no longer in the fleet.

They are disabled (Jenkins's own disable action), never deleted: the job keeps its history and the
registry's backups are not touched.
"""

from __future__ import annotations

from provisioner.errors import JenkinsFailure
from provisioner.fleet.file import FleetEntry
from provisioner.fleet.report import OrphanOutcome
from provisioner.jenkins.target import FleetTarget, JobPath, LiveIndex
from provisioner.jobs.marker import read_marker


def _split(full_name: str) -> JobPath:
    parts = full_name.split("/")
    return JobPath(folders=tuple(parts[:-1]), name=parts[-1])


def prune_orphans(
    target: FleetTarget, entries: list[FleetEntry], index: LiveIndex, *, dry_run: bool
) -> tuple[list[OrphanOutcome], list[str]]:
    """Disable (never delete) managed jobs whose registry is not in the fleet; their backups stay."""
    names = {entry.name for entry in entries}
    jobs = {entry.job.full_name: entry for entry in entries}
    orphans: list[OrphanOutcome] = []
    warnings: list[str] = []
    for item in sorted(index.items.values(), key=lambda i: i.full_name):
        if item.folder or item.full_name in jobs or item.description is None:
            continue
        marker = read_marker(item.description)
        if not marker.managed:
            continue
        if not marker.valid or marker.registry is None:
            warnings.append(
                f"job {item.full_name} is marked as managed but its applied-settings record is unreadable; "
                "not pruned (check it by hand)"
            )
            continue
        if marker.registry in names:  # not this registry's fleet job (that one was skipped above)
            warnings.append(
                f"job {item.full_name} is managed for registry {marker.registry!r}, whose job in the fleet "
                "is another one; left alone (delete or disable it by hand if it is a leftover)"
            )
            continue
        if item.disabled:
            orphans.append(OrphanOutcome(item.full_name, marker.registry, "already disabled"))
        elif dry_run:
            orphans.append(OrphanOutcome(item.full_name, marker.registry, "would be disabled"))
        else:
            try:
                target.disable_job(_split(item.full_name))
            except JenkinsFailure as exc:
                orphans.append(OrphanOutcome(item.full_name, marker.registry, "failed", exc.message))
                continue
            orphans.append(OrphanOutcome(item.full_name, marker.registry, "disabled"))
    return orphans, warnings
