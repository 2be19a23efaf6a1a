"""Strict YAML reading with line numbers: a node tree (PyYAML's composer, no object construction).

The one reader of values, fleet and policy files: :func:`read_yaml_file` (bounded read),
:func:`compose_strict` (the node tree), :class:`Problems` (every problem with its field and line,
reported at once) and :func:`unique_entries` / :func:`find_key` (mapping keys, duplicates refused).

Rejects what a values file must not contain: more than 1 MiB, invalid YAML, several documents, and
tags outside the standard YAML set (``!!python/object``, local ``!tags``). Keeps the nodes so every
error can name its line. Aliases are not expanded (a "billion laughs" file stays small).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_VALUES_BYTES = 1024 * 1024
# libyaml's parser when PyYAML was built with it (same resolver and node marks), else pure Python
_SURROGATE = re.compile("[\ud800-\udfff]")
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_STANDARD_TAGS = frozenset(
    "tag:yaml.org,2002:" + name
    for name in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp", "binary", "merge")
)

STR = "tag:yaml.org,2002:str"
INT = "tag:yaml.org,2002:int"
FLOAT = "tag:yaml.org,2002:float"
BOOL = "tag:yaml.org,2002:bool"
NULL = "tag:yaml.org,2002:null"


def read_yaml_file(path: Path, what: str, max_bytes: int = MAX_VALUES_BYTES) -> str:
    """At most ``max_bytes`` + 1 bytes of a file (compose_strict reports the excess), as text;
    undecodable bytes survive as lone surrogates, which compose_strict reports with their line."""
    from provisioner.errors import UsageError

    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError as exc:
        raise UsageError(f"{what} not found: {path}") from exc
    except IsADirectoryError as exc:
        raise UsageError(f"cannot read {what} {path}: it is a directory") from exc
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    return data.decode("utf-8", "surrogateescape")


class YamlError(ValueError):
    """The text is not acceptable YAML; ``line`` is 1-based when known."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def line_of(node: Node) -> int:
    """1-based line where a node starts."""
    return int(node.start_mark.line) + 1


def compose_strict(text: str, *, what: str = "values.yaml", max_bytes: int = MAX_VALUES_BYTES) -> Node | None:
    """Parse one YAML document of at most ``max_bytes`` into nodes; None for an empty document."""
    size = len(text.encode("utf-8", "surrogateescape"))
    if size > max_bytes:
        raise YamlError(f"{what} is {size} bytes, larger than the {max_bytes // 1024**2} MiB limit", None)
    bad = _SURROGATE.search(text)
    if bad is not None:  # undecodable bytes, kept as lone surrogates by the reader of the file
        raise YamlError(f"{what} is not valid UTF-8 text", text.count("\n", 0, bad.start()) + 1)
    try:
        root = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = int(mark.line) + 1 if mark is not None else None
        problem = exc.problem or "invalid YAML"
        context = f" {exc.context}" if exc.context else ""
        raise YamlError(f"{what} is not valid YAML: {problem}{context}", line) from exc
    except yaml.YAMLError as exc:  # e.g. ReaderError for non-printable characters
        raise YamlError(f"{what} is not valid YAML: {exc}", None) from exc
    except RecursionError as exc:
        raise YamlError(f"{what} is nested too deeply", None) from exc
    if root is not None:
        _check_tags(root, what)
    return root


def _check_tags(root: Node, what: str) -> None:
    seen: set[int] = set()
    stack: list[Node] = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node.tag not in _STANDARD_TAGS:
            raise YamlError(
                f"{what} uses the non-standard YAML tag {node.tag!r}; only standard YAML types are allowed",
                line_of(node),
            )
        if isinstance(node, MappingNode):
            for key, value in node.value:
                stack.append(key)
                stack.append(value)
        elif isinstance(node, SequenceNode):
            stack.extend(node.value)


@dataclass(frozen=True)
class Entry:
    """One key of a mapping node, with its nodes (for line numbers)."""

    key: str
    key_node: Node
    value: Node


def mapping_entries(node: MappingNode) -> list[Entry]:
    """The entries of a mapping in order; keys that are not plain strings are shown as text."""
    out: list[Entry] = []
    for key_node, value_node in node.value:
        key = key_node.value if isinstance(key_node, ScalarNode) else f"<{type(key_node).__name__}>"
        out.append(Entry(str(key), key_node, value_node))
    return out


