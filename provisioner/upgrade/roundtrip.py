"""ruamel.yaml round-trip plumbing for upgrade-values: moving entries between files with their comments.

ruamel keeps the comment lines *after* an entry on that entry (on its deepest last item). A carried
entry keeps its own end-of-line comment, but the lines after it belong to the file it lands in (they
introduce the next key), so they are swapped. Dumping follows the target file's indentation, document
markers and line ends.
"""

from __future__ import annotations

import io
import itertools
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.tokens import CommentToken
from ruamel.yaml.util import load_yaml_guess_indent


def make_yaml(indents: tuple[int, int, int] = (2, 2, 0)) -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 1 << 30  # never re-wrap long lines
    mapping, sequence, offset = indents
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    return yaml


def _content_lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def _guess_indents(text: str) -> tuple[int, int, int]:
    """(mapping indent, sequence indent, dash offset) as the file writes them."""
    lines = _content_lines(text)
    mapping = None
    for line, following in itertools.pairwise(lines):
        body = line.lstrip()
        if body.startswith("- ") or not body.split(" #")[0].rstrip().endswith(":"):
            continue
        step = (len(following) - len(following.lstrip())) - (len(line) - len(body))
        if step > 0 and not following.lstrip().startswith("- "):
            mapping = step
            break
    mapping = mapping or 2
    _, sequence, offset = load_yaml_guess_indent(text)
    if offset is None or sequence is None:
        return mapping, mapping, 0
    return mapping, max(sequence, offset + 2), offset


def _is_block(value: Any) -> bool:
    return isinstance(value, CommentedMap | CommentedSeq) and len(value) > 0 and not value.fa.flow_style()


def _tail_slot(parent: Any, key: Any) -> tuple[list[Any], int]:
    """(list, index) where the comment after entry ``key`` of ``parent`` lives."""
    value = parent[key]
    while _is_block(value):
        parent, key = value, (len(value) - 1 if isinstance(value, CommentedSeq) else list(value)[-1])
        value = parent[key]
    item = parent.ca.items.setdefault(key, [None, None, None, None])
    return item, 0 if isinstance(parent, CommentedSeq) else 2


def _split(token: CommentToken | None) -> tuple[str, str, int]:
    """(end-of-line comment, following lines, column) of a trailing comment token."""
    if token is None:
        return "", "", 0
    text = str(token.value)
    head, newline, rest = text.partition("\n")
    if not newline:
        return head, "", token.column
    return head, rest, token.column


def _set_tail(slot: tuple[list[Any], int], eol: str, rest: str, column: int) -> None:
    item, index = slot
    if not eol and not rest:
        item[index] = None
        return
    item[index] = CommentToken(eol + "\n" + rest, _Mark(column), None)


class _Mark:
    """The minimal start mark CommentToken needs (a column)."""

    def __init__(self, column: int) -> None:
        self.line = 0
        self.column = column


def take_rest(parent: Any, key: Any) -> str:
    """Remove and return the comment lines following entry ``key`` (its end-of-line comment stays)."""
    slot = _tail_slot(parent, key)
    eol, rest, column = _split(slot[0][slot[1]])
    _set_tail(slot, eol, "", column)
    return rest


def append_rest(parent: Any, key: Any, rest: str) -> None:
    slot = _tail_slot(parent, key)
    eol, old, column = _split(slot[0][slot[1]])
    _set_tail(slot, eol, old + rest, column)


def carry_entry(cur_global: Any, inc_global: Any, key: str, after: Any = None) -> None:
    """Replace ``key`` in the incoming mapping with the current one, comments sorted out.

    A key the incoming mapping lacks is added after the entry ``after`` (first when None).
    """
    keys = list(inc_global)
    if key in inc_global:
        rest = take_rest(inc_global, key)
        position = keys.index(key)
        pre = inc_global.ca.items.get(key, [None, None, None, None])[1]
        del inc_global[key]
        inc_global.ca.items.pop(key, None)
    else:
        rest = take_rest(inc_global, after) if after is not None else ""
        position = keys.index(after) + 1 if after is not None else 0
        pre = None
    value = cur_global[key]
    own = list(cur_global.ca.items.get(key, [None, None, None, None]))
    if inc_global.fa.flow_style():  # inside a flow mapping: flow too, and no room for comments
        _to_flow(value)
        own = [None, None, None, None]
    inc_global.insert(position, key, value)
    own[1] = pre  # comment lines above the key belong to the incoming file
    inc_global.ca.items[key] = own
    slot = _tail_slot(inc_global, key)
    eol, _current_rest, column = _split(slot[0][slot[1]])
    _set_tail(slot, eol, rest, column)


def mergeable(cur: Any, inc: Any) -> bool:
    """Both block mappings that can be merged entry by entry in place (no merge keys, no anchor on
    the incoming one: an alias elsewhere would see the change)."""
    return (
        _is_block(cur)
        and _is_block(inc)
        and isinstance(cur, CommentedMap)
        and isinstance(inc, CommentedMap)
        and not cur.merge
        and not inc.merge
        and inc.anchor.value is None
    )


def merge_entries(cur: Any, inc: Any, rewrite: list[str], drop: list[str]) -> None:
    """Make the incoming mapping hold the current one's entries: those in ``rewrite`` are carried
    (replaced in place, or added after their predecessor in the current mapping), those in ``drop``
    removed; every other line, the comment lines above and between entries included, stays."""
    previous = None
    for key in cur:
        if key in rewrite:
            carry_entry(cur, inc, key, after=previous)
        previous = key
    for key in drop:  # after the additions, so the mapping never becomes empty on the way
        remove_entry(inc, key)


def _to_flow(value: Any) -> None:
    if isinstance(value, CommentedMap | CommentedSeq):
        value.fa.set_flow_style()
        value.ca.items.clear()
        value.ca.comment = None
        for child in value.values() if isinstance(value, CommentedMap) else value:
            _to_flow(child)


def remove_entry(inc_global: Any, key: str) -> None:
    keys = list(inc_global)
    rest = take_rest(inc_global, key)
    index = keys.index(key)
    del inc_global[key]
    inc_global.ca.items.pop(key, None)
    if rest:
        if index > 0:
            append_rest(inc_global, keys[index - 1], rest)
        elif len(keys) > 1:  # becomes the comment above the next key
            item = inc_global.ca.items.setdefault(keys[1], [None, None, None, None])
            item[1] = [CommentToken(rest, _Mark(0), None), *(item[1] or [])]


def keep_anchors(data: Any) -> None:
    """ruamel drops anchors nobody refers to; the incoming file keeps all of them."""
    seen: set[int] = set()
    stack = [data]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        anchor = getattr(node, "anchor", None)
        if anchor is not None and getattr(anchor, "value", None) is not None:
            anchor.always_dump = True
        if isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def dump_like(data: Any, incoming: str) -> str:
    yaml = make_yaml(_guess_indents(incoming))
    lines = _content_lines(incoming)
    yaml.explicit_start = bool(lines) and lines[0].startswith("---")
    yaml.explicit_end = bool(lines) and lines[-1].rstrip() == "..."
    out = io.StringIO()
    yaml.dump(data, out)
    text = out.getvalue()
    if "\r\n" in incoming:  # keep Windows line ends
        text = text.replace("\r\n", "\n").replace("\n", "\r\n")
    return text
