"""Reading a config.xml that Jenkins stores or returns: untrusted input, parsed with bounds.

No DTDs or entities (no expansion from a server's answer), at most 5 MB; :func:`job_facts` pulls out
what the provisioner checks after a write (trigger specs, parameters, disabled flag, description).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

TIMER_TRIGGER = "hudson.triggers.TimerTrigger"
PARAMS_PROPERTY = "hudson.model.ParametersDefinitionProperty"
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
    except LookupError as exc:  # an XML declaration naming an encoding Python does not know
        raise ConfigXmlError(f"config.xml in an unknown encoding: {exc}") from exc


@dataclass(frozen=True)
class JobFacts:
    """What read-back verification checks: the trigger spec(s), parameters and the disabled flag."""

    root: str
    disabled: bool
    trigger_specs: tuple[str, ...]
    parameters: tuple[tuple[str, str], ...]  # (name, default) in order
    description: str


def description_of(root: ET.Element) -> str:
    """The job's description ("" when it has none)."""
    return root.findtext("description") or ""


def job_facts(xml: str | bytes) -> JobFacts:
    return element_facts(parse_config(xml))


def element_facts(root: ET.Element) -> JobFacts:
    """:func:`job_facts` of an already parsed config.xml."""
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
        description=description_of(root),
    )
