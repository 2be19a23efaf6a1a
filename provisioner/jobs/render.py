"""Render the Create-registry-backup job, the Drill-registry-backup job (and folder) config.xml from
the Jinja2 templates.

Pure apart from reading the templates: every value is computed here and the templates only place
them. The environment autoescapes XML and uses ``StrictUndefined``; every rendered document is
parsed before it is returned, so a template mistake can never reach Jenkins.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from provisioner.errors import ProvisionerError, UsageError
from provisioner.jobs.marker import DIGEST_PREFIX, JobKind, job_description, without_digest
from provisioner.settings.policy import DEFAULT_JOB_OPTIONS, JobOptions

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET

    import jinja2

    from provisioner.gitsource import ValuesSource
    from provisioner.settings.model import BackupSettings

TEMPLATES_ENV = "PROVISIONER_JOB_TEMPLATES"
JOB_TEMPLATE = "pipeline-job.xml.j2"
FOLDER_TEMPLATE = "folder.xml.j2"
SCRIPT_TEMPLATE = "pipeline-script.groovy.j2"
DRILL_SCRIPT_TEMPLATE = "drill-script.groovy.j2"
# What each kind of job is rendered from (its template version digests these): the backup job's list
# is the one it always had, so adding drills changed no backup job.
KIND_TEMPLATES: dict[JobKind, tuple[str, ...]] = {
    "backup": (JOB_TEMPLATE, FOLDER_TEMPLATE, SCRIPT_TEMPLATE),
    "drill": (JOB_TEMPLATE, FOLDER_TEMPLATE, DRILL_SCRIPT_TEMPLATE),
}
TEMPLATE_FILES = (JOB_TEMPLATE, FOLDER_TEMPLATE, SCRIPT_TEMPLATE, DRILL_SCRIPT_TEMPLATE)

JOB_NAME_PREFIX = "Create-registry-backup-"
DRILL_JOB_NAME_PREFIX = "Drill-registry-backup-"
PARAM_REGISTRY = "REGISTRY_NAME"
PARAM_EXPIRES = "EXPIRES_IN_HOURS"
# Changed when the description's lines change: jobs applied before are then not judged for drift
# (they are re-applied once, as after a template change). 2: the provisioner-digest line.
RENDER_FORMAT = "2"
DIGEST_SLOT = "n1-sha256:" + "0" * 64  # where the digest goes, before it is known (same length)

# Characters XML 1.0 cannot carry at all, even escaped (Jenkins would answer 500).
_NOT_XML = re.compile(r"[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class TemplateError(ProvisionerError):
    """The job templates are missing or render to something that is not XML (exit 2)."""


@dataclass(frozen=True)
class BuildDiscarder:
    days_to_keep: int = -1
    num_to_keep: int = 50
    artifact_days_to_keep: int = -1
    artifact_num_to_keep: int = -1


@dataclass(frozen=True)
class StringParameter:
    name: str
    default: str
    description: str


_CHECKOUT_TEMPLATES = Path(__file__).resolve().parents[2] / "job-templates"
_INSTALLED_TEMPLATES = ("share", "registry-backup-provisioner", "job-templates")
# Where the templates were found, by what decides it ($PROVISIONER_JOB_TEMPLATES, the checkout, the
# install prefix): looked up once per process, as a fleet renders thousands of jobs.
_FOUND_TEMPLATES: dict[tuple[str | None, Path, str], Path] = {}


def _default_templates() -> Path:
    """The checkout's job-templates/ (source tree, editable install), else the installed copy."""
    if (_CHECKOUT_TEMPLATES / JOB_TEMPLATE).is_file():
        return _CHECKOUT_TEMPLATES
    return Path(sys.prefix).joinpath(*_INSTALLED_TEMPLATES)


def templates_dir() -> Path:
    """$PROVISIONER_JOB_TEMPLATES, else ``job-templates/`` of the checkout, else the installed copy in
    ``<prefix>/share/registry-backup-provisioner/job-templates`` (a wheel install)."""
    override = os.environ.get(TEMPLATES_ENV) or None
    key = (override, _CHECKOUT_TEMPLATES, sys.prefix)
    found = _FOUND_TEMPLATES.get(key)
    if found is not None:
        return found
    candidate = Path(override) if override else _default_templates()
    # The drill's template is not required here: a templates directory made before drills existed
    # serves the backup jobs as before (rendering a drill job names it when it is missing).
    missing = [name for name in KIND_TEMPLATES["backup"] if not (candidate / name).is_file()]
    if missing:
        raise TemplateError(
            f"job templates not found in {candidate} (missing {', '.join(missing)}): reinstall the "
            f"provisioner (pip install registry-backup-provisioner, or pip install -e . from a checkout) "
            f"or set {TEMPLATES_ENV} to a job-templates directory"
        )
    _FOUND_TEMPLATES[key] = candidate
    return candidate


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: a cache key of _script_text
class _Compiled:
    job: jinja2.Template
    script: jinja2.Template
    folder: jinja2.Template


