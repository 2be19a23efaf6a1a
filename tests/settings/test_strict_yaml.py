"""One strict-YAML reader and one problems collector for values, fleet and policy files.

On main the three files were read three ways: the policy file unbounded and strictly decoded (its own
"not UTF-8" message, no line), the fleet file unbounded, a directory reported three ways.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from provisioner.errors import ProvisionerError, UsageError
from provisioner.fleet.file import MAX_FLEET_BYTES, load_fleet
from provisioner.gitsource import read_values_file
from provisioner.settings.policy_file import load_policy
from provisioner.settings.strict_yaml import (
    MAX_VALUES_BYTES,
    Problems,
    compose_strict,
    find_key,
    unique_entries,
)
from provisioner.settings.values import validate_values_text


def _values(path: Path) -> str:
    result = validate_values_text(read_values_file(path).text)
    if result.errors:
        raise ProvisionerError("; ".join(str(e) for e in result.errors))
    return "ok"


LOADERS: dict[str, tuple[str, Callable[[Path], object]]] = {
    "values": ("values file", _values),
    "fleet": ("fleet file", load_fleet),
    "policy": ("policy file", load_policy),
}


@pytest.fixture(params=sorted(LOADERS))
def loader(request: pytest.FixtureRequest) -> tuple[str, Callable[[Path], object]]:
    return LOADERS[request.param]


def test_missing_and_directory_read_the_same(
    loader: tuple[str, Callable[[Path], object]], tmp_path: Path
) -> None:
    what, load = loader
    with pytest.raises(UsageError, match=f"^{what} not found: "):
        load(tmp_path / "missing.yaml")
    with pytest.raises(UsageError, match=f"^cannot read {what} .*: it is a directory$"):
        load(tmp_path)


def test_undecodable_bytes_are_reported_with_their_line(
    loader: tuple[str, Callable[[Path], object]], tmp_path: Path
) -> None:
    _what, load = loader
    path = tmp_path / "file.yaml"
    path.write_bytes(b"# fine\nkey: \xff\n")
    with pytest.raises(ProvisionerError) as caught:
        load(path)
    assert "not valid UTF-8 text" in caught.value.message and "line 2" in caught.value.message


def test_size_is_bounded_the_same_way(loader: tuple[str, Callable[[Path], object]], tmp_path: Path) -> None:
    """One reader, one message; the fleet file's limit is larger (10 000 registries, issue #14)."""
    what, load = loader
    limit = MAX_FLEET_BYTES if what == "fleet file" else MAX_VALUES_BYTES
    path = tmp_path / "big.yaml"
    path.write_bytes(b"#" * (limit + 10))
    with pytest.raises(ProvisionerError, match=f"larger than the {limit // 1024**2} MiB limit"):
        load(path)


def test_problems_come_in_line_order_with_their_field() -> None:
    root = compose_strict("a: 1\nb: 2\na: 3\nglobal: {}\nglobal: {}\n")
    problems = Problems()
    assert root is not None
    entries = unique_entries(root, "top", problems)  # type: ignore[arg-type]
    assert sorted(entries) == ["a", "b", "global"] and entries["a"].key_node.start_mark.line == 0
    assert find_key(root, "global", problems, what="file") is None
    problems.add("late", "no line")
    assert [str(p) for p in problems.in_line_order()] == [
        "line 3: top.a: duplicate key 'a' (first on line 1); YAML would silently keep only one",
        "line 5: top.global: duplicate key 'global' (first on line 4); YAML would silently keep only one",
        "line 5: global: duplicate key 'global' (first on line 4)",
        "late: no line",
    ]


def test_find_key_in_a_document_that_is_not_a_mapping() -> None:
    problems = Problems()
    assert find_key(compose_strict("- a\n"), "global", problems, what="values.yaml") is None
    assert [str(p) for p in problems.errors] == [
        "line 1: values.yaml: the document is a list, not a mapping with a 'global' key"
    ]
    assert find_key(None, "global", problems, what="values.yaml") is None and len(problems.errors) == 1
