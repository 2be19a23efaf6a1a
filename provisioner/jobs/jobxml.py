"""Compare job config.xml by what it means, not by its bytes. Pure: text in, data out.

Jenkins never returns the posted bytes (jenkins-facts.md §2, §3.3): it writes an XML 1.1
declaration, its own element order and indentation, ``plugin="name@version"`` attributes and
default fields such as ``abortPrevious``. :func:`normalize_config` removes all of that:

* the declaration and whitespace-only text between elements are dropped;
* ``plugin`` attributes are dropped (other attributes, e.g. ``class``, are kept);
* fields Jenkins adds with their default value are added when absent;
* siblings are sorted, except inside containers whose order means something (parameter order,
  string arrays), so Jenkins's field order does not matter.

The normalized form is an indented text, one element per line, which is also what diffs show.
"""

from __future__ import annotations

import difflib
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from json.encoder import encode_basestring  # json.dumps(str, ensure_ascii=False), without its overhead
from typing import Any

from provisioner.jobs.render import APPLIED_PREFIX, FINGERPRINT_PREFIX, MANAGED_MARKER, fingerprint
from provisioner.settings.model import BackupSettings

TIMER_TRIGGER = "hudson.triggers.TimerTrigger"
PARAMS_PROPERTY = "hudson.model.ParametersDefinitionProperty"
WORKFLOW_JOB = "flow-definition"

# Element (tag, or class attribute for polymorphic fields) -> fields Jenkins writes with a default.
_DEFAULTS: dict[str, tuple[tuple[str, str], ...]] = {
    WORKFLOW_JOB: (
        ("actions", ""),
        ("description", ""),
        ("keepDependencies", "false"),
        ("properties", ""),
        ("triggers", ""),
        ("disabled", "false"),
    ),
    "org.jenkinsci.plugins.workflow.job.properties.DisableConcurrentBuildsJobProperty": (
        ("abortPrevious", "false"),
    ),
    "hudson.model.StringParameterDefinition": (("description", ""), ("trim", "false")),
    "org.jenkinsci.plugins.workflow.cps.CpsFlowDefinition": (("sandbox", "false"),),
    "hudson.tasks.LogRotator": (
        ("daysToKeep", "-1"),
        ("numToKeep", "-1"),
        ("artifactDaysToKeep", "-1"),
        ("artifactNumToKeep", "-1"),
    ),
}
# Containers whose children keep their order (it is shown to users or is the value itself).
_ORDERED = frozenset({"parameterDefinitions", "a", "string-array", "choices"})
_MAX_CONFIG_CHARS = 5_000_000


class ConfigXmlError(ValueError):
    """Not a config.xml this tool can read (malformed, DOCTYPE, too large)."""


def parse_config(xml: str | bytes) -> ET.Element:
    """Parse config.xml text; refuses DTDs/entities (no entity expansion from a server's answer)."""
    data = xml.encode("utf-8") if isinstance(xml, str) else xml
    if len(data) > _MAX_CONFIG_CHARS:
        raise ConfigXmlError(f"config.xml is too large ({len(data)} bytes)")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise ConfigXmlError("config.xml with a DOCTYPE or entity declarations is refused")
    try:
        return ET.fromstring(data)  # noqa: S314 - no DTD, so no entity expansion
    except ET.ParseError as exc:
        raise ConfigXmlError(f"malformed config.xml: {exc}") from exc


def _key(elem: ET.Element) -> str:
    return elem.get("class") or elem.tag


def _canonical(elem: ET.Element, level: int, out: list[str]) -> None:
    attrs = {k: v for k, v in elem.attrib.items() if k != "plugin"}
    attr_text = "".join(f" {k}={encode_basestring(v)}" for k, v in sorted(attrs.items()))
    children = list(elem)
    present = {child.tag for child in children}
    defaults = [(name, value) for name, value in _DEFAULTS.get(_key(elem), ()) if name not in present]
    indent = "  " * level
    if not children and not defaults:
        text = elem.text or ""
        out.append(f"{indent}<{elem.tag}{attr_text}> {encode_basestring(text)}")
        return
    out.append(f"{indent}<{elem.tag}{attr_text}>")
    rendered: list[list[str]] = []
    for child in children:
        lines: list[str] = []
        _canonical(child, level + 1, lines)
        rendered.append(lines)
    for name, value in defaults:
        rendered.append([f"{indent}  <{name}> {json.dumps(value)}"])
    if elem.tag not in _ORDERED:
        rendered.sort()
    for lines in rendered:
        out.extend(lines)


def normalize_config(xml: str | bytes) -> str:
    """The meaning of a config.xml as indented text: equal texts mean equal jobs."""
    lines: list[str] = []
    _canonical(parse_config(xml), 0, lines)
    return "\n".join(lines) + "\n"


def diff_normalized(old: str, new: str, *, old_label: str = "live", new_label: str = "rendered") -> str:
    """A unified diff of two normalized forms ("" when equal)."""
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True), fromfile=old_label, tofile=new_label
        )
    )


@dataclass(frozen=True)
class JobFacts:
    """What read-back verification checks: the trigger spec(s), parameters and the disabled flag."""

    root: str
    disabled: bool
    trigger_specs: tuple[str, ...]
    parameters: tuple[tuple[str, str], ...]  # (name, default) in order
    description: str


def job_facts(xml: str | bytes) -> JobFacts:
    root = parse_config(xml)
    params: list[tuple[str, str]] = []
    for prop in root.iter(PARAMS_PROPERTY):
        for definition in prop.iter():
            if definition.tag.endswith("ParameterDefinition"):
                params.append((definition.findtext("name") or "", definition.findtext("defaultValue") or ""))
    return JobFacts(
        root=root.tag,
        disabled=(root.findtext("disabled") or "false").strip() == "true",
        trigger_specs=tuple(t.findtext("spec") or "" for t in root.iter(TIMER_TRIGGER)),
        parameters=tuple(params),
        description=root.findtext("description") or "",
    )


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


def _settings_from_json(data: Any) -> BackupSettings | None:
    if not isinstance(data, dict):
        return None
    enabled, schedule = data.get("enabled"), data.get("schedule")
    days, zone = data.get("expiresInDays"), data.get("timeZone")
    if not (isinstance(enabled, bool) and isinstance(schedule, str) and isinstance(zone, str)):
        return None
    if not isinstance(days, int) or isinstance(days, bool):
        return None
    return BackupSettings(enabled=enabled, schedule=schedule, expires_in_days=days, time_zone=zone)


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
    settings = _settings_from_json(record.get("settings"))
    if settings is None or prints[-1] != FINGERPRINT_PREFIX + fingerprint(settings):
        return AppliedMarker(managed=True, valid=False)
    author = record.get("author")
    author_json = None
    if isinstance(author, dict) and all(isinstance(author.get(k), str) for k in ("name", "email")):
        author_json = {"name": str(author["name"]), "email": str(author["email"])}
    return AppliedMarker(
        managed=True,
        valid=True,
        registry=_optional_str(record.get("registry")),
        job=_optional_str(record.get("job")),
        path=_optional_str(record.get("path")),
        commit=_optional_str(record.get("commit")),
        author=author_json,
        settings=settings,
        template=_optional_str(record.get("template")),
    )
