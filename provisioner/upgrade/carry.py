"""Carry a registry's backup settings into the values.yaml of a new registry version (pure core).

``global.timeZone`` and ``global.registryBackup`` are taken from the *current* values.yaml; the
*incoming* file (the new version's) keeps everything else: comments, key order, quoting, anchors.
The rules:

* a setting present in the current file replaces the incoming one, formatting, quoting and the
  comments on its own lines included (round-trip YAML with ruamel.yaml); when both files write
  ``registryBackup`` as a block mapping it is merged entry by entry instead, so the incoming file's
  comment lines inside it stay and only the lines of values that differ change;
* a setting absent in the current file is removed from the incoming file (defaults applied before,
  so they must apply after: a default in the new chart must not silently change the backups);
* an invalid current setting is carried over unchanged, with a warning;
* a setting that already has the same YAML meaning in the incoming file (same tags and values) is
  left as the incoming file writes it; so upgrading an upgraded file returns it byte for byte.

Before returning, the result is checked: it must read (YAML node for node) like the incoming file
outside the carried-over keys, and validate to the same settings (or the same errors) as the
current file. Otherwise :class:`UpgradeError` is raised and nothing is written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError as RuamelYAMLError
from ruamel.yaml.error import YAMLFutureWarning
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from provisioner.settings.policy import DEFAULT_POLICY, Policy
from provisioner.settings.strict_yaml import Problems, YamlError, compose_strict, find_key, line_of
from provisioner.settings.values import validate_values_text
from provisioner.upgrade.roundtrip import (
    append_rest,
    carry_entry,
    dump_like,
    keep_anchors,
    make_yaml,
    merge_entries,
    mergeable,
    remove_entry,
    take_rest,
)

CARRIED_KEYS = ("timeZone", "registryBackup")
_STR = "tag:yaml.org,2002:str"
_FIXED_NOW = datetime(2026, 1, 1, tzinfo=UTC)  # DST warnings are not compared; any instant will do


class UpgradeError(ValueError):
    """The upgrade cannot be made safely (exit 1); ``line`` is 1-based when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line is not None else self.message


@dataclass(frozen=True)
class UpgradeResult:
    text: str  # the upgraded values.yaml
    carried_over: dict[str, object]  # dotted key -> value (plain JSON data) now in the output
    changed: tuple[str, ...]  # dotted keys whose text was rewritten from the current file
    removed: tuple[str, ...]  # dotted keys deleted from the incoming file (absent in the current one)
    warnings: tuple[str, ...]
    unchanged: bool  # the output is byte-identical to the incoming file

    def to_json(self) -> dict[str, object]:
        return {
            "carriedOver": dict(self.carried_over),
            "changed": list(self.changed),
            "removed": list(self.removed),
            "unchanged": self.unchanged,
            "warnings": list(self.warnings),
        }


# ---------------------------------------------------------------------------------------------
# Reading


def compose_values(text: str, what: str) -> Node | None:
    try:
        return compose_strict(text, what=what)
    except YamlError as exc:
        raise UpgradeError(exc.message, exc.line) from exc


def global_node(root: Node | None, what: str) -> MappingNode | None:
    """The ``global`` mapping node (None when absent); UpgradeError when it cannot hold settings."""
    problems = Problems()
    found = find_key(root, "global", problems, what=what)
    if problems:
        first = problems.errors[0]
        raise UpgradeError(f"{what}: {first.message}", first.line)
    if found is None:
        return None
    if not isinstance(found.value, MappingNode):
        raise UpgradeError(
            f"{what}: global is not a mapping, so it has no timeZone or registryBackup to carry",
            line_of(found.value),
        )
    return found.value


def _entries(node: MappingNode | None) -> dict[str, Node]:
    if node is None:
        return {}
    return {str(k.value): v for k, v in node.value if isinstance(k, ScalarNode)}


def _same(a: Node, b: Node, memo: set[tuple[int, int]] | None = None) -> bool:
    """Same YAML meaning: same tags (YAML 1.1 resolution, as Helm and the validator read) and values."""
    memo = set() if memo is None else memo
    pair = (id(a), id(b))
    if pair in memo:  # shared (aliased) nodes: compare once, keeps "billion laughs" linear
        return True
    memo.add(pair)
    if type(a) is not type(b) or a.tag != b.tag:
        return False
    if isinstance(a, ScalarNode):
        return bool(a.value == b.value)
    if len(a.value) != len(b.value):
        return False
    if isinstance(a, SequenceNode):
        return all(_same(x, y, memo) for x, y in zip(a.value, b.value, strict=True))
    return all(
        _same(ka, kb, memo) and _same(va, vb, memo)
        for (ka, va), (kb, vb) in zip(a.value, b.value, strict=True)
    )


def _entry_plan(cur: Node, inc: Node) -> tuple[list[str], list[str]] | None:
    """(keys to rewrite, keys to drop) to merge two block mappings of plain string keys; else None.

    Key order is not meaning: a mapping with the same entries in another order needs nothing.
    """
    if not (isinstance(cur, MappingNode) and isinstance(inc, MappingNode)):
        return None
    if cur.flow_style or inc.flow_style:  # a one-line mapping is replaced whole
        return None
    if not all(isinstance(k, ScalarNode) and k.tag == _STR for k, _ in [*cur.value, *inc.value]):
        return None  # merge keys (<<) and odd keys: the mapping is replaced whole
    cur_entries, inc_entries = _entries(cur), _entries(inc)
    rewrite = [k for k, v in cur_entries.items() if not (k in inc_entries and _same(v, inc_entries[k]))]
    return rewrite, [k for k in inc_entries if k not in cur_entries]


