"""Jenkins ``/api/json`` views of items, builds and queue items, and the ``tree=`` filter."""

from __future__ import annotations

from typing import Any

from . import xmlconfig
from .model import Build, Item, QueueItem, param_value_class

# tree spec: key -> (sub-spec or None, slice or None)
TreeSpec = dict[str, tuple["TreeSpec | None", "slice | None"]]

SUMMARY_KEYS = frozenset({"_class", "name", "url", "color"})
RESULT_COLORS = {
    "SUCCESS": "blue",
    "UNSTABLE": "yellow",
    "FAILURE": "red",
    "ABORTED": "aborted",
    "NOT_BUILT": "notbuilt",
}


class TreeError(ValueError):
    pass


def parse_tree(text: str) -> TreeSpec:
    spec, pos = _parse_tree_list(text, 0)
    if pos != len(text):
        raise TreeError(f"unexpected {text[pos]!r} at {pos} in tree={text}")
    return spec


def _parse_tree_list(text: str, pos: int) -> tuple[TreeSpec, int]:
    spec: TreeSpec = {}
    while True:
        start = pos
        while pos < len(text) and text[pos] not in ",[]{}":
            pos += 1
        name = text[start:pos].strip()
        sub: TreeSpec | None = None
        rng: slice | None = None
        if pos < len(text) and text[pos] == "[":
            sub, pos = _parse_tree_list(text, pos + 1)
            if pos >= len(text) or text[pos] != "]":
                raise TreeError(f"missing ] in tree={text}")
            pos += 1
        if pos < len(text) and text[pos] == "{":
            end = text.find("}", pos)
            if end < 0:
                raise TreeError(f"missing }} in tree={text}")
            rng = _parse_range(text[pos + 1 : end])
            pos = end + 1
        if name:
            spec[name] = (sub, rng)
        if pos < len(text) and text[pos] == ",":
            pos += 1
            continue
        return spec, pos


def _parse_range(text: str) -> slice:
    try:
        if "," in text:
            lo, hi = text.split(",", 1)
            return slice(int(lo) if lo else None, int(hi) if hi else None)
        return slice(int(text), int(text) + 1)
    except ValueError as exc:
        raise TreeError(f"bad range {{{text}}}") from exc


