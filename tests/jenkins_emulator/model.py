"""In-memory Jenkins item tree: folders, jobs, builds, queue. Guarded by one lock (ItemTree.lock)."""

from __future__ import annotations

import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from . import xmlconfig
from .xmlconfig import ConfigError, JobFacts, ParamDef

UNSAFE_CHARS = set("?*/\\%!@#$^&|<>[]:;")


class Failure(Exception):
    """A user error Jenkins renders as 400 with ``X-Error``."""


class NotFound(Exception):
    pass


def check_good_name(name: str) -> None:
    """``jenkins.model.Jenkins.checkGoodName``."""
    if not name:
        raise Failure("No name is specified")
    if name in (".", ".."):
        raise Failure(f"\u201c{name}\u201d is not an allowed name")
    for ch in name:
        if ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F or ch in UNSAFE_CHARS:
            raise Failure(f"\u2018{ch}\u2019 is an unsafe character")
    if name.endswith("."):
        raise Failure("A name cannot end with \u2018.\u2019")


@dataclass
class Build:
    number: int
    parameters: dict[str, str]
    result: str | None  # None while building
    timestamp_ms: int
    duration_ms: int


@dataclass
class QueueItem:
    id: int
    job: Item
    parameters: dict[str, str]
    in_queue_since_ms: int


@dataclass(eq=False)
class Item:
    name: str
    parent: Item | None
    root: ET.Element  # as Jenkins holds it (normalized in realistic mode)
    config_text: str
    facts: JobFacts
    children: dict[str, Item] = field(default_factory=dict)  # folders only; key: lower-cased name
    builds: list[Build] = field(default_factory=list)
    next_build_number: int = 1
    queue: list[QueueItem] = field(default_factory=list)

    @property
    def is_folder(self) -> bool:
        return self.facts.root == xmlconfig.FOLDER

    @property
    def full_name(self) -> str:
        parts = []
        node: Item | None = self
        while node is not None and node.parent is not None:
            parts.append(node.name)
            node = node.parent
        return "/".join(reversed(parts))

    @property
    def url_path(self) -> str:
        """``job/a/job/b/`` (empty for the root)."""
        parts = []
        node: Item | None = self
        while node is not None and node.parent is not None:
            parts.append(node.name)
            node = node.parent
        return "".join(f"job/{_quote(p)}/" for p in reversed(parts))

    def child(self, name: str) -> Item | None:
        return self.children.get(name.lower())

    def sorted_children(self) -> list[Item]:
        return sorted(self.children.values(), key=lambda i: i.name.lower())


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


