"""config.xml handling: load as Jenkins would, re-serialize as Jenkins (XStream) would.

Jenkins keeps items in memory and writes config.xml back from its objects (jenkins-facts.md §2,
§3.3): ``<?xml version="1.1" encoding="UTF-8"?>``, fields in class declaration order,
``plugin="name@version"`` attributes, default fields such as ``abortPrevious``, ``'`` written as
``&apos;``. Unknown fields of a pipeline job and ``TimerTrigger``s with an invalid spec are dropped
silently (RobustReflectionConverter / RobustCollectionConverter).
"""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from .cron import jenkins_spec_is_valid

WORKFLOW_JOB = "flow-definition"
FREESTYLE = "project"
FOLDER = "com.cloudbees.hudson.plugins.folder.Folder"

# root element -> exported _class
ROOT_CLASSES = {
    WORKFLOW_JOB: "org.jenkinsci.plugins.workflow.job.WorkflowJob",
    FREESTYLE: "hudson.model.FreeStyleProject",
    FOLDER: FOLDER,
}
BUILD_CLASSES = {
    WORKFLOW_JOB: "org.jenkinsci.plugins.workflow.job.WorkflowRun",
    FREESTYLE: "hudson.model.FreeStyleBuild",
}

PLUGINS: dict[str, tuple[str, str]] = {
    # shortName -> (version, longName)
    "workflow-job": ("1436.vfa_244484591f", "Pipeline: Job"),
    "workflow-cps": ("3894.vd0f0248b_a_fc4", "Pipeline: Groovy"),
    "cloudbees-folder": ("6.928.v7c780211d66e", "Folders Plugin"),
    "script-security": ("1341.va_2819b_414686", "Script Security Plugin"),
    "workflow-api": ("1316.v33eb_726c50b_a_", "Pipeline: API"),
}

# Field order of the classes Jenkins serializes (declaration order, superclass fields first).
CHILD_ORDER: dict[str, tuple[str, ...]] = {
    WORKFLOW_JOB: (
        "actions",
        "description",
        "displayName",
        "keepDependencies",
        "properties",
        "definition",
        "triggers",
        "concurrentBuild",
        "authToken",
        "quietPeriod",
        "disabled",
        "resumeBlocked",
    ),
    FREESTYLE: (
        "actions",
        "description",
        "displayName",
        "keepDependencies",
        "properties",
        "scm",
        "quietPeriod",
        "assignedNode",
        "canRoam",
        "disabled",
        "blockBuildWhenDownstreamBuilding",
        "blockBuildWhenUpstreamBuilding",
        "jdk",
        "authToken",
        "triggers",
        "concurrentBuild",
        "customWorkspace",
        "builders",
        "publishers",
        "buildWrappers",
    ),
    FOLDER: (
        "actions",
        "description",
        "displayName",
        "properties",
        "folderViews",
        "healthMetrics",
        "icon",
    ),
    "hudson.model.StringParameterDefinition": ("name", "description", "defaultValue", "trim"),
    "hudson.model.TextParameterDefinition": ("name", "description", "defaultValue", "trim"),
    "hudson.model.BooleanParameterDefinition": ("name", "description", "defaultValue"),
    "hudson.model.ChoiceParameterDefinition": ("name", "description", "choices"),
    "org.jenkinsci.plugins.workflow.cps.CpsFlowDefinition": ("script", "sandbox"),
    "hudson.tasks.LogRotator": ("daysToKeep", "numToKeep", "artifactDaysToKeep", "artifactNumToKeep"),
}
# Fields Jenkins always writes (primitive fields), added with their default when absent.
DEFAULTS: dict[str, tuple[tuple[str, str], ...]] = {
    WORKFLOW_JOB: (
        ("actions", ""),
        ("keepDependencies", "false"),
        ("properties", ""),
        ("triggers", ""),
        ("disabled", "false"),
    ),
    FREESTYLE: (
        ("actions", ""),
        ("keepDependencies", "false"),
        ("properties", ""),
        ("canRoam", "true"),
        ("disabled", "false"),
        ("blockBuildWhenDownstreamBuilding", "false"),
        ("blockBuildWhenUpstreamBuilding", "false"),
        ("triggers", ""),
        ("concurrentBuild", "false"),
        ("builders", ""),
        ("publishers", ""),
        ("buildWrappers", ""),
    ),
    FOLDER: (("actions", ""), ("properties", "")),
    "org.jenkinsci.plugins.workflow.job.properties.DisableConcurrentBuildsJobProperty": (
        ("abortPrevious", "false"),
    ),
    "hudson.model.StringParameterDefinition": (("trim", "false"),),
    "hudson.model.TextParameterDefinition": (("trim", "false"),),
    "org.jenkinsci.plugins.workflow.cps.CpsFlowDefinition": (("sandbox", "false"),),
}
TIMER_TRIGGER = "hudson.triggers.TimerTrigger"
PARAMS_PROPERTY = "hudson.model.ParametersDefinitionProperty"
DISABLE_CONCURRENT = "org.jenkinsci.plugins.workflow.job.properties.DisableConcurrentBuildsJobProperty"


