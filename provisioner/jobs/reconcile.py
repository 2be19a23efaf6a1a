"""Reconcile one registry's backup job: plan (desired vs live), then apply and read back.

:func:`plan_reconcile` is pure (texts and an ancestry answer in, a :class:`Plan` out);
:func:`reconcile_one` does the I/O through a :class:`~provisioner.jenkins.target.JobTarget`:
one read, then at most one write and one read-back. It keeps no state, so one target (one HTTP
session) can serve many registries from several threads at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from provisioner.errors import JenkinsFailure
from provisioner.gitsource import Author, ValuesSource
from provisioner.jenkins.configxml import (
    ConfigXmlError,
    JobFacts,
    description_of,
    element_facts,
    job_facts,
    parse_config,
)
from provisioner.jenkins.target import JobAlreadyExists, JobPath, JobTarget
from provisioner.jobs.jobxml import body_digest, diff_normalized, normalize_element
from provisioner.jobs.marker import AppliedMarker, JobKind, job_description, read_marker, without_digest
from provisioner.jobs.render import RenderedJob, render_job, template_version
from provisioner.settings.model import BackupSettings
from provisioner.settings.policy import DEFAULT_JOB_OPTIONS, JobOptions

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET

LOG = logging.getLogger("provisioner")

Action = Literal["created", "updated", "unchanged"]
AUDITED_FIELDS = ("enabled", "schedule", "expiresInDays", "timeZone")
Ancestry = Callable[[str, str], bool | None]  # (older, newer) -> is older an ancestor of newer?


@dataclass(frozen=True)
class ReconcileRequest:
    registry: str
    settings: BackupSettings
    source: ValuesSource | None
    job: JobPath
    dry_run: bool = False
    repo_dir: Path | None = None  # the git repository, for the staleness check
    jobs: JobOptions = DEFAULT_JOB_OPTIONS  # the policy's timeout and notification credentials
    kind: JobKind = "backup"  # "drill": the registry's restore-drill job (jobs/drill.py builds its request)
    want_diff: bool = True  # the plan carries the diff (reconcile-all's text report shows none)

    @property
    def commit(self) -> str | None:
        return self.source.commit if self.source is not None else None

    @property
    def actor(self) -> Author | None:
        return self.source.author if self.source is not None else None


@dataclass(frozen=True)
class ReconcileResult:
    registry: str
    job: str
    action: Action
    enabled: bool
    drift: bool
    dry_run: bool
    commit: str | None
    diff: str | None
    changes: dict[str, list[object]] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    stale: bool = False
    kind: JobKind = "backup"

    def to_json(self) -> dict[str, object]:
        """The JSON object ``provisioner reconcile --format json`` prints."""
        return {
            "registry": self.registry,
            "job": self.job,
            "action": self.action,
            "enabled": self.enabled,
            "drift": self.drift,
            "dryRun": self.dry_run,
            "commit": self.commit,
            "diff": self.diff,
        }


@dataclass(frozen=True)
class Plan:
    action: Action
    desired_xml: str | None  # None: not rendered (the live job was found to be it by its digest)
    drift: bool
    stale: bool
    diff: str | None
    changes: dict[str, list[object]]
    warnings: tuple[str, ...]
    desired_facts: JobFacts | None = None  # what the read-back must show (None: from desired_xml)


def _changes(old: BackupSettings | None, new: BackupSettings) -> dict[str, list[object]]:
    old_json = old.to_json() if old is not None else {}
    new_json = new.to_json()
    return {
        name: [old_json.get(name), new_json[name]]
        for name in AUDITED_FIELDS
        if old_json.get(name) != new_json[name] or old is None
    }


@dataclass(frozen=True)
class _RenderInputs:
    """Everything a job's config.xml is rendered from (the templates aside)."""

    settings: BackupSettings
    registry: str
    job_full_name: str
    source: ValuesSource | None
    jobs: JobOptions
    template: str  # template_version(), looked up once per plan
    kind: JobKind = "backup"

    def render(self) -> RenderedJob:
        return render_job(
            self.settings,
            registry=self.registry,
            job_full_name=self.job_full_name,
            source=self.source,
            jobs=self.jobs,
            template=self.template,
            kind=self.kind,
        )

    def description(self, digest: str) -> str:
        return job_description(
            self.settings,
            registry=self.registry,
            job_full_name=self.job_full_name,
            source=self.source,
            template=self.template,
            jobs=self.jobs,
            digest=digest,
            kind=self.kind,
        )