class ItemTree:
    """All items under a root; every public method takes the lock."""

    def __init__(self, *, realistic: bool, drop_invalid_triggers: bool) -> None:
        self.lock = threading.RLock()
        self.realistic = realistic
        self.drop_invalid_triggers = drop_invalid_triggers
        root_elem = ET.Element("hudson")
        self.root = Item(
            name="", parent=None, root=root_elem, config_text="", facts=JobFacts(root=xmlconfig.FOLDER)
        )
        self._queue_id = 0

    # --- loading ---------------------------------------------------------------------------------
    def load(self, data: bytes | str) -> tuple[ET.Element, str, JobFacts]:
        """Parse posted XML into what Jenkins would hold; raise ConfigError like Jenkins's 500s."""
        parsed = xmlconfig.parse(data)
        if self.realistic:
            held = xmlconfig.normalize_tree(
                parsed, drop_invalid_triggers=self.drop_invalid_triggers, drop_unknown=True, in_place=True
            )
            text = xmlconfig.serialize_realistic(held)
        else:
            held = parsed
            dropped = self.drop_invalid_triggers and xmlconfig.drop_invalid_timer_triggers(held) > 0
            if dropped:
                text = xmlconfig.serialize_plain(held)
            else:
                text = data.decode("utf-8") if isinstance(data, bytes) else data
        return held, text, xmlconfig.extract_facts(held)

    # --- lookup ----------------------------------------------------------------------------------
    def resolve(self, names: list[str]) -> Item:
        node = self.root
        for name in names:
            if not node.is_folder:
                raise NotFound(name)
            nxt = node.child(name)
            if nxt is None:
                raise NotFound(name)
            node = nxt
        return node

    def resolve_full_name(self, full_name: str) -> Item:
        return self.resolve([p for p in full_name.split("/") if p])

    # --- mutation --------------------------------------------------------------------------------
    def create(self, parent: Item, name: str, data: bytes | str) -> Item:
        with self.lock:
            check_good_name(name)
            name = name.strip()
            if parent.child(name) is not None:
                raise Failure(f"A job already exists with the name \u2018{name}\u2019")
            root, text, facts = self.load(data)
            item = Item(name=name, parent=parent, root=root, config_text=text, facts=facts)
            parent.children[name.lower()] = item
            return item

    def update(self, item: Item, data: bytes | str) -> None:
        with self.lock:
            root, text, facts = self.load(data)
            if root.tag != item.facts.root:
                raise ConfigError(f"Expecting {item.facts.root} but got {root.tag} instead")
            item.root, item.config_text, item.facts = root, text, facts

    def set_disabled(self, item: Item, disabled: bool) -> None:
        with self.lock:
            root = item.root
            xmlconfig.set_disabled(root, disabled)
            item.facts.disabled = disabled
            if self.realistic:
                item.config_text = xmlconfig.serialize_realistic(root)
            else:
                item.config_text = xmlconfig.serialize_plain(root)

    def delete(self, item: Item) -> None:
        with self.lock:
            if item.parent is not None:
                item.parent.children.pop(item.name.lower(), None)
                item.parent = None

    def ensure_folders(self, names: list[str]) -> Item:
        with self.lock:
            node = self.root
            for name in names:
                nxt = node.child(name)
                if nxt is None:
                    nxt = self.create(node, name, xmlconfig.DEFAULT_FOLDER_XML)
                elif not nxt.is_folder:
                    raise ConfigError(f"{nxt.full_name} is not a folder")
                node = nxt
            return node

    def enqueue(self, item: Item, parameters: dict[str, str]) -> QueueItem:
        with self.lock:
            self._queue_id += 1
            q = QueueItem(self._queue_id, item, parameters, int(time.time() * 1000))
            item.queue.append(q)
            return q

    def queue_item(self, qid: int) -> QueueItem | None:
        with self.lock:
            for item in self.walk():
                for q in item.queue:
                    if q.id == qid:
                        return q
        return None

    def walk(self, node: Item | None = None) -> list[Item]:
        with self.lock:
            out: list[Item] = []
            stack = [node or self.root]
            while stack:
                cur = stack.pop()
                for child in cur.sorted_children()[::-1]:
                    out.append(child)
                    stack.append(child)
            return out


def resolve_parameters(params: tuple[ParamDef, ...], given: dict[str, str]) -> dict[str, str]:
    """Values for every defined parameter (defaults for missing ones); bad choices raise ValueError."""
    values: dict[str, str] = {}
    for pdef in params:
        if pdef.name in given:
            value = given[pdef.name]
            if pdef.kind == "choice" and value not in pdef.choices:
                raise ValueError(f"Illegal choice for parameter {pdef.name}: {value}")
            if pdef.kind == "boolean":
                value = "true" if value.strip().lower() == "true" else "false"
        else:
            value = pdef.default
        values[pdef.name] = value
    return values


def param_value_class(pdef: ParamDef) -> str:
    return {
        "string": "hudson.model.StringParameterValue",
        "text": "hudson.model.TextParameterValue",
        "boolean": "hudson.model.BooleanParameterValue",
        "choice": "hudson.model.StringParameterValue",
        "password": "hudson.model.PasswordParameterValue",
    }.get(pdef.kind, "hudson.model.StringParameterValue")


__all__ = [
    "Build",
    "ConfigError",
    "Failure",
    "Item",
    "ItemTree",
    "NotFound",
    "QueueItem",
    "check_good_name",
    "param_value_class",
    "resolve_parameters",
]
