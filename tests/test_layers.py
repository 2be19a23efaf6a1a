"""The package's layers point one way, and no two modules import each other (directly or around a loop).

Read from the source (the AST), so imports inside functions and under ``TYPE_CHECKING`` count too: a
lazy import still ties the two modules together. Layers, bottom to top (README, "Layout"):

    errors, names, _fs, clock, error_handler -> settings/ -> gitsource -> jenkins/ -> jobs/ ->
    fleet/, upgrade/, status, last_backup, monitoring/, backup/ -> commands/, console/ -> cli, __main__, demo

A module may import its own layer or lower ones, never a higher one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "provisioner"

LAYERS: tuple[tuple[str, ...], ...] = (
    (
        "provisioner",
        "provisioner.errors",
        "provisioner.names",
        "provisioner._fs",
        "provisioner.clock",
        "provisioner.error_handler",
    ),
    ("provisioner.settings",),
    ("provisioner.gitsource",),
    ("provisioner.jenkins",),
    ("provisioner.jobs",),
    (
        "provisioner.fleet",
        "provisioner.upgrade",
        "provisioner.status",
        "provisioner.last_backup",
        "provisioner.monitoring",
        "provisioner.backup",
    ),
    ("provisioner.commands", "provisioner.console"),
    ("provisioner.cli", "provisioner.__main__", "provisioner.demo"),
)


def _modules(root: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The module that ``name`` loads: itself, or the package that defines it as an attribute."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the package modules it imports anywhere in its source."""
    modules = _modules(root)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str | None] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                named = [a.name for a in node.names if a.name.split(".")[0] == "provisioner"]
                targets.update(_resolve(n, modules) for n in named)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                if base == "provisioner" or base.startswith("provisioner."):
                    for alias in node.names:
                        full = f"{base}.{alias.name}"
                        targets.add(full if full in modules else _resolve(base, modules))
        graph[name] = {t for t in targets if t is not None and t != name}
    return graph


def layer_of(module: str) -> int:
    best: tuple[int, int] | None = None  # (prefix length, layer): the longest matching prefix wins
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            # the package itself ("provisioner": its __init__) is matched exactly, everything else by prefix
            matches = module == prefix or (prefix != "provisioner" and module.startswith(prefix + "."))
            if matches and (best is None or len(prefix) > best[0]):
                best = (len(prefix), index)
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS (and the README's layout)")
    return best[1]


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{module} (layer {layer_of(module)}) imports {target} (layer {layer_of(target)})"
        for module, targets in graph.items()
        for target in targets
        if layer_of(target) > layer_of(module)
    )


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, list[str]]] = [(start, sorted(graph[start]))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, pending = work[-1]
            if pending:
                nxt = pending.pop(0)
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(graph.get(nxt, ()))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_every_module_has_a_layer() -> None:
    for module in import_graph():
        layer_of(module)


def test_no_module_imports_a_higher_layer() -> None:
    assert upward_imports(import_graph()) == []


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


# The checker itself, on small packages written here: it must see what it is meant to catch.


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "provisioner" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root / "provisioner"


def test_checker_sees_a_lazy_cycle_and_an_upward_import(tmp_path: Path) -> None:
    package = _write(
        tmp_path,
        {
            "__init__.py": "",
            "settings/__init__.py": "",
            "settings/a.py": "def f():\n    from provisioner.settings import b\n",
            "settings/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import f\n",
            "errors.py": "from provisioner.jobs.render import x\n",
            "jobs/__init__.py": "",
            "jobs/render.py": "x = 1\n",
        },
    )
    graph = import_graph(package)
    assert cycles(graph) == [["provisioner.settings.a", "provisioner.settings.b"]]
    assert upward_imports(graph) == ["provisioner.errors (layer 0) imports provisioner.jobs.render (layer 4)"]


def test_checker_refuses_a_module_outside_the_layers() -> None:
    with pytest.raises(AssertionError, match="in no layer"):
        layer_of("provisioner.somewhere_new")