def _without(root: Node | None, keys: tuple[str, ...]) -> Node | None:
    """A shallow copy of the tree with these keys of global dropped (for comparison)."""
    if not isinstance(root, MappingNode):
        return root
    pairs: list[tuple[Node, Node]] = []
    for key, value in root.value:
        if isinstance(key, ScalarNode) and key.value == "global" and isinstance(value, MappingNode):
            kept = [
                (k, v) for k, v in value.value if not (isinstance(k, ScalarNode) and k.value in keys)
            ]
            if not kept:
                continue  # an emptied global counts as absent
            value = MappingNode(value.tag, kept, value.start_mark, value.end_mark, value.flow_style)
        pairs.append((key, value))
    if not pairs:  # an empty mapping and an empty document read the same
        return None
    return MappingNode(root.tag, pairs, root.start_mark, root.end_mark, root.flow_style)


def same_outside(a: Node | None, b: Node | None, keys: tuple[str, ...]) -> bool:
    """Whether two documents read the same once these keys of ``global`` are dropped from both."""
    rest_a, rest_b = _without(a, keys), _without(b, keys)
    if rest_a is None or rest_b is None:
        return rest_a is None and rest_b is None
    return _same(rest_a, rest_b)


def load_round_trip(text: str, what: str) -> Any:
    try:
        return make_yaml().load(text)
    except (RuamelYAMLError, YAMLFutureWarning) as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = int(mark.line) + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UpgradeError(f"{what} cannot be read for a round trip: {problem}", line) from exc


def _plain(value: Any) -> object:
    """JSON-friendly plain data for the report."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _settings_view(text: str, policy: Policy) -> object:
    result = validate_values_text(text, policy, now=_FIXED_NOW)
    if result.settings is not None:
        return result.settings
    return tuple(sorted((e.field, e.message) for e in result.errors))  # the order follows the lines


def upgrade_values_text(current: str, incoming: str, policy: Policy = DEFAULT_POLICY) -> UpgradeResult:
    """The incoming values.yaml with global.timeZone and global.registryBackup of the current one."""
    cur_root = compose_values(current, "current values.yaml")
    inc_root = compose_values(incoming, "incoming values.yaml")
    cur_entries = _entries(global_node(cur_root, "current values.yaml"))
    inc_entries = _entries(global_node(inc_root, "incoming values.yaml"))

    warnings: list[str] = []
    checked = validate_values_text(current, policy, now=_FIXED_NOW)
    for error in checked.errors:
        where = f" (line {error.line})" if error.line is not None else ""
        warnings.append(
            f"current {error.field} is invalid{where}: {error.message} -- carried over unchanged "
            "(an upgrade never changes a registry's backups); fix it in values.yaml"
        )

    plans = {
        k: plan
        for k in CARRIED_KEYS
        if k in cur_entries
        and k in inc_entries
        and (plan := _entry_plan(cur_entries[k], inc_entries[k])) is not None
    }
    to_carry = [
        k
        for k in CARRIED_KEYS
        if k in cur_entries
        and (
            any(plans[k]) if k in plans else not (k in inc_entries and _same(cur_entries[k], inc_entries[k]))
        )
    ]
    to_remove = [k for k in CARRIED_KEYS if k not in cur_entries and k in inc_entries]

    cur_data = load_round_trip(current, "current values.yaml")
    carried_over = {f"global.{k}": _plain(cur_data["global"][k]) for k in CARRIED_KEYS if k in cur_entries}
    if not to_carry and not to_remove:
        return UpgradeResult(incoming, carried_over, (), (), tuple(warnings), unchanged=True)

    inc_data = load_round_trip(incoming, "incoming values.yaml")
    keep_anchors(inc_data)
    if inc_data is None:
        inc_data = CommentedMap()
    end_comments = ""
    if "global" not in inc_data:  # appended at the end; comments that ended the file stay last
        keys = list(inc_data)
        end_comments = take_rest(inc_data, keys[-1]) if keys else ""
        inc_data["global"] = CommentedMap()
    inc_global = inc_data["global"]
    for key in to_remove:
        remove_entry(inc_global, key)
    for key in CARRIED_KEYS:  # in this order, so registryBackup lands after timeZone when added
        if key not in to_carry:
            continue
        cur_value = cur_data["global"][key]
        if key in plans and mergeable(cur_value, inc_global[key]):
            merge_entries(cur_value, inc_global[key], *plans[key])
            continue
        keys = list(inc_global)
        after = "timeZone" if key == "registryBackup" and "timeZone" in keys else (keys[-1] if keys else None)
        carry_entry(cur_data["global"], inc_global, key, after=after)
    if end_comments and len(inc_global):
        append_rest(inc_global, list(inc_global)[-1], end_comments)
    text = dump_like(inc_data, incoming)

    _check(text, incoming, current, policy)
    return UpgradeResult(
        text,
        carried_over,
        tuple(f"global.{k}" for k in to_carry),
        tuple(f"global.{k}" for k in to_remove),
        tuple(warnings),
        unchanged=text == incoming,
    )


def _check(text: str, incoming: str, current: str, policy: Policy) -> None:
    """The output must keep the incoming file's meaning and the current file's settings."""
    out_root = compose_values(text, "upgraded values.yaml")
    inc_root = compose_values(incoming, "incoming values.yaml")
    if not same_outside(out_root, inc_root, CARRIED_KEYS):
        raise UpgradeError(
            "the round trip would change the incoming file outside global.timeZone and "
            "global.registryBackup; nothing written (please report this file)"
        )
    if _settings_view(text, policy) != _settings_view(current, policy):
        raise UpgradeError(
            "the upgraded file would not validate to the current backup settings; nothing written "
            "(please report this file)"
        )
