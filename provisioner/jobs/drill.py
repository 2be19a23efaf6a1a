"""A registry's scheduled restore drill job (policy ``drills:``): which job, and what it should be.

The drill job, ``Drill-registry-backup-<registry>`` in the backup job's folder, runs ``backup-registry
drill --latest`` on the policy's drill schedule in the registry's time zone. It goes through the same
plan and apply as the backup job (:mod:`provisioner.jobs.reconcile`): same marker and ownership rules,
drift detection, stale-commit check and read-back; only its request differs:

- drills on: the policy's schedule, enabled exactly when the registry's backups are;
- drills off: an existing drill job the provisioner manages is disabled (never deleted), its schedule
  kept from its record; without such a job there is nothing to do (no job is created).
"""

from __future__ import annotations

import dataclasses

from provisioner.errors import JenkinsFailure
from provisioner.jenkins.configxml import ConfigXmlError, element_facts, parse_config
from provisioner.jenkins.target import JobPath, JobTarget
from provisioner.jobs.marker import read_marker
from provisioner.jobs.reconcile import (
    ReconcileRequest,
    ReconcileResult,
    apply_plan,
    git_ancestry,
    plan_reconcile,
)
from provisioner.jobs.render import drill_job_name
from provisioner.settings.model import BackupSettings
from provisioner.settings.policy import DrillOptions


def drill_job_path(backup_job: JobPath, registry: str) -> JobPath:
    """The drill job lives beside the backup job (same folders), whatever the backup job is named."""
    return JobPath(folders=backup_job.folders, name=drill_job_name(registry))


def drill_settings(backup: BackupSettings, drills: DrillOptions) -> BackupSettings:
    """What the drill job is rendered from while drills are on: the policy's schedule, in the registry's
    time zone, enabled exactly when its backups are (the retention is recorded, not used)."""
    return dataclasses.replace(backup, schedule=drills.schedule)


def drill_request(
    backup: ReconcileRequest, drills: DrillOptions | None, live_xml: str | None
) -> ReconcileRequest | None:
    """The drill job's request, derived from the backup job's; None when there is nothing to manage
    (drills off and no drill job of ours). ``live_xml``: the drill job's live config.xml (or None).

    Raises JenkinsFailure when drills are off and the job says it is managed but its record cannot be
    read: there is no schedule to render it with, so it is left for a person to look at.
    """
    path = drill_job_path(backup.job, backup.registry)
    if drills is not None:
        settings = drill_settings(backup.settings, drills)
    else:
        if live_xml is None:
            return None
        try:
            marker = read_marker(element_facts(parse_config(live_xml)).description)
        except ConfigXmlError:
            return None  # drills are off: a job we cannot even read is not one we would touch
        if not marker.managed:
            return None  # not ours: left alone
        if not marker.valid or marker.settings is None:
            raise JenkinsFailure(
                f"drills are off in the policy, and job {path.full_name} is marked as managed but its "
                "applied-settings record is unreadable: not disabled (check it by hand)"
            )
        settings = dataclasses.replace(marker.settings, enabled=False)
    return dataclasses.replace(backup, settings=settings, job=path, kind="drill")


def reconcile_drill(
    target: JobTarget, backup: ReconcileRequest, drills: DrillOptions | None
) -> tuple[ReconcileRequest, ReconcileResult] | None:
    """Read the drill job, plan, apply (unless dry-run or nothing to do), read back; None when there is
    nothing to manage. JenkinsFailure on failure, as :func:`~provisioner.jobs.reconcile.reconcile_one`."""
    path = drill_job_path(backup.job, backup.registry)
    live = target.read_job(path)
    request = drill_request(backup, drills, live)
    if request is None:
        return None
    ancestry = git_ancestry(request.repo_dir) if request.repo_dir is not None else None
    return request, apply_plan(target, request, plan_reconcile(request, live, ancestry))
