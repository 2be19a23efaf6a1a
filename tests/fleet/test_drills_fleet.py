"""reconcile-all with drills: a drill job per registry, flat and in folders, counted apart; drills off
costs nothing and disables what was there; orphaned drill jobs are disabled like backup jobs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from provisioner.jenkins.configxml import job_facts
from provisioner.jobs.marker import read_marker
from tests.helpers.cli import VALUES_PATH, values_yaml
from tests.helpers.fleet import Run, write_fleet
from tests.helpers.gitrepo import commit
from tests.jenkins_emulator import JenkinsEmulator

GOOD = values_yaml()
NAMES = ["reg-a", "reg-b", "reg-c"]
ZERO = {"created": 0, "updated": 0, "unchanged": 0, "failed": 0, "drift": 0}


def policy_file(directory: Path, schedule: str | None = "0 4 * * 0") -> Path:
    path = directory / "policy.yaml"
    path.write_text(f'drills:\n  schedule: "{schedule}"\n' if schedule else "jobs: {}\n")
    return path


def reconcile_all(
    run_cli: Run, fleet: Path, jenkins: JenkinsEmulator, policy: Path | None, *extra: str
) -> tuple[int, dict[str, object], str]:
    argv = ["reconcile-all", "--fleet", str(fleet), "--jenkins-url", jenkins.url, "--format", "json"]
    if policy is not None:
        argv += ["--policy", str(policy)]
    run = run_cli(*argv, *extra)
    return run.code, json.loads(run.out) if run.out.strip() else {}, run.err


def drill_results(data: dict[str, object]) -> dict[str, dict[str, object]]:
    drills = data["drills"]
    assert isinstance(drills, dict)
    return {str(r["registry"]): r for r in drills["results"]}


@pytest.mark.parametrize(("folder_layout", "processes"), [(False, "0"), (False, "2"), (True, "0")])
def test_drill_jobs_created_then_a_true_no_op(
    run_cli: Run,
    jenkins: JenkinsEmulator,
    fleet_dir: Path,
    tmp_path: Path,
    folder_layout: bool,
    processes: str,
) -> None:
    fleet = write_fleet(fleet_dir, dict.fromkeys(NAMES, GOOD), folder_layout=folder_layout)
    policy = policy_file(tmp_path)
    audit = tmp_path / "audit.jsonl"
    code, data, err = reconcile_all(
        run_cli, fleet, jenkins, policy, "--processes", processes, "--audit-log", str(audit)
    )
    assert code == 0, err
    assert data["summary"] == {**ZERO, "created": 3}  # the registries' backup jobs, as without drills
    assert data["drills"]["summary"] == {**ZERO, "created": 3}  # type: ignore[index]
    for name in NAMES:
        drill = f"{name}/Drill-registry-backup-{name}" if folder_layout else f"Drill-registry-backup-{name}"
        assert drill_results(data)[name]["job"] == drill
        facts = job_facts(jenkins.get_config(drill))
        assert facts.trigger_specs == ("TZ=Europe/Kyiv\n0 4 * * 0",) and not facts.disabled
        assert facts.parameters == (("REGISTRY_NAME", name),)
        assert read_marker(facts.description).kind == "drill"
    events = [json.loads(line)["event"] for line in audit.read_text().splitlines()]
    assert events.count("backup-settings-reconciled") == 3 and events.count("drill-job-reconciled") == 3

    jenkins.reset_counters()
    code, data, err = reconcile_all(run_cli, fleet, jenkins, policy, "--processes", processes)
    assert code == 0, err
    assert data["summary"] == {**ZERO, "unchanged": 3}
    assert data["drills"]["summary"] == {**ZERO, "unchanged": 3}  # type: ignore[index]
    assert jenkins.count("POST") == 0
    assert jenkins.count() == 1 + 2 * 3  # one listing, one config.xml per job


def test_without_drills_nothing_changes(run_cli: Run, jenkins: JenkinsEmulator, fleet_dir: Path) -> None:
    fleet = write_fleet(fleet_dir, dict.fromkeys(NAMES, GOOD))
    assert reconcile_all(run_cli, fleet, jenkins, None)[0] == 0
    jenkins.reset_counters()
    code, data, err = reconcile_all(run_cli, fleet, jenkins, None)
    assert code == 0, err
    assert "drills" not in data and set(data) == {"results", "summary", "orphans", "warnings"}
    assert jenkins.count() == 1 + 3  # as before drills existed: not one request more
    assert all(name.startswith("Create-") for name in jenkins.job_names())


def test_drills_off_disable_the_drill_jobs_and_backups_off_disable_theirs(
    run_cli: Run, jenkins: JenkinsEmulator, fleet_dir: Path, tmp_path: Path
) -> None:
    fleet = write_fleet(fleet_dir, dict.fromkeys(NAMES, GOOD))
    assert reconcile_all(run_cli, fleet, jenkins, policy_file(tmp_path))[0] == 0
    commit(fleet_dir / "repos" / "reg-b", {VALUES_PATH: values_yaml(enabled=False)})
    code, data, err = reconcile_all(run_cli, fleet, jenkins, policy_file(tmp_path))
    assert code == 0, err
    assert (
        drill_results(data)["reg-b"]["action"] == "updated"
        and drill_results(data)["reg-b"]["enabled"] is False
    )
    assert jenkins.is_disabled("Drill-registry-backup-reg-b") and jenkins.is_disabled(
        "Create-registry-backup-reg-b"
    )
    assert not jenkins.is_disabled("Drill-registry-backup-reg-a")

    # The policy drops drills: every drill job is disabled (the disabled one stays as it is), none deleted.
    code, data, err = reconcile_all(run_cli, fleet, jenkins, policy_file(tmp_path, None))
    assert code == 0, err
    assert data["drills"]["summary"] == {**ZERO, "updated": 2, "unchanged": 1}  # type: ignore[index]
    for name in NAMES:
        assert jenkins.is_disabled(f"Drill-registry-backup-{name}")
    assert len(jenkins.job_names()) == 6
    assert data["summary"] == {**ZERO, "unchanged": 3}  # the backup jobs are not touched
    jenkins.reset_counters()
    code, data, err = reconcile_all(run_cli, fleet, jenkins, None)
    assert code == 0 and jenkins.count("POST") == 0
    assert data["drills"]["summary"] == {**ZERO, "unchanged": 3}  # type: ignore[index]


def test_changed_drill_schedule_updates_only_drill_jobs(
    run_cli: Run, jenkins: JenkinsEmulator, fleet_dir: Path, tmp_path: Path
) -> None:
    fleet = write_fleet(fleet_dir, dict.fromkeys(NAMES, GOOD), folder_layout=True)
    assert reconcile_all(run_cli, fleet, jenkins, policy_file(tmp_path))[0] == 0
    jenkins.reset_counters()
    code, data, err = reconcile_all(run_cli, fleet, jenkins, policy_file(tmp_path, "0 5 * * 6"))
    assert code == 0, err
    posts = sorted(r.path for r in jenkins.requests if r.method == "POST")
    assert posts == [f"/job/{n}/job/Drill-registry-backup-{n}/config.xml" for n in NAMES]
    assert data["summary"] == {**ZERO, "unchanged": 3}
    assert data["drills"]["summary"] == {**ZERO, "updated": 3}  # type: ignore[index]


def test_text_report_and_dry_run(
    run_cli: Run, jenkins: JenkinsEmulator, fleet_dir: Path, tmp_path: Path
) -> None:
    fleet = write_fleet(fleet_dir, dict.fromkeys(NAMES, GOOD))
    argv = ("reconcile-all", "--fleet", str(fleet), "--jenkins-url", jenkins.url)
    run = run_cli(*argv, "--policy", str(policy_file(tmp_path)), "--dry-run")
    assert run.code == 0, run.err
    assert "3 registries: 3 would be created" in run.out and "3 drill jobs: 3 would be created" in run.out
    assert "Drill-registry-backup-reg-a" in run.out and jenkins.job_names() == []
    plain = run_cli(*argv)
    assert "drill" not in plain.out  # no drills, no drill line


def test_unmanaged_job_in_the_drill_jobs_place_fails_that_job_alone(
    run_cli: Run, jenkins: JenkinsEmulator, fleet_dir: Path, tmp_path: Path
) -> None:
    fleet = write_fleet(fleet_dir, dict.fromkeys(NAMES, GOOD))
    hand_made = "<flow-definition><description>ours, not the provisioner's</description></flow-definition>"
    jenkins.put_job("Drill-registry-backup-reg-b", hand_made)
    code, data, err = reconcile_all(run_cli, fleet, jenkins, policy_file(tmp_path))
    assert code == 4, err
    failed = drill_results(data)["reg-b"]
    assert failed["action"] == "failed" and "not managed" in str(failed["error"])
    assert data["summary"] == {**ZERO, "created": 3}
    assert data["drills"]["summary"] == {**ZERO, "created": 2, "failed": 1}  # type: ignore[index]
    assert "ours, not the provisioner" in jenkins.get_config("Drill-registry-backup-reg-b")
    # with drills off, that job is left alone and not reported
    code, data, err = reconcile_all(run_cli, fleet, jenkins, None)
    assert code == 0, err
    assert set(drill_results(data)) == {"reg-a", "reg-c"}


def test_orphaned_drill_jobs_are_disabled_never_deleted(
    run_cli: Run, jenkins: JenkinsEmulator, fleet_dir: Path, tmp_path: Path
) -> None:
    everyone = write_fleet(fleet_dir, dict.fromkeys(NAMES, GOOD), folder_layout=True)
    policy = policy_file(tmp_path)
    assert reconcile_all(run_cli, everyone, jenkins, policy)[0] == 0
    smaller = fleet_dir / "smaller.yaml"
    smaller.write_text(everyone.read_text().split("  - name: reg-c")[0])
    code, data, err = reconcile_all(run_cli, smaller, jenkins, policy, "--prune-orphans")
    assert code == 0, err
    assert sorted((o["job"], o["action"]) for o in data["orphans"]) == [  # type: ignore[attr-defined]
        ("reg-c/Create-registry-backup", "disabled"),
        ("reg-c/Drill-registry-backup-reg-c", "disabled"),
    ]
    assert jenkins.is_disabled("reg-c/Drill-registry-backup-reg-c")
    assert "reg-c/Drill-registry-backup-reg-c" in jenkins.job_names()
    assert not jenkins.is_disabled("reg-a/Drill-registry-backup-reg-a")
    assert data["warnings"] == []


def test_jenkins_home_target_with_drills_then_without(run_cli: Run, fleet_dir: Path, tmp_path: Path) -> None:
    fleet = write_fleet(fleet_dir, dict.fromkeys(NAMES, GOOD), folder_layout=True)
    home = tmp_path / "jenkins_home"
    args = ("reconcile-all", "--fleet", str(fleet), "--jenkins-home", str(home), "--format", "json")
    first = run_cli(*args, "--policy", str(policy_file(tmp_path)))
    assert first.code == 0, first.err
    drill = home / "jobs/reg-a/jobs/Drill-registry-backup-reg-a/config.xml"
    assert drill.is_file() and not job_facts(drill.read_text()).disabled
    second = run_cli(*args, "--policy", str(policy_file(tmp_path)))
    assert json.loads(second.out)["drills"]["summary"] == {**ZERO, "unchanged": 3}
    off = run_cli(*args)
    assert off.code == 0, off.err
    assert json.loads(off.out)["drills"]["summary"] == {**ZERO, "updated": 3}
    assert drill.is_file() and job_facts(drill.read_text()).disabled


def test_drills_off_and_an_unreadable_drill_record_fails_that_job_alone(
    run_cli: Run, jenkins: JenkinsEmulator, fleet_dir: Path, tmp_path: Path
) -> None:
    fleet = write_fleet(fleet_dir, dict.fromkeys(NAMES, GOOD))
    assert reconcile_all(run_cli, fleet, jenkins, policy_file(tmp_path))[0] == 0
    jenkins.edit_config(
        "Drill-registry-backup-reg-b",
        lambda text: text.replace("provisioner-applied: {", "provisioner-applied: {x"),
    )
    code, data, err = reconcile_all(run_cli, fleet, jenkins, None)
    assert code == 4, err
    failed = drill_results(data)["reg-b"]
    assert failed["action"] == "failed" and "record is unreadable" in str(failed["error"])
    assert data["drills"]["summary"] == {**ZERO, "updated": 2, "failed": 1}  # type: ignore[index]
    assert not jenkins.is_disabled("Drill-registry-backup-reg-b") and jenkins.is_disabled(
        "Drill-registry-backup-reg-a"
    )
