"""Set-up for bench_fleet.py: N real git repositories, the fleet file, and the equivalent JJB jobs file.

Repositories are written in-process with pygit2 (a thousand take a few seconds); every registry gets
valid, varied settings. The Jenkins Job Builder definitions are derived from the provisioner's own
rendered config.xml for the same commit, so both tools create the same jobs: same description
(with the provisioner's marker), pipeline script, sandbox, parameters, timer trigger, discarder,
disabled flag and concurrency.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pygit2
import yaml

from provisioner.gitsource import read_values_from_git
from provisioner.jenkins.configxml import job_facts
from provisioner.jobs.jobxml import diff_normalized, normalize_config
from provisioner.jobs.render import PARAM_EXPIRES, PARAM_REGISTRY, render_job_config
from provisioner.settings.values import validate_values_text

VALUES_PATH = "deploy-templates/values.yaml"
JJB_MAGIC = "<!-- Managed by Jenkins Job Builder -->"  # JJB appends it to every description
ZONES = ("Europe/Kyiv", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "UTC")
SIGNATURE = pygit2.Signature("Bench Operator", "bench@example.com", 1790000000, 0)


@dataclass(frozen=True)
class Registry:
    name: str
    repo: Path
    folder: str | None
    job_name: str

    @property
    def full_name(self) -> str:
        return f"{self.folder}/{self.job_name}" if self.folder else self.job_name


def values_text(index: int, hour: int) -> str:
    zone = ZONES[index % len(ZONES)]
    return (
        "global:\n"
        f"  timeZone: {zone}\n"
        "  registryBackup:\n"
        "    enabled: true\n"
        f'    schedule: "{index % 60} {hour} * * *"\n'
        f"    expiresInDays: {7 + index % 24}\n"
    )


def _commit(repo: pygit2.Repository, text: str, message: str) -> None:
    blob = repo.create_blob(text.encode())
    parents = [] if repo.head_is_unborn else [repo.head.target]
    inner = (
        repo.TreeBuilder(repo.head.peel(pygit2.Commit).tree["deploy-templates"].id)
        if parents
        else repo.TreeBuilder()
    )
    inner.insert("values.yaml", blob, pygit2.enums.FileMode.BLOB)
    root = repo.TreeBuilder(repo.head.peel(pygit2.Commit).tree) if parents else repo.TreeBuilder()
    root.insert("deploy-templates", inner.write(), pygit2.enums.FileMode.TREE)
    repo.create_commit("HEAD", SIGNATURE, SIGNATURE, message, root.write(), parents)


def make_registries(base: Path, count: int, *, folder_layout: bool) -> list[Registry]:
    registries = []
    for index in range(count):
        name = f"reg-{index:04d}"
        path = base / "repos" / name
        repo = pygit2.init_repository(str(path), initial_head="main")
        _commit(repo, values_text(index, hour=19), "backup settings")
        if folder_layout:
            registries.append(Registry(name, path, name, "Create-registry-backup"))
        else:
            registries.append(Registry(name, path, None, f"Create-registry-backup-{name}"))
    return registries


def change_schedules(registries: list[Registry], hour: int = 3) -> None:
    """A new commit in every repository: the schedule moves from 19:xx to ``hour``:xx."""
    for index, registry in enumerate(registries):
        repo = pygit2.Repository(str(registry.repo))
        _commit(repo, values_text(index, hour=hour), f"move backups to {hour:02d}:00")


def write_fleet(path: Path, registries: list[Registry], ref: str = "HEAD") -> Path:
    entries = []
    for registry in registries:
        entry = {"name": registry.name, "repo": str(registry.repo.relative_to(path.parent)), "ref": ref}
        if registry.folder:
            entry["folder"] = registry.folder
            entry["jobName"] = registry.job_name
        entries.append(entry)
    path.write_text(yaml.safe_dump({"registries": entries}, sort_keys=False), encoding="utf-8")
    return path


def rendered_config(registry: Registry, ref: str = "HEAD") -> str:
    source = read_values_from_git(registry.repo, ref)
    settings = validate_values_text(source.text).settings
    assert settings is not None
    return render_job_config(
        settings, registry=registry.name, job_full_name=registry.full_name, source=source
    )


def _escape(text: str) -> str:
    """JJB formats every string with str.format: literal braces are doubled."""
    return text.replace("{", "{{").replace("}", "}}")


def jjb_job(registry: Registry, config_xml: str) -> dict[str, object]:
    root = ET.fromstring(config_xml.encode())
    facts = job_facts(config_xml)
    definitions = root.iter("hudson.model.StringParameterDefinition")
    parameters = [
        {
            "string": {
                "name": d.findtext("name"),
                "default": d.findtext("defaultValue"),
                "description": _escape(d.findtext("description") or ""),
                "trim": (d.findtext("trim") or "false") == "true",
            }
        }
        for d in definitions
    ]
    num_to_keep = int(root.findtext(".//jenkins.model.BuildDiscarderProperty/strategy/numToKeep") or "-1")
    return {
        "job": {
            "name": registry.full_name,
            "project-type": "pipeline",
            "description": _escape(facts.description),
            "disabled": facts.disabled,
            "concurrent": root.find(
                ".//org.jenkinsci.plugins.workflow.job.properties.DisableConcurrentBuildsJobProperty"
            )
            is None,
            "sandbox": (root.findtext(".//definition/sandbox") or "false") == "true",
            "dsl": _escape(root.findtext(".//definition/script") or ""),
            "parameters": parameters,
            "properties": [{"build-discarder": {"num-to-keep": num_to_keep}}],
            "triggers": [{"timed": spec} for spec in facts.trigger_specs],
        }
    }


def write_jjb_jobs(path: Path, registries: list[Registry], ref: str = "HEAD") -> Path:
    """The JJB jobs file for the registries at ``ref`` (folders as JJB `folder` jobs when used)."""
    documents: list[dict[str, object]] = []
    for registry in registries:
        if registry.folder:
            documents.append({"job": {"name": registry.folder, "project-type": "folder"}})
        documents.append(jjb_job(registry, rendered_config(registry, ref)))
    path.write_text(yaml.safe_dump(documents, sort_keys=False, width=10_000), encoding="utf-8")
    return path


def _template_fields(config_xml: str) -> dict[str, object]:
    """What differs between two registries' jobs: the job template's variables."""
    facts = job_facts(config_xml)
    (spec,) = facts.trigger_specs
    values = dict(facts.parameters)
    return {
        "description": _escape(facts.description),  # project variables are formatted too
        "disabled": facts.disabled,
        "registry": values[PARAM_REGISTRY],
        "expires-hours": values[PARAM_EXPIRES],
        "spec": spec,
    }


def write_jjb_template_jobs(path: Path, registries: list[Registry], ref: str = "HEAD") -> Path:
    """The JJB jobs file the way JJB users write it: one ``job-template`` (pipeline, parameters,
    ``timed`` trigger; plus a ``folder`` template for the folder layout) and one ``project`` per
    registry giving the template's variables. Expands to the same jobs as :func:`write_jjb_jobs`."""
    first = jjb_job(registries[0], rendered_config(registries[0], ref))["job"]
    assert isinstance(first, dict)
    parameters = first["parameters"]
    assert isinstance(parameters, list)
    template: dict[str, object] = {
        "name": "{folder-prefix}{job-name}",
        "project-type": "pipeline",
        "description": "{description}",
        "disabled": "{obj:disabled}",
        "concurrent": first["concurrent"],
        "sandbox": first["sandbox"],
        "dsl": first["dsl"],
        "parameters": [
            {"string": {**p["string"], "default": "{" + ("registry" if i == 0 else "expires-hours") + "}"}}
            for i, p in enumerate(parameters)
        ],
        "properties": first["properties"],
        "triggers": [{"timed": "{spec}"}],
    }
    assert [p["string"]["name"] for p in parameters] == [PARAM_REGISTRY, PARAM_EXPIRES]
    documents: list[dict[str, object]] = [{"job-template": template}]
    if any(r.folder for r in registries):
        documents.append({"job-template": {"name": "{folder}", "project-type": "folder"}})
    for registry in registries:
        fields = _template_fields(rendered_config(registry, ref))
        jobs: list[str] = ["{folder-prefix}{job-name}"]
        project: dict[str, object] = {
            "name": registry.name,
            "job-name": registry.job_name,
            "folder-prefix": f"{registry.folder}/" if registry.folder else "",
            **fields,
        }
        if registry.folder:
            project["folder"] = registry.folder
            jobs.insert(0, "{folder}")
        project["jobs"] = jobs
        documents.append({"project": project})
    path.write_text(yaml.safe_dump(documents, sort_keys=False, width=10_000), encoding="utf-8")
    return path