class ConfigError(Exception):
    """The XML cannot become an item (Jenkins answers 500)."""


@dataclass(frozen=True)
class ParamDef:
    kind: str  # "string", "text", "boolean", "choice", "password", other tag
    class_name: str
    name: str
    default: str
    description: str | None = None
    choices: tuple[str, ...] = ()


@dataclass
class JobFacts:
    root: str
    disabled: bool = False
    concurrent: bool = True
    description: str | None = None
    params: tuple[ParamDef, ...] = ()
    properties: list[str] = field(default_factory=list)


def parse(data: bytes | str) -> ET.Element:
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise ConfigError(f"Failed to process config.xml: {exc}") from exc
    if root.tag not in ROOT_CLASSES:
        raise ConfigError(f"Unable to read config.xml: unknown root element {root.tag}")
    return root


def _plugin_of(elem: ET.Element) -> str | None:
    tag = elem.tag
    cls = elem.get("class", "")
    if tag == WORKFLOW_JOB or tag.startswith("org.jenkinsci.plugins.workflow.job."):
        return "workflow-job"
    if cls.startswith("org.jenkinsci.plugins.workflow.cps.") or tag.startswith(
        "org.jenkinsci.plugins.workflow.cps."
    ):
        return "workflow-cps"
    if tag.startswith("com.cloudbees.hudson.plugins.folder.") or cls.startswith(
        "com.cloudbees.hudson.plugins.folder."
    ):
        return "cloudbees-folder"
    plugin = elem.get("plugin")
    if plugin:
        return plugin.split("@", 1)[0]
    return None


def _order_key(elem: ET.Element) -> str:
    return elem.get("class") or elem.tag


def normalize_tree(
    root: ET.Element, *, drop_invalid_triggers: bool, drop_unknown: bool, in_place: bool = False
) -> ET.Element:
    """``root`` as Jenkins holds it after loading (order, defaults, drops): a copy, unless ``in_place``
    (for a tree the caller has just parsed and will not use again: the deep copy is about 40% of
    the emulator's cost per POSTed config)."""
    if not in_place:
        root = copy.deepcopy(root)
    if drop_invalid_triggers:
        drop_invalid_timer_triggers(root)
    _normalize(root, is_root=True, drop_unknown=drop_unknown)
    return root


def drop_invalid_timer_triggers(root: ET.Element) -> int:
    """Remove (in place) every TimerTrigger whose spec Jenkins cannot parse; return how many."""
    dropped = 0
    for parent in list(root.iter()):
        for child in list(parent):
            if child.tag == TIMER_TRIGGER:
                spec = child.findtext("spec") or ""
                if not jenkins_spec_is_valid(spec):
                    parent.remove(child)
                    dropped += 1
    return dropped


def _normalize(elem: ET.Element, *, is_root: bool, drop_unknown: bool) -> None:
    key = elem.tag if is_root else _order_key(elem)
    plugin = _plugin_of(elem)
    if plugin is not None:
        version = PLUGINS.get(plugin, ("1.0", plugin))[0]
        attrs = {k: v for k, v in elem.attrib.items() if k != "plugin"}
        elem.attrib.clear()
        if "class" in attrs:
            elem.set("class", attrs.pop("class"))
        elem.set("plugin", f"{plugin}@{version}")
        elem.attrib.update(attrs)
    present = {child.tag for child in elem}
    for name, value in DEFAULTS.get(key, ()):
        if name not in present:
            new = ET.SubElement(elem, name)
            new.text = value or None
    order = CHILD_ORDER.get(key)
    if order is not None:
        rank = {name: i for i, name in enumerate(order)}
        children = list(elem)
        if is_root and drop_unknown and elem.tag == WORKFLOW_JOB:
            children = [c for c in children if c.tag in rank]
        children.sort(key=lambda c: rank.get(c.tag, len(order)))
        elem[:] = children
    for child in elem:
        _normalize(child, is_root=False, drop_unknown=drop_unknown)


