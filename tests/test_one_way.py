"""One way to do each thing: the source has one copy of each mechanism (found by reading the AST).

Each test names where the one copy lives; a second copy anywhere else in provisioner/ fails it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "provisioner"


def _sources() -> Iterator[tuple[str, ast.Module, str]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        yield path.relative_to(PACKAGE.parent).as_posix(), ast.parse(text, str(path)), text


def _calls(tree: ast.Module, dotted: str) -> int:
    """Calls of ``a.b(...)`` or ``b(...)`` imported from ``a``."""
    module, _, name = dotted.rpartition(".")
    count = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr == name:
                if isinstance(func.value, ast.Name) and func.value.id == module.rpartition(".")[2]:
                    count += 1
            elif isinstance(func, ast.Name) and func.id == name:
                imported = any(
                    isinstance(n, ast.ImportFrom)
                    and n.module == module
                    and any(a.name == name for a in n.names)
                    for n in ast.walk(tree)
                )
                count += imported
    return count


def _string_constants(tree: ast.Module) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.value


def where(predicate: object) -> list[str]:
    assert callable(predicate)
    return [name for name, tree, text in _sources() if predicate(tree, text)]


def test_one_atomic_write() -> None:
    # _fs.atomic_write_bytes; backup/archive.py streams an archive into its temp file (not a payload in
    # memory) and renames it with the same helpers (create_exclusive, fsync_dir).
    assert where(lambda tree, _t: _calls(tree, "os.replace") or _calls(tree, "tempfile.mkstemp")) == [
        "provisioner/_fs.py",
        "provisioner/backup/archive.py",
    ]


def test_all_git_in_gitsource() -> None:
    def uses_git(tree: ast.Module, _text: str) -> bool:
        imports_pygit2 = any(
            isinstance(n, ast.Import) and any(a.name == "pygit2" for a in n.names) for n in ast.walk(tree)
        )
        return imports_pygit2 or "git" in set(
            _string_constants(tree)
        )  # shutil.which("git"), argv ["git", ...]

    assert where(uses_git) == ["provisioner/gitsource.py"]


def test_one_backup_id_pattern() -> None:
    assert where(lambda _tree, text: "[0-9]{8}T[0-9]{6}Z" in text) == ["provisioner/backup/ids.py"]


def test_one_registry_name_pattern() -> None:
    assert where(lambda _tree, text: "[a-z0-9]([-a-z0-9]" in text) == ["provisioner/names.py"]


def test_one_now_parser() -> None:
    assert where(lambda _tree, text: "fromisoformat(" in text and "--now" in text) == ["provisioner/clock.py"]
    assert where(
        lambda tree, _t: any(
            isinstance(n, ast.FunctionDef) and n.name == "parse_instant" for n in ast.walk(tree)
        )
    ) == ["provisioner/clock.py"]


TESTS = PACKAGE.parent / "tests"


def test_one_readme_example_extractor() -> None:
    readers = sorted(
        path.relative_to(TESTS.parent).as_posix()
        for path in TESTS.rglob("*.py")
        if "```console" in path.read_text(encoding="utf-8") and path.name != "test_one_way.py"
    )
    assert readers == ["tests/helpers/readme.py"]


def test_one_way_to_drive_a_cli_in_process() -> None:
    # main(argv) returns argparse's exit codes too: nobody catches SystemExit around it any more.
    catchers = sorted(
        path.relative_to(TESTS.parent).as_posix()
        for path in TESTS.rglob("*.py")
        if "except SystemExit" in path.read_text(encoding="utf-8") and path.name != "test_one_way.py"
    )
    assert catchers == []
