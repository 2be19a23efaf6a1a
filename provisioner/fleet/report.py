"""The outcome of a fleet run: per registry, per orphaned job, and the summary (pure data)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from provisioner.errors import ExitCode
from provisioner.fleet.file import FleetEntry
from provisioner.jobs.reconcile import ReconcileRequest, ReconcileResult

FailureKind = Literal["source", "settings", "jenkins", "internal"]
OrphanAction = Literal["disabled", "already disabled", "would be disabled", "failed"]


@dataclass(frozen=True)
class RegistryOutcome:
    entry: FleetEntry
    request: ReconcileRequest | None  # None when values could not be read or validated
    result: ReconcileResult | None
    failure: FailureKind | None = None
    error: str | None = None

    def to_json(self, dry_run: bool) -> dict[str, object]:
        if self.result is not None:
            return {**self.result.to_json(), "warnings": list(self.result.warnings), "error": None}
        return {
            "registry": self.entry.name,
            "job": self.entry.job.full_name,
            "action": "failed",
            "enabled": self.request.settings.enabled if self.request is not None else None,
            "drift": False,
            "dryRun": dry_run,
            "commit": self.request.commit if self.request is not None else None,
            "diff": None,
            "warnings": [],
            "error": self.error,
        }


@dataclass(frozen=True)
class OrphanOutcome:
    job: str
    registry: str
    action: OrphanAction
    error: str | None = None

    def to_json(self) -> dict[str, object]:
        return {"job": self.job, "registry": self.registry, "action": self.action, "error": self.error}


@dataclass(frozen=True)
class FleetReport:
    outcomes: list[RegistryOutcome]  # in fleet-file order
    orphans: list[OrphanOutcome]
    warnings: list[str]
    dry_run: bool
    drills: list[RegistryOutcome] = field(default_factory=list)  # the drill jobs managed (policy drills:)

    def summary(self) -> dict[str, int]:
        """Counts of the backup jobs (and failed orphans); the drill jobs are counted by drill_summary."""
        counts = _counts(self.outcomes)
        counts["failed"] += sum(1 for orphan in self.orphans if orphan.action == "failed")
        return counts

    def drill_summary(self) -> dict[str, int]:
        return _counts(self.drills)

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {
            "results": [outcome.to_json(self.dry_run) for outcome in self.outcomes],
            "summary": self.summary(),
            "orphans": [orphan.to_json() for orphan in self.orphans],
            "warnings": list(self.warnings),
        }
        if self.drills:  # only when there are drill jobs: without drills the report is what it was
            data["drills"] = {
                "results": [outcome.to_json(self.dry_run) for outcome in self.drills],
                "summary": self.drill_summary(),
            }
        return data

    def exit_code(self) -> ExitCode:
        """0 all done; 4 some failed; 1/2/3 when every job failed for the same kind of reason."""
        every = self.outcomes + self.drills
        kinds = {o.failure for o in every if o.failure is not None}
        orphan_failed = any(orphan.action == "failed" for orphan in self.orphans)
        if not kinds and not orphan_failed:
            return ExitCode.OK
        if all(o.failure is not None for o in every) and len(kinds) == 1 and not orphan_failed:
            kind = kinds.pop()
            return {
                "settings": ExitCode.INVALID_SETTINGS,
                "source": ExitCode.USAGE,
                "jenkins": ExitCode.JENKINS_FAILURE,
            }.get(kind, ExitCode.PARTIAL_FAILURE)
        return ExitCode.PARTIAL_FAILURE


def _counts(outcomes: list[RegistryOutcome]) -> dict[str, int]:
    counts = {"created": 0, "updated": 0, "unchanged": 0, "failed": 0, "drift": 0}
    for outcome in outcomes:
        if outcome.result is None:
            counts["failed"] += 1
            continue
        counts[outcome.result.action] += 1
        counts["drift"] += int(outcome.result.drift)
    return counts