def _applied_inputs(marker: AppliedMarker, desired: _RenderInputs) -> _RenderInputs | None:
    """What the marker says the job was rendered from (None when that cannot be judged); what it
    does not say is taken from ``desired``."""
    if (
        not marker.valid
        or marker.settings is None
        or marker.jobs is None
        or marker.template != desired.template
    ):
        return None
    source = None
    if marker.path is not None:
        author = Author(**marker.author) if marker.author is not None else None
        source = ValuesSource(text="", path=marker.path, commit=marker.commit, author=author)
    job = marker.job or desired.job_full_name
    registry = marker.registry or desired.registry
    return _RenderInputs(marker.settings, registry, job, source, marker.jobs, desired.template, desired.kind)


class _Live:
    """The live job, parsed, and what is computed of it at most once however many questions ask."""

    def __init__(self, root: ET.Element) -> None:
        self.root = root
        self.description = description_of(root)
        self._digest: str | None = None

    @property
    def digest(self) -> str:
        """:func:`~provisioner.jobs.jobxml.body_digest` of the live job (one normalization)."""
        if self._digest is None:
            self._digest = body_digest(self.root, without_digest(self.description))
        return self._digest

    def is_rendering(self, desired: RenderedJob) -> bool:
        """Whether the live job means what ``desired`` does (normalized forms equal), told by its
        description and its body digest: equal descriptions, and the rest of both normalizes to the same
        text exactly when the digests (over that text and the description) are equal."""
        return self.description == description_of(desired.root) and self.digest == desired.digest


def _as_applied(live: _Live, marker: AppliedMarker, inputs: _RenderInputs) -> bool:
    """Whether the live job is still the one ``inputs`` render to, judged without rendering: its
    description is the one they give, and the rest still has the digest recorded when it was applied
    (together they see any edit made in Jenkins; a job without a digest is judged by rendering)."""
    if marker.digest is None or marker.settings != inputs.settings:  # the description tells them apart
        return False
    if live.description != inputs.description(marker.digest):
        return False
    return live.digest == marker.digest


def _drift(live: _Live, marker: AppliedMarker, desired: _RenderInputs) -> bool:
    """Whether the live job differs from what the provisioner last applied to it."""
    if not marker.valid:
        return True
    inputs = _applied_inputs(marker, desired)
    if inputs is None:
        return False  # applied by other templates: not judged
    if _as_applied(live, marker, inputs):
        return False
    return not live.is_rendering(inputs.render())


def plan_reconcile(request: ReconcileRequest, live_xml: str | None, ancestry: Ancestry | None) -> Plan:
    """Decide what to do. Raises JenkinsFailure for a job we must not touch."""
    name = request.job.full_name
    template = template_version(request.kind)  # once: it looks at the template files
    wanted = _RenderInputs(
        request.settings, request.registry, name, request.source, request.jobs, template, request.kind
    )
    if live_xml is None:
        desired = wanted.render()
        diff = None
        if request.want_diff:
            diff = diff_normalized("", normalize_element(desired.root), old_label="(no job)")
        facts = element_facts(desired.root)
        return Plan("created", desired.xml, False, False, diff, _changes(None, request.settings), (), facts)
    try:
        live = _Live(parse_config(live_xml))
    except ConfigXmlError as exc:
        raise JenkinsFailure(f"job {name} exists but its config.xml cannot be read: {exc}") from exc
    marker = read_marker(live.description)
    if not marker.managed:
        raise JenkinsFailure(
            f"job {name} exists but is not managed by registry-backup-provisioner (no marker in its "
            "description); refusing to overwrite it: rename or delete it in Jenkins, or pass --job-name"
        )
    if marker.valid and marker.registry is not None and marker.registry != request.registry:
        raise JenkinsFailure(
            f"job {name} is managed for registry {marker.registry!r}, not {request.registry!r}; "
            "refusing to overwrite it (pass --job-name)"
        )
    if marker.valid and marker.kind != request.kind:
        raise JenkinsFailure(
            f"job {name} is the {marker.kind} job of registry {marker.registry!r}, not its {request.kind} "
            "job; refusing to overwrite it (pass --job-name)"
        )
    # Cheapest first: the live job is what these very inputs render to (so unchanged, no drift, not
    # stale) when its description is the one they give and the rest still has the recorded digest.
    if marker.valid and _as_applied(live, marker, wanted):
        return Plan("unchanged", None, False, False, None, {}, ())
    desired = wanted.render()
    same = live.is_rendering(desired)
    # Live equal to desired means the live marker is the desired one, so what it says was applied
    # renders to the live job: no drift, and no second render.
    drift = _drift(live, marker, wanted) if not same else not marker.valid
    warnings: list[str] = []
    if drift:
        warnings.append(f"drift: job {name} was changed in Jenkins since the provisioner applied it")
    changes = _changes(marker.settings, request.settings)
    stale = False
    live_commit, commit = marker.commit, request.commit
    if live_commit and commit and live_commit != commit and ancestry is not None:
        older = ancestry(commit, live_commit)
        if older is True:
            stale = True
            warnings.append(
                f"stale: commit {commit[:12]} is an ancestor of {live_commit[:12]}, which job {name} "
                "was applied from (an older pipeline run finished late); not overwriting it"
            )
        elif older is None:
            warnings.append(
                f"job {name} was applied from commit {live_commit[:12]}, which this repository does not "
                f"know (history rewritten?); applying {commit[:12]} anyway"
            )
    if stale:
        return Plan("unchanged", desired.xml, drift, True, None, {}, tuple(warnings))
    if same:
        return Plan("unchanged", desired.xml, drift, False, None, {}, tuple(warnings))
    diff = None
    if request.want_diff:
        diff = diff_normalized(normalize_element(live.root), normalize_element(desired.root))
    facts = element_facts(desired.root)
    return Plan("updated", desired.xml, drift, False, diff, changes, tuple(warnings), facts)


