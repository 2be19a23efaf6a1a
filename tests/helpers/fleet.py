"""Fleets of real registry repositories and their fleet files, for the reconcile-all tests."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from tests.helpers.cli import (
    VALUES_PATH,
    CliRun,
)
from tests.helpers.gitrepo import make_repo

Run = Callable[..., CliRun]
AUTHOR = ("Olena Koval", "olena@example.com")


def write_fleet(
    directory: Path,
    registries: dict[str, str | None],
    *,
    folder_layout: bool = False,
    extra: dict[str, dict[str, str]] | None = None,
) -> Path:
    """A repository per registry (values text; None: no repository at all) and FLEET.yaml beside them.

    Registries with the same values text are copies of one repository (fast, and still real git).
    """
    made: dict[str, Path] = {}
    lines = ["registries:"]
    for name, text in registries.items():
        repo = directory / "repos" / name
        if text is not None:
            if text in made:
                shutil.copytree(made[text], repo)
            else:
                make_repo(repo, {VALUES_PATH: text}, author=AUTHOR)
                made[text] = repo
        lines.append(f"  - name: {name}")
        lines.append(f"    repo: repos/{name}")
        if folder_layout:
            lines.append(f"    folder: {name}")
            lines.append("    jobName: Create-registry-backup")
        for key, value in (extra or {}).get(name, {}).items():
            lines.append(f"    {key}: {value}")
    fleet = directory / "fleet.yaml"
    fleet.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return fleet
