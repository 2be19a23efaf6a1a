"""Many workers over shared folders, orphan pruning, and reconcile-all == reconcile job for job."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from provisioner.jobs.jobxml import normalize_config
from provisioner.jobs.render import render_folder_config
from tests.helpers.cli import values_yaml
from tests.helpers.fleet import Run, write_fleet
from tests.jenkins_emulator import JenkinsEmulator

GOOD = values_yaml()


@pytest.mark.parametrize(("workers", "processes"), [("32", "0"), ("16", "2")])
def test_many_workers_shared_and_nested_folders(
    run_cli: Run, jenkins: JenkinsEmulator, fleet_dir: Path, workers: str, processes: str
) -> None:
    """40 registries in 4 shared nested folders plus 20 in folders of their own, all at once."""
    names = [f"reg-{i:02d}" for i in range(60)]
    extra = {name: {"folder": f"team-{i % 4}/backups"} for i, name in enumerate(names[:40])}
    fleet = write_fleet(fleet_dir, {name: GOOD for name in names[:40]}, extra=extra)
    own = write_fleet(fleet_dir / "own", {name: GOOD for name in names[40:]}, folder_layout=True)
    text = fleet.read_text() + "".join(own.read_text().splitlines(keepends=True)[1:]).replace(
        "repos/", "own/repos/"
    )
    fleet.write_text(text)
    args = ("reconcile-all", "--fleet", str(fleet), "--jenkins-url", jenkins.url, "--format", "json")
    run = run_cli(*args, "--workers", workers, "--processes", processes)
    assert run.code == 0, run.err
    assert json.loads(run.out)["summary"]["created"] == 60
    expected_folders = (
        {f"team-{i}" for i in range(4)} | {f"team-{i}/backups" for i in range(4)} | set(names[40:])
    )
    assert set(jenkins.folder_names()) == expected_folders
    # every folder was created exactly once, however many workers needed it at the same moment
    assert jenkins.count("POST", "/createItem") == 4 + 20  # the top folders at the root
    assert jenkins.count("POST") == 60 + len(expected_folders)
    assert len(jenkins.job_names()) == 60
    assert jenkins.internal_errors == []

    jenkins.reset_counters()
    again = run_cli(*args, "--workers", workers, "--processes", processes)
    assert json.loads(again.out)["summary"]["unchanged"] == 60
    assert jenkins.count("POST") == 0 and jenkins.count() == 61


def test_orphans_are_disabled_never_deleted(
    run_cli: Run, jenkins: JenkinsEmulator, fleet_dir: Path, tmp_path: Path
) -> None:
    everyone = write_fleet(fleet_dir, {"a": GOOD, "b": GOOD, "c": GOOD})
    assert run_cli("reconcile-all", "--fleet", str(everyone), "--jenkins-url", jenkins.url).code == 0
    jenkins.put_job(
        "hand-made", jenkins.get_config("Create-registry-backup-a").replace("Managed by", "Made by")
    )
    jenkins.put_job("other/unrelated", render_folder_config("x").replace("Folder x", "not ours"))
    jenkins.record_build("Create-registry-backup-c", {"REGISTRY_NAME": "c"}, result="SUCCESS", timestamp_ms=1)
    smaller = fleet_dir / "smaller.yaml"
    smaller.write_text(everyone.read_text().split("  - name: c")[0])
    base = ("reconcile-all", "--fleet", str(smaller), "--jenkins-url", jenkins.url, "--format", "json")

    jenkins.reset_counters()
    dry = run_cli(*base, "--prune-orphans", "--dry-run")
    assert dry.code == 0, dry.err
    assert json.loads(dry.out)["orphans"] == [
        {"job": "Create-registry-backup-c", "registry": "c", "action": "would be disabled", "error": None}
    ]
    assert jenkins.count("POST") == 0 and not jenkins.is_disabled("Create-registry-backup-c")

    without = run_cli(*base)  # pruning is opt-in
    assert json.loads(without.out)["orphans"] == [] and not jenkins.is_disabled("Create-registry-backup-c")

    pruned = run_cli(*base, "--prune-orphans")
    assert pruned.code == 0, pruned.err
    assert json.loads(pruned.out)["orphans"][0]["action"] == "disabled"
    assert jenkins.is_disabled("Create-registry-backup-c")
    assert "Create-registry-backup-c" in jenkins.job_names()  # kept, with its build history
    assert not jenkins.is_disabled("hand-made") and not jenkins.is_disabled("Create-registry-backup-a")

    again = run_cli(*base, "--prune-orphans")
    assert json.loads(again.out)["orphans"][0]["action"] == "already disabled"
    text = run_cli("reconcile-all", "--fleet", str(smaller), "--jenkins-url", jenkins.url, "--prune-orphans")
    assert "Create-registry-backup-c" in text.out and "backups kept" in text.out


def test_reconcile_all_and_reconcile_produce_identical_jobs(
    run_cli: Run, fleet_dir: Path, tmp_path: Path
) -> None:
    registries = {
        "kyiv": values_yaml(),
        "ny": values_yaml(zone="America/New_York", schedule="0 3 1,15 * 1", days=30),
        "paused": values_yaml(enabled=False),
    }
    fleet = write_fleet(fleet_dir, registries, extra={"ny": {"folder": "us/east"}})
    with JenkinsEmulator() as fleet_jenkins, JenkinsEmulator() as single_jenkins:
        run = run_cli(
            "reconcile-all", "--fleet", str(fleet), "--jenkins-url", fleet_jenkins.url, "--processes", "2"
        )
        assert run.code == 0, run.err
        for name in registries:
            folder = ("--folder", "us/east") if name == "ny" else ()
            one = run_cli(
                "reconcile",
                "--repo",
                str(fleet_dir / "repos" / name),
                "--registry",
                name,
                "--jenkins-url",
                single_jenkins.url,
                *folder,
            )
            assert one.code == 0, one.err
        assert fleet_jenkins.job_names() == single_jenkins.job_names()
        for job in fleet_jenkins.job_names():
            assert fleet_jenkins.get_config(job) == single_jenkins.get_config(job)
            assert normalize_config(fleet_jenkins.get_config(job)) == normalize_config(
                single_jenkins.get_config(job)
            )
        assert fleet_jenkins.is_disabled("Create-registry-backup-paused")