def write_jjb_conf(path: Path, url: str, user: str, token: str) -> Path:
    path.write_text(
        "[job_builder]\nignore_cache=False\nrecursive=False\nallow_duplicates=False\n\n"
        f"[jenkins]\nurl={url}\nuser={user}\npassword={token}\nquery_plugins_info=False\n",
        encoding="utf-8",
    )
    path.chmod(0o600)
    return path


def without_jjb_magic(config_xml: str) -> str:
    """The config with JJB's own comment taken off the end of the description."""
    root = ET.fromstring(config_xml.encode())
    description = root.find("description")
    if description is not None and description.text and description.text.endswith(JJB_MAGIC):
        description.text = description.text[: -len(JJB_MAGIC)]
    return ET.tostring(root, encoding="unicode")


def job_differences(ours: str, theirs: str) -> list[str]:
    """How two live configs differ in meaning: the changed lines of the normalized diff ([] = same)."""
    diff = diff_normalized(
        normalize_config(ours), normalize_config(theirs), old_label="ours", new_label="jjb"
    )
    return [
        line[:160] for line in diff.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def same_facts(ours: str, theirs: str) -> bool:
    """provisioner.jobs.jobxml.job_facts equal: root, disabled, trigger specs, parameters, description."""
    return job_facts(ours) == job_facts(theirs)