@functools.lru_cache(maxsize=8)
def _compiled(directory: str, kind: JobKind, version: str) -> _Compiled:
    """The templates of ``kind`` (the folder's among them) compiled once per version:
    :func:`template_version` digests their sources, so an edited template is another version and is
    compiled anew (no stat per render)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(directory),
        autoescape=jinja2.select_autoescape(enabled_extensions=("xml", "xml.j2"), default_for_string=True),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=False,
        lstrip_blocks=False,
        auto_reload=False,
    )
    script = DRILL_SCRIPT_TEMPLATE if kind == "drill" else SCRIPT_TEMPLATE
    return _Compiled(
        env.get_template(JOB_TEMPLATE), env.get_template(script), env.get_template(FOLDER_TEMPLATE)
    )


def _templates(kind: JobKind, version: str | None = None) -> _Compiled:
    """The compiled templates of ``kind`` in :func:`templates_dir`, at ``version`` (default: the
    current :func:`template_version`, when the caller does not have it already)."""
    return _compiled(str(templates_dir()), kind, version or template_version(kind))


@functools.lru_cache(maxsize=64)
def _script_text(compiled: _Compiled, jobs: JobOptions) -> str:
    """The pipeline script: the same for every job rendered with these options (rendered once)."""
    return compiled.script.render(
        timeout_minutes=int(jobs.timeout_minutes),
        notify_credential_id=jobs.notify_credential_id,
        ping_credential_id=jobs.ping_credential_id,
    )


def environment() -> jinja2.Environment:
    """The Jinja2 environment the job templates are compiled in (strict, autoescaping)."""
    return _templates("backup").job.environment


def warm_up() -> None:
    """Load Jinja2 and compile the job and folder templates before the first job is rendered (a
    fleet's planning workers inherit them when forked, instead of compiling them each)."""
    _templates("backup")


def template_version(kind: JobKind = "backup") -> str:
    """A short digest of the template sources of this kind of job and of what this module adds to them
    (RENDER_FORMAT): a job rendered otherwise is not judged for drift."""
    directory = templates_dir()
    names = KIND_TEMPLATES[kind]
    try:
        # Keyed by the files' stat, so an edited template is noticed without re-reading it on every render.
        stamp = tuple(
            (st.st_mtime_ns, st.st_size, st.st_ino) for st in (os.stat(directory / n) for n in names)
        )
    except FileNotFoundError as exc:
        raise TemplateError(
            f"job template {Path(exc.filename or '').name} not found in {directory}: the {kind} job "
            f"cannot be rendered (add it from the provisioner's job-templates/, or unset {TEMPLATES_ENV})"
        ) from exc
    return _template_digest(str(directory), names, stamp)


@functools.lru_cache(maxsize=16)
def _template_digest(directory: str, names: tuple[str, ...], stamp: tuple[tuple[int, int, int], ...]) -> str:
    digest = hashlib.sha256(RENDER_FORMAT.encode())
    for name in names:
        digest.update(name.encode())
        digest.update((Path(directory) / name).read_bytes())
    return digest.hexdigest()[:16]


def default_job_name(registry: str) -> str:
    return f"{JOB_NAME_PREFIX}{registry}"


def drill_job_name(registry: str) -> str:
    """The drill job's name; it lives in the backup job's folder, whatever the backup job is named."""
    return f"{DRILL_JOB_NAME_PREFIX}{registry}"


def check_backup_job_name(name: str, what: str) -> str:
    """A backup job may be named anything Jenkins allows but a drill job's name: the two jobs of one
    registry (or of two) must never be one job."""
    if name.startswith(DRILL_JOB_NAME_PREFIX):
        raise UsageError(
            f"{what} {name!r}: names starting with {DRILL_JOB_NAME_PREFIX!r} are the drill jobs' "
            "(policy drills:); choose another name for the backup job"
        )
    return name


def _xml_safe(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def spec_text(settings: BackupSettings) -> str:
    """``TZ=<zone>`` on line 1, then explicit five-field lines (never a macro, never ``H``)."""
    from provisioner.settings.cron import jenkins_spec_lines, parse_schedule

    lines = jenkins_spec_lines(parse_schedule(settings.schedule))
    return "\n".join([f"TZ={settings.time_zone}", *lines])


def render_script(jobs: JobOptions = DEFAULT_JOB_OPTIONS) -> str:
    """The pipeline script (Groovy): the timeout, and the notify and ping steps the policy asks for."""
    return _script_text(_templates("backup"), jobs)


def render_drill_script(jobs: JobOptions = DEFAULT_JOB_OPTIONS) -> str:
    """The drill job's pipeline script (Groovy): ``backup-registry drill --latest`` within the timeout."""
    return _script_text(_templates("drill"), jobs)


def _parameters(kind: JobKind, registry: str, settings: BackupSettings) -> list[StringParameter]:
    if kind == "drill":
        return [
            StringParameter(
                PARAM_REGISTRY, registry, "Registry whose newest backup the drill restores (do not change)."
            )
        ]
    return [
        StringParameter(
            PARAM_REGISTRY, registry, "Registry to back up (from the job settings; do not change)."
        ),
        StringParameter(
            PARAM_EXPIRES,
            str(settings.expires_in_hours),
            "Retention of the backup in hours (24 x global.registryBackup.expiresInDays).",
        ),
    ]


@dataclass(frozen=True)
class RenderedJob:
    xml: str  # the config.xml text to send
    root: ET.Element  # the same, parsed (callers normalize it instead of parsing the text again)
    digest: str  # the body digest recorded in its description (see jobxml.body_digest)


def render_job(
    settings: BackupSettings,
    *,
    registry: str,
    job_full_name: str,
    source: ValuesSource | None,
    jobs: JobOptions = DEFAULT_JOB_OPTIONS,
    template: str | None = None,
    kind: JobKind = "backup",
) -> RenderedJob:
    """The job's config.xml, parsed, with the digest of everything but its description recorded in
    the description (the description is no part of what it digests, so one rendering serves).
    ``template``: :func:`template_version`, when the caller has it already. ``kind``: the backup job,
    or the drill job (``settings`` then carry the drill's schedule and whether it is enabled)."""
    from provisioner.jobs.jobxml import body_digest

    version = template or template_version(kind)
    description = job_description(
        settings,
        registry=registry,
        job_full_name=job_full_name,
        source=source,
        template=version,
        jobs=jobs,
        digest=DIGEST_SLOT,
        kind=kind,
    )
    compiled = _templates(kind, version)
    text = compiled.job.render(
        description=_xml_safe(description),
        discarder=BuildDiscarder(),
        parameters=_parameters(kind, registry, settings),
        spec=spec_text(settings),
        script=_script_text(compiled, jobs),
        disabled="false" if settings.enabled else "true",
    )
    root = _check_xml(text, JOB_TEMPLATE)
    element = root.find("description")
    slot = "\n" + DIGEST_PREFIX + DIGEST_SLOT + "\n"  # a line of its own: no value can contain it
    if element is None or element.text is None or text.count(slot) != 1:
        raise TemplateError(f"template {JOB_TEMPLATE} must place the description once, in <description>")
    digest = body_digest(root, without_digest(element.text))
    line = "\n" + DIGEST_PREFIX + digest + "\n"
    element.text = element.text.replace(slot, line, 1)
    return RenderedJob(text.replace(slot, line, 1), root, digest)


def render_job_config(
    settings: BackupSettings,
    *,
    registry: str,
    job_full_name: str,
    source: ValuesSource | None,
    jobs: JobOptions = DEFAULT_JOB_OPTIONS,
    kind: JobKind = "backup",
) -> str:
    """The job's config.xml (UTF-8 text with an XML declaration)."""
    return render_job(
        settings, registry=registry, job_full_name=job_full_name, source=source, jobs=jobs, kind=kind
    ).xml


def render_folder_config(folder_full_name: str) -> str:
    text = _templates("backup").folder.render(
        description=_xml_safe(f"Folder {folder_full_name}, created by registry-backup-provisioner.")
    )
    _check_xml(text, FOLDER_TEMPLATE)
    return text


def _check_xml(text: str, name: str) -> ET.Element:
    from provisioner.jenkins.configxml import ConfigXmlError, parse_config

    try:
        return parse_config(text)
    except ConfigXmlError as exc:
        raise TemplateError(f"template {name} rendered invalid XML: {exc}") from exc