def verify_read_back(name: str, desired_xml: str, live_xml: str | None, want: JobFacts | None = None) -> None:
    """Jenkins may silently drop a trigger (or anything it cannot load): check what matters survived.

    ``want``: the facts of ``desired_xml`` when the caller has them already (the plan does)."""
    if live_xml is None:
        raise JenkinsFailure(f"job {name} is missing right after it was written")
    if want is None:
        want = job_facts(desired_xml)
    try:
        got = job_facts(live_xml)
    except ConfigXmlError as exc:
        raise JenkinsFailure(f"job {name} did not read back as applied: {exc}") from exc
    problems = []
    if got.trigger_specs != want.trigger_specs:
        problems.append(
            f"timer trigger spec {list(got.trigger_specs)!r} instead of {list(want.trigger_specs)!r} "
            "(Jenkins drops a trigger it cannot parse)"
        )
    if got.parameters != want.parameters:
        problems.append(f"parameters {list(got.parameters)!r} instead of {list(want.parameters)!r}")
    if got.disabled != want.disabled:
        problems.append(f"disabled={str(got.disabled).lower()} instead of {str(want.disabled).lower()}")
    if problems:
        raise JenkinsFailure(f"job {name} did not read back as applied: " + "; ".join(problems))


def git_ancestry(repo_dir: Path) -> Ancestry:
    from provisioner.gitsource import is_ancestor

    return lambda older, newer: is_ancestor(repo_dir, older, newer)


def apply_plan(target: JobTarget, request: ReconcileRequest, plan: Plan) -> ReconcileResult:
    """Write what the plan says (unless dry-run or nothing to do) and read it back.

    A create that loses a race (another reconcile created the job after we found it missing) reads
    the job and reconciles it like any live job: both runs end with the job right.
    """
    name = request.job.full_name
    for warning in plan.warnings:
        LOG.warning("%s", warning)
    if plan.action != "unchanged" and not request.dry_run:
        try:
            _write(target, request, plan)
        except JobAlreadyExists as exc:
            live = target.read_job(request.job)
            if live is None:  # created and deleted again meanwhile: not worth a loop
                raise JenkinsFailure(f"{exc.message}; then it disappeared: run the reconcile again") from exc
            LOG.warning("job %s was created meanwhile by someone else: reconciling what is there now", name)
            ancestry = git_ancestry(request.repo_dir) if request.repo_dir is not None else None
            return apply_plan(target, request, plan_reconcile(request, live, ancestry))
    return ReconcileResult(
        registry=request.registry,
        job=name,
        action=plan.action,
        enabled=request.settings.enabled,
        drift=plan.drift,
        dry_run=request.dry_run,
        commit=request.commit,
        diff=plan.diff,
        changes=plan.changes,
        warnings=plan.warnings,
        stale=plan.stale,
        kind=request.kind,
    )


def _write(target: JobTarget, request: ReconcileRequest, plan: Plan) -> None:
    name = request.job.full_name
    assert plan.desired_xml is not None  # rendered for every job to create or update
    if plan.action == "created":
        target.create_job(request.job, plan.desired_xml)
    else:
        target.update_job(request.job, plan.desired_xml)
    verify_read_back(name, plan.desired_xml, target.read_job(request.job), plan.desired_facts)
    if plan.drift:
        LOG.warning("drift: restored job %s to the committed settings", name)


def reconcile_one(target: JobTarget, request: ReconcileRequest) -> ReconcileResult:
    """Read, plan, apply (unless dry-run or nothing to do), read back. JenkinsFailure on failure."""
    live = target.read_job(request.job)
    ancestry = git_ancestry(request.repo_dir) if request.repo_dir is not None else None
    return apply_plan(target, request, plan_reconcile(request, live, ancestry))
