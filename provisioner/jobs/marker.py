"""The managed marker: what the provisioner writes into a job's description, and reads back.

The description's first line says the job is managed (the provisioner never modifies or deletes a job
without it); its last two lines are the fingerprint of the applied settings and a JSON record of what
was applied (registry, job, source commit and author, settings, template version). Writing and reading
live here together so that the two can never drift apart. Everything read back is untrusted: a record
that does not parse, whose settings do not match its fingerprint, or whose settings values.yaml could
not hold, is "managed but not valid" (drift).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from provisioner.settings.model import BackupSettings
from provisioner.settings.policy import JobOptions

if TYPE_CHECKING:
    from provisioner.gitsource import ValuesSource

MANAGED_MARKER = "Managed by registry-backup-provisioner"
FINGERPRINT_PREFIX = "provisioner-fingerprint: "
DIGEST_PREFIX = "provisioner-digest: "
APPLIED_PREFIX = "provisioner-applied: "
MARKER_VERSION = 1
# Which job of a registry: its backup job, or its scheduled restore drill (policy ``drills:``). The
# record of a backup job carries no kind (as before drills existed), a drill job's says "drill".
JobKind = Literal["backup", "drill"]
_FIRST_LINE = {
    "backup": f"{MANAGED_MARKER} (do not edit in Jenkins: change global.registryBackup in the registry's "
    "values.yaml and let the pipeline apply it; edits made here are reverted).",
    "drill": f"{MANAGED_MARKER}: the scheduled restore drill of this registry's backups (do not edit in "
    "Jenkins: its schedule is drills.schedule of the provisioner policy, it is enabled with the "
    "registry's backups; edits made here are reverted).",
}

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


@functools.lru_cache(maxsize=1024)  # pure; a plan fingerprints the old and the new settings twice each
def fingerprint(settings: BackupSettings) -> str:
    """``sha256:<hex>`` of the settings' canonical JSON: what the job was applied from."""
    canonical = json.dumps(settings.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def _one_line(text: str) -> str:
    """For the human-readable description lines: no line breaks or control characters."""
    return _CONTROL.sub(" ", text)


def job_description(
    settings: BackupSettings,
    *,
    registry: str,
    job_full_name: str,
    source: ValuesSource | None,
    template: str,
    jobs: JobOptions,
    digest: str | None = None,
    kind: JobKind = "backup",
) -> str:
    """The description: what the job is, the digest of the rest of the job as rendered (see
    :func:`provisioner.jobs.jobxml.body_digest`) and, last, the record of what was applied."""
    author = source.author if source is not None else None
    record = {
        "v": MARKER_VERSION,
        "registry": registry,
        "job": job_full_name,
        "path": source.path if source is not None else None,
        "commit": source.commit if source is not None else None,
        "author": author.to_json() if author is not None else None,
        "settings": settings.to_json(),
        "template": template,
        "jobs": jobs.to_json(),
    }
    if kind != "backup":
        record["kind"] = kind
    lines = [_FIRST_LINE[kind], f"Registry: {_one_line(registry)}"]
    if source is not None and source.commit is not None:
        who = "unknown author"
        if source.author is not None:
            who = f"{_one_line(source.author.name)} <{_one_line(source.author.email)}>"
        lines.append(f"Source: {_one_line(source.path)} at commit {source.commit} by {who}")
    elif source is not None:
        lines.append(f"Source: {_one_line(source.path)} (not from git)")
    if digest is not None:
        lines.append(DIGEST_PREFIX + _one_line(digest))
    lines.append(FINGERPRINT_PREFIX + fingerprint(settings))
    lines.append(
        APPLIED_PREFIX + json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    )
    return "\n".join(lines)


def without_digest(description: str) -> str:
    """The description without its digest line (what :func:`provisioner.jobs.jobxml.body_digest`
    covers of it)."""
    return "\n".join(line for line in description.split("\n") if not line.startswith(DIGEST_PREFIX))


@dataclass(frozen=True)
class AppliedMarker:
    """What the provisioner recorded in the description when it last applied the job."""

    managed: bool  # the description carries our "managed by" line
    valid: bool  # the applied-settings record parses and matches its fingerprint
    registry: str | None = None
    job: str | None = None
    path: str | None = None
    commit: str | None = None
    author: dict[str, str] | None = None
    settings: BackupSettings | None = None
    template: str | None = None
    jobs: JobOptions | None = None  # the policy's job options it was rendered with (None: unknown)
    digest: str | None = None  # body_digest when applied (None: applied by a version without it)
    kind: JobKind = "backup"  # which of the registry's jobs the record says this is


def _settings_from_json(data: Any) -> BackupSettings | None:
    if not isinstance(data, dict):
        return None
    enabled, schedule = data.get("enabled"), data.get("schedule")
    days, zone = data.get("expiresInDays"), data.get("timeZone")
    if not (isinstance(enabled, bool) and isinstance(schedule, str) and isinstance(zone, str)):
        return None
    if not isinstance(days, int) or isinstance(days, bool) or days < 1:
        return None
    if not _could_be_committed(schedule, zone):
        return None
    return BackupSettings(enabled=enabled, schedule=schedule, expires_in_days=days, time_zone=zone)


def _jobs_from_json(data: Any) -> JobOptions | None:
    if not isinstance(data, dict):
        return None
    timeout, notify, ping = (
        data.get("timeoutMinutes"),
        data.get("notifyCredentialId"),
        data.get("pingCredentialId"),
    )
    if not isinstance(timeout, int) or isinstance(timeout, bool):
        return None
    if not all(value is None or isinstance(value, str) for value in (notify, ping)):
        return None
    try:
        return JobOptions(timeout_minutes=timeout, notify_credential_id=notify, ping_credential_id=ping)
    except ValueError:
        return None


def _could_be_committed(schedule: str, zone: str) -> bool:
    """Whether values.yaml validation would let this schedule and zone through (what rendering needs).

    A hand edit with a matching fingerprint (a Jenkins ``H 19 * * *``, an unknown zone) is then a record
    that is not valid, i.e. drift, instead of an error while rendering what it says was applied.
    """
    from provisioner.settings.cron import ScheduleError, parse_schedule
    from provisioner.settings.timezones import time_zone_problem

    try:
        parse_schedule(schedule)
    except ScheduleError:
        return False
    return time_zone_problem(zone) is None


def _optional_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def read_marker(description: str) -> AppliedMarker:
    """Parse the managed marker and the applied-settings record back from a job description."""
    lines = description.splitlines()
    if not lines or not lines[0].startswith(MANAGED_MARKER):
        return AppliedMarker(managed=False, valid=False)
    # The record is written last; earlier lines hold free text (author names) and are not trusted.
    applied = [line for line in lines if line.startswith(APPLIED_PREFIX)]
    prints = [line for line in lines if line.startswith(FINGERPRINT_PREFIX)]
    if not applied or not prints or lines[-1] != applied[-1]:
        return AppliedMarker(managed=True, valid=False)
    try:
        record = json.loads(applied[-1][len(APPLIED_PREFIX) :])
    except ValueError:
        return AppliedMarker(managed=True, valid=False)
    if not isinstance(record, dict):
        return AppliedMarker(managed=True, valid=False)
    kind = record.get("kind", "backup")
    if kind not in ("backup", "drill"):
        return AppliedMarker(managed=True, valid=False)
    settings = _settings_from_json(record.get("settings"))
    if settings is None or prints[-1] != FINGERPRINT_PREFIX + fingerprint(settings):
        return AppliedMarker(managed=True, valid=False)
    author = record.get("author")
    author_json = None
    if isinstance(author, dict) and all(isinstance(author.get(k), str) for k in ("name", "email")):
        author_json = {"name": str(author["name"]), "email": str(author["email"])}
    digests = [line for line in lines if line.startswith(DIGEST_PREFIX)]
    return AppliedMarker(
        managed=True,
        valid=True,
        digest=digests[-1][len(DIGEST_PREFIX) :] if digests else None,
        registry=_optional_str(record.get("registry")),
        job=_optional_str(record.get("job")),
        path=_optional_str(record.get("path")),
        commit=_optional_str(record.get("commit")),
        author=author_json,
        settings=settings,
        template=_optional_str(record.get("template")),
        jobs=_jobs_from_json(record.get("jobs")),
        kind="drill" if kind == "drill" else "backup",
    )
