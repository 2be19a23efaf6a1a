"""The fleet file: which registries one Jenkins holds backup jobs for (pure; no git, no Jenkins).

    registries:
      - name: alpha                # DNS-1123 label, unique
        repo: registries/alpha     # the registry's git repository, relative to this file
        ref: main                  # optional, default HEAD
        valuesPath: deploy-templates/values.yaml   # optional
        folder: backups            # optional Jenkins folder path (a/b)
        jobName: Create-registry-backup            # optional, default Create-registry-backup-<name>

Every problem in the file is collected with its line and reported at once, before any registry is
read or Jenkins is contacted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from provisioner.errors import UsageError
from provisioner.gitsource import DEFAULT_VALUES_PATH
from provisioner.jenkins.target import JobPath, job_path
from provisioner.jobs.marker import JobKind
from provisioner.names import REGISTRY_NAME_RULE, is_registry_name
from provisioner.settings.strict_yaml import (
    STR,
    Problems,
    YamlError,
    compose_strict,
    kind_of,
    line_of,
    mapping_entries,
    read_yaml_file,
)

ENTRY_KEYS = ("name", "repo", "ref", "valuesPath", "folder", "jobName")
REQUIRED_KEYS = ("name", "repo")
MAX_REGISTRIES = 10_000
# A fleet entry is 60-1000 bytes (names, paths, folder, job name): room for MAX_REGISTRIES long ones.
MAX_FLEET_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class FleetEntry:
    name: str
    repo: Path  # absolute, resolved against the fleet file's directory
    ref: str
    values_path: str
    job: JobPath
    line: int  # where the entry starts in the fleet file
    # "drill": the registry's restore-drill job (fleet/drills.py adds one per registry when it is managed)
    kind: JobKind = "backup"


class FleetError(UsageError):
    """The fleet file is unusable; ``problems`` lists every one as (line, message)."""

    def __init__(self, path: Path, problems: Problems) -> None:
        lines = [f"  {problem}" for problem in problems.errors]
        super().__init__(f"invalid fleet file {path} (nothing was done):\n" + "\n".join(lines))
        self.problems = [(problem.line, problem.message) for problem in problems.errors]


class _Problems(Problems):
    """The fleet file's messages name their field themselves (registries[3].repo ...)."""

    def add(self, node: Node | None, text: str, *, line: int | None = None) -> None:  # type: ignore[override]
        super().add("", text, node, line=line)


def _string(node: Node, what: str, problems: _Problems) -> str | None:
    """A non-empty YAML string (quoted numbers are fine, unquoted numbers/booleans/null are not)."""
    if not isinstance(node, ScalarNode) or node.tag != STR:
        hint = f' (to mean the text, quote it: "{node.value}")' if isinstance(node, ScalarNode) else ""
        problems.add(node, f"{what} must be a string, not {kind_of(node)}{hint}")
        return None
    value = str(node.value)
    if not value.strip() or any(not ch.isprintable() for ch in value):
        problems.add(node, f"{what} must be a non-empty single-line string, got {value!r}")
        return None
    return value


