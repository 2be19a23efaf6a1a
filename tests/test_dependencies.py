"""pyproject.toml says what runs: every third-party package provisioner/ imports is a runtime
dependency, every runtime dependency is imported (tzdata: zoneinfo's data), and what only tests or
benchmarks use (croniter, the test oracle) is in an extra."""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# import name -> distribution name, where they differ
DISTRIBUTION = {
    "jenkins": "python-jenkins",
    "yaml": "pyyaml",
    "ruamel": "ruamel.yaml",
    "prometheus_client": "prometheus-client",
}
DATA_ONLY = {"tzdata"}  # read by zoneinfo, never imported


def _name(requirement: str) -> str:
    for stop in "<>=!~[; ":
        requirement = requirement.split(stop)[0]
    return requirement.lower()


def _project() -> dict[str, object]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert isinstance(project, dict)
    return project


def imported_distributions() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "provisioner").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top != "provisioner" and top not in sys.stdlib_module_names:
                    found.add(DISTRIBUTION.get(top, top).lower())
    return found


def test_runtime_dependencies_are_what_the_package_imports() -> None:
    declared = {_name(r) for r in _project()["dependencies"]}  # type: ignore[attr-defined]
    assert declared - DATA_ONLY == imported_distributions()


def test_croniter_is_a_test_oracle_only() -> None:
    extras = _project()["optional-dependencies"]
    assert isinstance(extras, dict)
    assert "croniter" in {_name(r) for r in extras["dev"]}
    assert "croniter" not in imported_distributions()


def test_license_is_an_spdx_expression() -> None:
    assert _project()["license"] == "Apache-2.0"


def test_no_gitpython_leftovers() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    overrides = [m for o in config["tool"]["mypy"]["overrides"] for m in o["module"]]
    assert not {"git", "git.*"} & set(overrides)
    for path in [*(ROOT / "provisioner").rglob("*.py"), ROOT / "pyproject.toml"]:
        assert "gitpython" not in path.read_text(encoding="utf-8").lower(), path
