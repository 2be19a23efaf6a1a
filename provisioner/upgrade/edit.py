"""Change global.registryBackup in a values.yaml text and nothing else (pure; the console's save).

When the file already writes ``enabled``, ``schedule`` and ``expiresInDays`` as scalars (the usual
case), only the text of those values is replaced, in place: every other byte of the file, comments
and quoting included, stays as it was, and each changed setting changes exactly one line. Otherwise
(a key or the mapping missing) the file makes a ruamel.yaml round trip like upgrade-values does.

Either way the result is checked before it is returned: it must read (YAML node for node) like the
original outside ``global.registryBackup`` and validate to exactly the requested settings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.scalarstring import DoubleQuotedScalarString
from yaml.nodes import MappingNode, Node, ScalarNode

from provisioner.settings.model import BackupSettings
from provisioner.settings.policy import DEFAULT_POLICY, Policy
from provisioner.settings.strict_yaml import FieldError
from provisioner.settings.values import validate_values_text
from provisioner.upgrade.carry import (
    UpgradeError,
    compose_values,
    global_node,
    load_round_trip,
    same_outside,
)
from provisioner.upgrade.roundtrip import dump_like

KEY = "registryBackup"


@dataclass(frozen=True)
class NewSettings:
    enabled: bool
    schedule: str
    expires_in_days: int


class EditError(UpgradeError):
    """The file cannot take the settings (it is invalid elsewhere, or would change beyond them)."""

    def __init__(self, message: str, errors: tuple[FieldError, ...] = ()) -> None:
        super().__init__(message)
        self.errors = errors


def scalar_texts(new: NewSettings) -> dict[str, str]:
    """How each value is written: plain booleans and integers, a double-quoted schedule."""
    return {
        "enabled": "true" if new.enabled else "false",
        "schedule": json.dumps(new.schedule, ensure_ascii=True),  # JSON strings are YAML double-quoted
        "expiresInDays": str(new.expires_in_days),
    }


def _backup_entries(root: Node | None) -> dict[str, ScalarNode] | None:
    """The three settings' scalar nodes, when the file writes all three as scalars."""
    glob = global_node(root, "values.yaml")
    if glob is None:
        return None
    found = [v for k, v in glob.value if isinstance(k, ScalarNode) and k.value == KEY]
    if len(found) != 1 or not isinstance(found[0], MappingNode):
        return None
    entries: dict[str, ScalarNode] = {}
    for key, value in found[0].value:
        if not isinstance(key, ScalarNode) or str(key.value) in entries:
            return None
        if str(key.value) in ("enabled", "schedule", "expiresInDays"):
            if not isinstance(value, ScalarNode) or value.start_mark.line != value.end_mark.line:
                return None  # a block scalar or a multi-line string: let the round trip rewrite it
            entries[str(key.value)] = value
    return entries if len(entries) == 3 else None


def _replace_in_place(text: str, nodes: dict[str, ScalarNode], new: NewSettings) -> str:
    texts = scalar_texts(new)
    spans = sorted(((n.start_mark.index, n.end_mark.index, texts[k]) for k, n in nodes.items()), reverse=True)
    out = text
    for start, end, replacement in spans:
        out = out[:start] + replacement + out[end:]
    return out


def _round_trip(text: str, new: NewSettings) -> str:
    data = load_round_trip(text, "values.yaml")
    if data is None:
        data = CommentedMap()
    if not isinstance(data, CommentedMap):
        raise EditError("values.yaml is not a mapping: it cannot hold global.registryBackup")
    if "global" not in data:
        data["global"] = CommentedMap()
    glob = data["global"]
    if not isinstance(glob, CommentedMap):
        raise EditError("global in values.yaml is not a mapping: it cannot hold registryBackup")
    if not isinstance(glob.get(KEY), CommentedMap):
        glob[KEY] = CommentedMap()
    backup = glob[KEY]
    backup["enabled"] = new.enabled
    backup["schedule"] = DoubleQuotedScalarString(new.schedule)
    backup["expiresInDays"] = new.expires_in_days
    return dump_like(data, text)


def set_backup_settings(text: str, new: NewSettings, policy: Policy = DEFAULT_POLICY) -> str:
    """``text`` with global.registryBackup set to ``new``; EditError when that cannot be done safely."""
    try:
        return _set(text, new, policy)
    except EditError:
        raise
    except UpgradeError as exc:  # not YAML, no mapping to put the settings in, a broken result
        raise EditError(f"values.yaml cannot take the settings; nothing written: {exc}") from exc


def _set(text: str, new: NewSettings, policy: Policy) -> str:
    root = compose_values(text, "values.yaml")
    nodes = _backup_entries(root)
    out = _replace_in_place(text, nodes, new) if nodes is not None else _round_trip(text, new)
    if not same_outside(compose_values(out, "the changed values.yaml"), root, (KEY,)):
        raise EditError(
            "changing global.registryBackup would change values.yaml elsewhere; nothing written "
            "(please report this file)"
        )
    result = validate_values_text(out, policy)
    if result.settings is None:
        raise EditError("values.yaml has other problems: fix them in git first", result.errors)
    wanted = BackupSettings(new.enabled, new.schedule, new.expires_in_days, result.settings.time_zone)
    if result.settings != wanted:
        raise EditError(
            "the changed values.yaml would not validate to the requested settings; nothing written "
            "(please report this file)"
        )
    return out