def _entry(node: Node, index: int, base: Path, problems: _Problems) -> FleetEntry | None:
    where = f"registries[{index}]"
    if not isinstance(node, MappingNode):
        problems.add(node, f"{where} must be a mapping with at least name and repo, not {kind_of(node)}")
        return None
    values: dict[str, str] = {}
    nodes: dict[str, Node] = {}
    ok = True
    for entry in mapping_entries(node):
        if entry.key not in ENTRY_KEYS:
            problems.add(
                entry.key_node, f"{where}: unknown key {entry.key!r} (allowed: {', '.join(ENTRY_KEYS)})"
            )
            ok = False
            continue
        if entry.key in nodes:
            problems.add(entry.key_node, f"{where}: key {entry.key!r} given twice")
            ok = False
            continue
        nodes[entry.key] = entry.value
        text = _string(entry.value, f"{where}.{entry.key}", problems)
        if text is None:
            ok = False
        else:
            values[entry.key] = text
    for key in REQUIRED_KEYS:
        if key not in nodes:
            problems.add(node, f"{where}: {key} is required")
            ok = False
    if not ok:
        return None
    name = values["name"]
    if not is_registry_name(name):
        problems.add(
            nodes["name"],
            f"{where}.name {name!r} is not a DNS-1123 label ({REGISTRY_NAME_RULE})",
        )
        return None
    ref = values.get("ref", "HEAD")
    if ref.startswith("-") or any(ch.isspace() for ch in ref):
        problems.add(nodes["ref"], f"{where}.ref {ref!r} is not a git ref")
        return None
    values_path = values.get("valuesPath", DEFAULT_VALUES_PATH)
    pure = PurePosixPath(values_path)
    if pure.is_absolute() or ".." in pure.parts:
        problems.add(
            nodes["valuesPath"], f"{where}.valuesPath {values_path!r} must be relative, without '..'"
        )
        return None
    from provisioner.jobs.render import check_backup_job_name, default_job_name

    try:
        job_path(default_job_name(name), values.get("folder"))
    except UsageError as exc:
        problems.add(nodes.get("folder", node), f"{where}.folder: {exc.message}")
        return None
    try:
        job_name = values.get("jobName")
        if job_name is not None:
            check_backup_job_name(job_name, "job name")
        path = job_path(default_job_name(name) if job_name is None else job_name, values.get("folder"))
    except UsageError as exc:
        problems.add(nodes.get("jobName", node), f"{where}.jobName: {exc.message}")
        return None
    repo = Path(values["repo"])
    return FleetEntry(
        name=name,
        repo=repo if repo.is_absolute() else base / repo,
        ref=ref,
        values_path=str(pure),
        job=path,
        line=line_of(node),
    )


def parse_fleet(text: str, path: Path) -> list[FleetEntry]:
    """The entries of a fleet file's text; FleetError listing every problem."""
    problems = _Problems()
    try:
        root = compose_strict(text, what=str(path), max_bytes=MAX_FLEET_BYTES)
    except YamlError as exc:
        problems.add(None, exc.message, line=exc.line)
        raise FleetError(path, problems) from exc
    if not isinstance(root, MappingNode):
        problems.add(None, "the fleet file must be a mapping with one key, registries")
        raise FleetError(path, problems)
    registries: Node | None = None
    for entry in mapping_entries(root):
        if entry.key != "registries":
            problems.add(entry.key_node, f"unknown top-level key {entry.key!r} (only registries is allowed)")
        elif registries is not None:
            problems.add(entry.key_node, "registries given twice")
        else:
            registries = entry.value
    if registries is None:
        problems.add(root, "registries is required")
    elif not isinstance(registries, SequenceNode) or not registries.value:
        problems.add(registries, "registries must be a non-empty list")
    elif len(registries.value) > MAX_REGISTRIES:
        problems.add(registries, f"more than {MAX_REGISTRIES} registries")
    entries: list[FleetEntry] = []
    if isinstance(registries, SequenceNode) and not problems:
        base = path.resolve().parent
        for index, node in enumerate(registries.value):
            parsed = _entry(node, index, base, problems)
            if parsed is not None:
                entries.append(parsed)
    by_name: dict[str, FleetEntry] = {}
    by_job: dict[str, FleetEntry] = {}
    for item in entries:
        if item.name in by_name:
            first = by_name[item.name].line
            problems.add(
                None, f"registry {item.name!r} is listed twice (first at line {first})", line=item.line
            )
        by_name.setdefault(item.name, item)
        full = item.job.full_name
        if full in by_job and by_job[full].name != item.name:
            claimed = f"job {full!r} is claimed by {by_job[full].name!r} and {item.name!r}"
            problems.add(None, claimed, line=item.line)
        by_job.setdefault(full, item)
    if problems:
        raise FleetError(path, problems)
    return entries


def load_fleet(path: Path) -> list[FleetEntry]:
    return parse_fleet(read_yaml_file(path, "fleet file", max_bytes=MAX_FLEET_BYTES), path)
