"""Strict YAML reading with line numbers: a node tree (PyYAML's composer, no object construction).

Rejects what a values file must not contain: more than 1 MiB, invalid YAML, several documents, and
tags outside the standard YAML set (``!!python/object``, local ``!tags``). Keeps the nodes so every
error can name its line. Aliases are not expanded (a "billion laughs" file stays small).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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


class YamlError(ValueError):
    """The text is not acceptable YAML; ``line`` is 1-based when known."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def line_of(node: Node) -> int:
    """1-based line where a node starts."""
    return int(node.start_mark.line) + 1


def compose_strict(text: str, *, what: str = "values.yaml") -> Node | None:
    """Parse one YAML document into nodes; None for an empty document."""
    size = len(text.encode("utf-8", "surrogateescape"))
    if size > MAX_VALUES_BYTES:
        raise YamlError(f"{what} is {size} bytes, larger than the 1 MiB limit", None)
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