def _escape_text(text: str) -> str:
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&apos;")
        .replace("\r", "&#xd;")
    )


def _escape_attr(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def serialize_realistic(root: ET.Element) -> str:
    """XStream-like pretty print of an already normalized tree."""
    out: list[str] = ['<?xml version="1.1" encoding="UTF-8"?>\n']
    _write(root, 0, out)
    return "".join(out)


def _write(elem: ET.Element, level: int, out: list[str]) -> None:
    indent = "  " * level
    attrs = "".join(f' {k}="{_escape_attr(v)}"' for k, v in elem.attrib.items())
    children = list(elem)
    if children:
        out.append(f"{indent}<{elem.tag}{attrs}>\n")
        for child in children:
            _write(child, level + 1, out)
        out.append(f"{indent}</{elem.tag}>\n")
    elif elem.text:
        out.append(f"{indent}<{elem.tag}{attrs}>{_escape_text(elem.text)}</{elem.tag}>\n")
    elif elem.tag == "description":
        out.append(f"{indent}<{elem.tag}{attrs}></{elem.tag}>\n")
    else:
        out.append(f"{indent}<{elem.tag}{attrs}/>\n")


def serialize_plain(root: ET.Element) -> str:
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


def set_disabled(root: ET.Element, disabled: bool) -> None:
    elem = root.find("disabled")
    if elem is None:
        elem = ET.SubElement(root, "disabled")
        order = CHILD_ORDER.get(root.tag)
        if order is not None:
            rank = {name: i for i, name in enumerate(order)}
            root[:] = sorted(root, key=lambda c: rank.get(c.tag, len(order)))
    elem.text = "true" if disabled else "false"


def _bool(text: str | None, default: bool = False) -> bool:
    if text is None:
        return default
    return text.strip().lower() == "true"


def extract_facts(root: ET.Element) -> JobFacts:
    facts = JobFacts(root=root.tag)
    facts.disabled = _bool(root.findtext("disabled"))
    description = root.find("description")
    facts.description = None if description is None else (description.text or "")
    props = root.find("properties")
    prop_classes: list[str] = []
    params: list[ParamDef] = []
    if props is not None:
        for prop in props:
            prop_classes.append(prop.tag)
            if prop.tag == PARAMS_PROPERTY:
                defs = prop.find("parameterDefinitions")
                for pdef in [] if defs is None else list(defs):
                    params.append(_param_def(pdef))
    facts.properties = prop_classes
    facts.params = tuple(params)
    if root.tag == WORKFLOW_JOB:
        facts.concurrent = DISABLE_CONCURRENT not in prop_classes
    elif root.tag == FREESTYLE:
        facts.concurrent = _bool(root.findtext("concurrentBuild"))
    return facts


def _param_def(pdef: ET.Element) -> ParamDef:
    cls = pdef.tag
    short = cls.rsplit(".", 1)[-1]
    name = pdef.findtext("name") or ""
    description = pdef.findtext("description")
    if short == "ChoiceParameterDefinition":
        choices_elem = pdef.find("choices")
        choices: tuple[str, ...] = ()
        if choices_elem is not None:
            choices = tuple(s.text or "" for s in choices_elem.iter("string"))
        return ParamDef("choice", cls, name, choices[0] if choices else "", description, choices)
    kind = {
        "StringParameterDefinition": "string",
        "TextParameterDefinition": "text",
        "BooleanParameterDefinition": "boolean",
        "PasswordParameterDefinition": "password",
    }.get(short, short)
    default = pdef.findtext("defaultValue") or ""
    if kind == "boolean":
        default = "true" if _bool(default) else "false"
    return ParamDef(kind, cls, name, default, description)


def timer_specs(root: ET.Element) -> list[str]:
    """Every TimerTrigger spec in the tree (pipeline property or freestyle triggers)."""
    return [t.findtext("spec") or "" for t in root.iter(TIMER_TRIGGER)]


DEFAULT_FOLDER_XML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    f'<{FOLDER} plugin="cloudbees-folder"><actions/><description></description><properties/>'
    '<folderViews class="com.cloudbees.hudson.plugins.folder.views.DefaultFolderViewHolder">'
    '<views><hudson.model.AllView><owner class="' + FOLDER + '" reference="../../../.."/>'
    "<name>All</name><filterExecutors>false</filterExecutors><filterQueue>false</filterQueue>"
    '<properties class="hudson.model.View$PropertyList"/></hudson.model.AllView></views>'
    '<tabBar class="hudson.views.DefaultViewsTabBar"/></folderViews>'
    "<healthMetrics/></" + FOLDER + ">"
)
