"""The README's layout section matches the tree and the layers tests/test_layers.py enforces."""

from __future__ import annotations

import re

from tests.helpers.readme import README, ROOT
from tests.test_layers import layer_of

PACKAGE = ROOT / "provisioner"


def _layout() -> dict[str, int]:
    text = README.read_text(encoding="utf-8")
    block = text[text.index("<!-- layout -->") :]
    block = block[block.index("```text\n") + 8 : block.index("```", block.index("```text\n") + 8)]
    rows: dict[str, int] = {}
    for line in block.splitlines()[1:]:
        match = re.match(r"  (\S+)\s+(\d)\s+\S", line)
        if match:
            rows[match[1]] = int(match[2])
    return rows


def _tree() -> set[str]:
    return {
        p.name + ("/" if p.is_dir() else "")
        for p in PACKAGE.iterdir()
        if (p.is_dir() and (p / "__init__.py").exists()) or p.suffix == ".py"
    }


def test_layout_lists_every_module_and_package_once() -> None:
    assert set(_layout()) == _tree()


def test_layout_layers_are_the_enforced_ones() -> None:
    for name, layer in _layout().items():
        module = (
            "provisioner"
            if name == "__init__.py"
            else "provisioner." + name.removesuffix("/").removesuffix(".py")
        )
        assert layer_of(module) == layer, name