def scalar_text(node: Node) -> str:
    """A short printable rendering of a node's value for error messages."""
    if isinstance(node, ScalarNode):
        value = str(node.value)
        shown = value if len(value) <= 60 else value[:57] + "..."
        if node.tag == STR:
            return repr(shown)
        return shown
    if isinstance(node, MappingNode):
        return "a mapping"
    return "a list"


def kind_of(node: Node) -> str:
    return {
        STR: "a string",
        INT: "an integer",
        FLOAT: "a float",
        BOOL: "a boolean",
        NULL: "null (empty)",
        "tag:yaml.org,2002:timestamp": "a timestamp",
        "tag:yaml.org,2002:binary": "binary data",
        "tag:yaml.org,2002:map": "a mapping",
        "tag:yaml.org,2002:seq": "a list",
    }.get(str(node.tag), str(node.tag))


_PLAIN_DECIMAL = re.compile(r"[-+]?(0|[1-9][0-9]{0,11})")


def construct_plain(node: Node) -> object:
    """Plain Python data from a checked node tree; duplicate keys and ambiguous scalars are errors."""
    if isinstance(node, MappingNode):
        out: dict[str, object] = {}
        for key_node, value_node in node.value:
            if not (isinstance(key_node, ScalarNode) and key_node.tag == STR):
                raise ValueError(f"line {line_of(key_node)}: keys must be strings")
            key = str(key_node.value)
            if key in out:
                raise ValueError(f"line {line_of(key_node)}: duplicate key {key!r}")
            out[key] = construct_plain(value_node)
        return out
    if isinstance(node, SequenceNode):
        return [construct_plain(item) for item in node.value]
    assert isinstance(node, ScalarNode)
    value = str(node.value)
    if node.tag == BOOL:
        if value.lower() not in ("true", "false"):
            raise ValueError(f"line {line_of(node)}: {value!r} is a YAML 1.1 boolean; write true or false")
        return value.lower() == "true"
    if node.tag == INT:
        if not _PLAIN_DECIMAL.fullmatch(value):
            raise ValueError(f"line {line_of(node)}: {value!r} is not a plain decimal integer")
        return int(value)
    if node.tag == FLOAT:
        return float("nan")  # any float: rejected by the strict int/str fields with a type error
    if node.tag == NULL:
        return None
    if node.tag == STR:
        return value
    raise ValueError(f"line {line_of(node)}: {kind_of(node)} is not allowed here")


@dataclass(frozen=True)
class FieldError:
    field: str  # dotted path, e.g. global.registryBackup.expiresInDays ("" or the file for the whole file)
    message: str  # says what was wrong (with the value) and what is allowed
    line: int | None  # 1-based line; None for a missing field or a file-level problem

    def to_json(self) -> dict[str, object]:
        return {"field": self.field, "message": self.message, "line": self.line}

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        return f"{where}{self.field}: {self.message}" if self.field else f"{where}{self.message}"


class Problems:
    """Every problem of one file, collected so all are reported at once (values, fleet, policy)."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def add(self, field: str, message: str, node: Node | None = None, *, line: int | None = None) -> None:
        self.errors.append(FieldError(field, message, line_of(node) if node is not None else line))

    def __bool__(self) -> bool:
        return bool(self.errors)

    def in_line_order(self) -> tuple[FieldError, ...]:
        """By line; problems without a line (missing fields, file-level) last."""
        return tuple(sorted(self.errors, key=lambda e: (e.line is None, e.line or 0)))


def unique_entries(node: MappingNode, path: str, problems: Problems) -> dict[str, Entry]:
    """The entries of a mapping by key; a key given twice is a problem (YAML keeps only one silently)."""
    entries: dict[str, Entry] = {}
    for entry in mapping_entries(node):
        if entry.key in entries:
            first = line_of(entries[entry.key].key_node)
            problems.add(
                f"{path}.{entry.key}" if path else entry.key,
                f"duplicate key {entry.key!r} (first on line {first}); YAML would silently keep only one",
                entry.key_node,
            )
            continue
        entries[entry.key] = entry
    return entries


def find_key(root: Node | None, key: str, problems: Problems, *, what: str) -> Entry | None:
    """The one ``key`` of a top-level mapping (None when absent or when the document cannot hold it)."""
    if root is None:
        return None
    if not isinstance(root, MappingNode):
        problems.add(what, f"the document is {kind_of(root)}, not a mapping with a {key!r} key", root)
        return None
    found: Entry | None = None
    for entry in mapping_entries(root):
        if entry.key != key:
            continue
        if found is not None:
            problems.add(
                key, f"duplicate key {key!r} (first on line {line_of(found.key_node)})", entry.key_node
            )
            return None
        found = entry
    return found
