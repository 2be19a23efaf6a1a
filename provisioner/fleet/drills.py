"""The drill jobs of a fleet (policy ``drills:``): one more unit of work per registry whose drill job is
managed, planned and applied by the same pipeline as the backup jobs.

A registry gets a drill unit when the policy has drills (its drill job is then created or kept right),
or when the listing shows a job where its drill job would be (with drills off, a managed one is
disabled, never deleted; anyone else's is left alone). With drills off and no such job, nothing is
added: no request, no planning, the run is what it was before drills existed.
"""

from __future__ import annotations

import dataclasses

from provisioner.errors import JenkinsFailure
from provisioner.fleet.file import FleetEntry
from provisioner.fleet.report import RegistryOutcome
from provisioner.jenkins.target import LiveIndex
from provisioner.jobs.drill import drill_job_path, drill_request
from provisioner.jobs.reconcile import ReconcileRequest
from provisioner.settings.policy import Policy


def job_units(entries: list[FleetEntry], policy: Policy, index: LiveIndex) -> list[FleetEntry]:
    """The backup job of every entry (in fleet-file order), then the drill jobs to manage."""
    drills = [
        dataclasses.replace(entry, job=drill_job_path(entry.job, entry.name), kind="drill")
        for entry in entries
    ]
    return entries + [d for d in drills if policy.drills is not None or index.job_exists(d.job) is not False]


def split_outcomes(outcomes: list[RegistryOutcome]) -> tuple[list[RegistryOutcome], list[RegistryOutcome]]:
    """(backup outcomes, drill outcomes). Left out: a drill unit that found nothing to manage (drills off
    and the job not ours: neither a result nor a failure), and one whose registry's values could not be
    read or validated (its backup outcome reports that very error)."""
    backups = [o for o in outcomes if o.entry.kind == "backup"]
    drills = [
        o
        for o in outcomes
        if o.entry.kind == "drill" and (o.result is not None or o.failure in ("jenkins", "internal"))
    ]
    return backups, drills


def drill_unit_request(
    entry: FleetEntry, backup: ReconcileRequest, policy: Policy, live_xml: str | None
) -> ReconcileRequest | RegistryOutcome:
    """The request of a drill unit (from its registry's backup request), or its outcome when there is
    nothing to plan: nothing to manage, or a managed job that cannot be judged (a failure)."""
    try:
        request = drill_request(backup, policy.drills, live_xml)
    except JenkinsFailure as exc:
        return RegistryOutcome(entry, backup, None, "jenkins", exc.message)
    return request if request is not None else RegistryOutcome(entry, None, None)