def apply_tree(value: Any, spec: TreeSpec | None) -> Any:
    if isinstance(value, list):
        return [apply_tree(v, spec) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    if "_class" in value:
        out["_class"] = value["_class"]
    if spec is None:
        return out
    for key, (sub, rng) in spec.items():
        if key not in value:
            continue
        v = value[key]
        if rng is not None and isinstance(v, list):
            v = v[rng]
        if isinstance(v, dict | list):
            v = apply_tree(v, sub)
        out[key] = v
    return out


def _build_ref(item: Item, build: Build | None, base: str) -> dict[str, Any] | None:
    if build is None:
        return None
    return {
        "_class": xmlconfig.BUILD_CLASSES.get(item.facts.root, "hudson.model.Run"),
        "number": build.number,
        "url": f"{base}{item.url_path}{build.number}/",
    }


def color(item: Item) -> str:
    if item.facts.disabled:
        return "disabled"
    done = [b for b in item.builds if b.result is not None]
    base = RESULT_COLORS.get(done[-1].result or "", "notbuilt") if done else "notbuilt"
    if any(b.result is None for b in item.builds):
        return base + "_anime"
    return base


def summary(item: Item, base: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "_class": xmlconfig.ROOT_CLASSES[item.facts.root],
        "name": item.name,
        "url": base + item.url_path,
    }
    if not item.is_folder:
        out["color"] = color(item)
    return out


def jobs_list(folder: Item, base: str, spec: tuple[TreeSpec | None, slice | None] | None) -> list[Any]:
    """Entries of a ``jobs`` array: summaries, or whatever ``spec`` (the ``jobs[...]`` part) asks."""
    children = folder.sorted_children()
    if spec is None:
        return [summary(c, base) for c in children]
    sub = spec[0]  # a {m,n} range is applied later by apply_tree
    keys = set(sub or ())
    out = []
    for child in children:
        if keys <= SUMMARY_KEYS | {"jobs", "fullName"}:
            entry = summary(child, base)
            if "fullName" in keys:
                entry["fullName"] = child.full_name
            if child.is_folder and "jobs" in keys and sub is not None:
                entry["jobs"] = jobs_list(child, base, sub["jobs"])
        else:
            entry = item_json(child, base, sub)
        out.append(entry)
    return out


def item_json(item: Item, base: str, spec: TreeSpec | None = None) -> dict[str, Any]:
    """Unfiltered export of a job or folder; ``spec`` only decides how deep nested jobs go."""
    if item.is_folder:
        return folder_json(item, base, spec)
    return job_json(item, base)


def folder_json(item: Item, base: str, spec: TreeSpec | None) -> dict[str, Any]:
    url = base + item.url_path
    return {
        "_class": xmlconfig.FOLDER,
        "actions": [{}],
        "description": item.facts.description,
        "displayName": item.name,
        "displayNameOrNull": None,
        "fullDisplayName": item.full_name.replace("/", " » "),
        "fullName": item.full_name,
        "name": item.name,
        "url": url,
        "healthReport": [],
        "jobs": jobs_list(item, base, spec.get("jobs") if spec else None),
        "primaryView": {"_class": "hudson.model.AllView", "name": "All", "url": url},
        "views": [{"_class": "hudson.model.AllView", "name": "All", "url": url}],
    }


def job_json(item: Item, base: str) -> dict[str, Any]:
    url = base + item.url_path
    facts = item.facts
    builds = item.builds
    done = [b for b in builds if b.result is not None]

    def last(pred: Any) -> dict[str, Any] | None:
        for b in reversed(done):
            if pred(b):
                return _build_ref(item, b, base)
        return None

    params = [_param_def_json(p) for p in facts.params]
    properties: list[dict[str, Any]] = []
    for cls in facts.properties:
        if cls == xmlconfig.PARAMS_PROPERTY:
            properties.append({"_class": cls, "parameterDefinitions": params})
        else:
            properties.append({"_class": cls})
    actions: list[dict[str, Any]] = [{}]
    if params:
        actions.append(
            {"_class": "hudson.model.ParametersDefinitionProperty", "parameterDefinitions": params}
        )
    queue = item.queue
    out: dict[str, Any] = {
        "_class": xmlconfig.ROOT_CLASSES[facts.root],
        "actions": actions,
        "description": facts.description,
        "displayName": item.name,
        "displayNameOrNull": None,
        "fullDisplayName": item.full_name.replace("/", " » "),
        "fullName": item.full_name,
        "name": item.name,
        "url": url,
        "buildable": not facts.disabled,
        "builds": [_build_ref(item, b, base) for b in reversed(builds)],
        "color": color(item),
        "firstBuild": _build_ref(item, builds[0], base) if builds else None,
        "healthReport": [],
        "inQueue": bool(queue),
        "keepDependencies": False,
        "lastBuild": _build_ref(item, builds[-1], base) if builds else None,
        "lastCompletedBuild": last(lambda b: True),
        "lastFailedBuild": last(lambda b: b.result == "FAILURE"),
        "lastStableBuild": last(lambda b: b.result == "SUCCESS"),
        "lastSuccessfulBuild": last(lambda b: b.result in ("SUCCESS", "UNSTABLE")),
        "lastUnstableBuild": last(lambda b: b.result == "UNSTABLE"),
        "lastUnsuccessfulBuild": last(lambda b: b.result != "SUCCESS"),
        "nextBuildNumber": item.next_build_number,
        "property": properties,
        "queueItem": _queue_ref(queue[0], base) if queue else None,
        "concurrentBuild": facts.concurrent,
        "disabled": facts.disabled,
        "resumeBlocked": False,
    }
    if facts.root == xmlconfig.FREESTYLE:
        out.update(
            {
                "downstreamProjects": [],
                "labelExpression": None,
                "scm": {"_class": "hudson.scm.NullSCM"},
                "upstreamProjects": [],
            }
        )
    return out


def _param_def_json(pdef: xmlconfig.ParamDef) -> dict[str, Any]:
    out: dict[str, Any] = {
        "_class": pdef.class_name,
        "defaultParameterValue": {
            "_class": param_value_class(pdef),
            "name": pdef.name,
            "value": pdef.default == "true" if pdef.kind == "boolean" else pdef.default,
        },
        "description": pdef.description,
        "name": pdef.name,
        "type": pdef.class_name.rsplit(".", 1)[-1],
    }
    if pdef.kind == "choice":
        out["choices"] = list(pdef.choices)
    return out


def _queue_ref(q: QueueItem, base: str) -> dict[str, Any]:
    return {
        "_class": "hudson.model.Queue$WaitingItem",
        "blocked": False,
        "buildable": False,
        "id": q.id,
        "inQueueSince": q.in_queue_since_ms,
        "params": "".join(f"\n{k}={v}" for k, v in q.parameters.items()),
        "stuck": False,
        "task": summary(q.job, base),
        "url": f"queue/item/{q.id}/",
        "why": "In the quiet period.",
        "timestamp": q.in_queue_since_ms,
    }


def _parameters_action(item: Item, parameters: dict[str, str]) -> dict[str, Any]:
    kinds = {p.name: p for p in item.facts.params}
    values = []
    for name, value in parameters.items():
        pdef = kinds.get(name)
        cls = param_value_class(pdef) if pdef else "hudson.model.StringParameterValue"
        shown: Any = value
        if pdef is not None and pdef.kind == "boolean":
            shown = value == "true"
        values.append({"_class": cls, "name": name, "value": shown})
    return {"_class": "hudson.model.ParametersAction", "parameters": values}


def queue_item_json(q: QueueItem, base: str) -> dict[str, Any]:
    out = _queue_ref(q, base)
    out["actions"] = [_parameters_action(q.job, q.parameters)] if q.parameters else []
    out["executable"] = None
    return out


def build_json(item: Item, build: Build, base: str) -> dict[str, Any]:
    actions: list[dict[str, Any]] = []
    if build.parameters:
        actions.append(_parameters_action(item, build.parameters))
    actions.append(
        {
            "_class": "hudson.model.CauseAction",
            "causes": [
                {
                    "_class": "hudson.triggers.TimerTrigger$TimerTriggerCause",
                    "shortDescription": "Started by timer",
                }
            ],
        }
    )
    return {
        "_class": xmlconfig.BUILD_CLASSES.get(item.facts.root, "hudson.model.Run"),
        "actions": actions,
        "artifacts": [],
        "building": build.result is None,
        "description": None,
        "displayName": f"#{build.number}",
        "duration": build.duration_ms if build.result is not None else 0,
        "estimatedDuration": build.duration_ms,
        "executor": None,
        "fullDisplayName": f"{item.full_name.replace('/', ' » ')} #{build.number}",
        "id": str(build.number),
        "keepLog": False,
        "number": build.number,
        "queueId": 0,
        "result": build.result,
        "timestamp": build.timestamp_ms,
        "url": f"{base}{item.url_path}{build.number}/",
        "changeSets": [],
        "culprits": [],
        "inProgress": build.result is None,
        "nextBuild": None,
        "previousBuild": None,
    }


def root_json(
    root: Item,
    base: str,
    spec: TreeSpec | None,
    *,
    use_security: bool,
    use_crumbs: bool,
) -> dict[str, Any]:
    view = {"_class": "hudson.model.AllView", "name": "all", "url": base}
    return {
        "_class": "hudson.model.Hudson",
        "assignedLabels": [{"name": "built-in"}],
        "mode": "NORMAL",
        "nodeDescription": "the Jenkins controller's built-in node",
        "nodeName": "",
        "numExecutors": 2,
        "description": None,
        "jobs": jobs_list(root, base, spec.get("jobs") if spec else None),
        "overallLoad": {},
        "primaryView": view,
        "quietDownReason": None,
        "quietingDown": False,
        "slaveAgentPort": -1,
        "unlabeledLoad": {"_class": "jenkins.model.UnlabeledLoadStatistics"},
        "url": base,
        "useCrumbs": use_crumbs,
        "useSecurity": use_security,
        "views": [view],
    }


def plugins_json() -> dict[str, Any]:
    plugins: list[dict[str, Any]] = []
    for short, (version, long_name) in sorted(xmlconfig.PLUGINS.items()):
        plugins.append(
            {
                "active": True,
                "backupVersion": None,
                "bundled": False,
                "deleted": False,
                "dependencies": [],
                "downgradable": False,
                "enabled": True,
                "hasUpdate": False,
                "longName": long_name,
                "pinned": False,
                "requiredCoreVersion": "2.440.3",
                "shortName": short,
                "supportsDynamicLoad": "MAYBE",
                "url": f"https://plugins.jenkins.io/{short}",
                "version": version,
            }
        )
    return {"_class": "hudson.LocalPluginManager", "plugins": plugins}
