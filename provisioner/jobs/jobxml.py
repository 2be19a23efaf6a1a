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
import hashlib
import json
import xml.etree.ElementTree as ET
from json.encoder import encode_basestring  # json.dumps(str, ensure_ascii=False), without its overhead

from provisioner.jenkins.configxml import parse_config

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


def _canonical(elem: ET.Element, indent: str, skip: ET.Element | None = None) -> str:
    """The element as indented lines joined by newlines, children sorted unless their order matters.

    A child is sorted as its whole block of text (one string per child: measured 2-3x faster than
    lists of lines); equal sets of children still give equal texts, which is all a comparison needs.
    The order is the one lists of lines gave, as no line holds a character below the newline (text and
    attribute values are JSON-escaped), so digests recorded before still match."""
    attrib = elem.attrib
    attr_text = (
        "".join(f" {k}={encode_basestring(v)}" for k, v in sorted(attrib.items()) if k != "plugin")
        if attrib
        else ""
    )
    children = [child for child in elem if child is not skip] if skip is not None else list(elem)
    defaults = _DEFAULTS.get(attrib.get("class") or elem.tag)
    if defaults:
        present = {child.tag for child in children}
        missing = [(name, value) for name, value in defaults if name not in present]
    else:
        missing = []
    if not children and not missing:
        return f"{indent}<{elem.tag}{attr_text}> {encode_basestring(elem.text or '')}"
    inner = indent + "  "
    blocks = [_canonical(child, inner) for child in children]
    blocks.extend(f"{inner}<{name}> {json.dumps(value)}" for name, value in missing)
    if elem.tag not in _ORDERED:
        blocks.sort()
    return f"{indent}<{elem.tag}{attr_text}>\n" + "\n".join(blocks)


def normalize_config(xml: str | bytes) -> str:
    """The meaning of a config.xml as indented text: equal texts mean equal jobs."""
    return normalize_element(parse_config(xml))


def normalize_element(root: ET.Element) -> str:
    """:func:`normalize_config` of an already parsed config.xml."""
    return _canonical(root, "") + "\n"


def body_digest(root: ET.Element, description: str) -> str:
    """``n1-sha256:<hex>`` of the normalized config.xml without its description, and of
    ``description`` (the description without the line that records this digest). Recorded in the
    description when the job is applied, a later run can tell the live job still is what was applied
    without rendering it again; an edit of either part, the applied record included, changes it.
    ``n1`` names this normalization (a new one must not match)."""
    text = _canonical(root, "", skip=root.find("description")) + "\n" + encode_basestring(description)
    return "n1-sha256:" + hashlib.sha256(text.encode()).hexdigest()


def diff_normalized(old: str, new: str, *, old_label: str = "live", new_label: str = "rendered") -> str:
    """A unified diff of two normalized forms ("" when equal)."""
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True), fromfile=old_label, tofile=new_label
        )
    )
