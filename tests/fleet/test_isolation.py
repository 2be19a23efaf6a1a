"""One registry's failure stays that registry's: an error nobody translated, raised while planning,
fails it alone (the corrupt-repository case through worker processes: tests/gitsource/test_hostile_git.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pygit2
import pytest

import provisioner.fleet.run as fleet_run
from provisioner.fleet.file import FleetEntry
from tests.helpers.cli import values_yaml
from tests.helpers.fleet import Run, write_fleet
from tests.jenkins_emulator import JenkinsEmulator


def test_untranslated_planning_error_fails_that_registry_alone(
    run_cli: Run, jenkins: JenkinsEmulator, fleet_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = fleet_run.plan_entry

    def plan_entry(entry: FleetEntry, *args: object) -> object:
        if entry.name == "odd":
            raise pygit2.GitError("something libgit2 says")  # does not pickle, is no ProvisionerError
        return real(entry, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(fleet_run, "plan_entry", plan_entry)
    fleet = write_fleet(fleet_dir, {"a": values_yaml(), "odd": values_yaml(), "b": values_yaml()})
    run = run_cli(
        "reconcile-all", "--fleet", str(fleet), "--jenkins-url", jenkins.url, "--format", "json",
        "--processes", "0",
    )  # fmt: skip
    assert run.code == 4, run.err
    by = {r["registry"]: r for r in json.loads(run.out)["results"]}
    assert by["a"]["action"] == by["b"]["action"] == "created"
    assert by["odd"]["action"] == "failed"
    assert by["odd"]["error"] == "unexpected error while planning: GitError: something libgit2 says"
