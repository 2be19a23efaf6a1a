"""reconcile-all end to end: real git repositories, the emulator over HTTP, python-jenkins unchanged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from provisioner.fleet.file import FleetEntry
from provisioner.jenkins.configxml import job_facts
from tests.helpers.cli import VALUES_PATH, values_yaml
from tests.helpers.fleet import Run, write_fleet
from tests.helpers.gitrepo import commit
from tests.jenkins_emulator import JenkinsEmulator

GOOD = values_yaml()


def reconcile_all(
    run_cli: Run, fleet: Path, jenkins: JenkinsEmulator, *extra: str
) -> tuple[int, dict[str, object], str]:
    run = run_cli(
        "reconcile-all", "--fleet", str(fleet), "--jenkins-url", jenkins.url, "--format", "json", *extra
    )
    return run.code, json.loads(run.out) if run.out.strip() else {}, run.err


def results_by_registry(data: dict[str, object]) -> dict[str, dict[str, object]]:
    results = data["results"]
    assert isinstance(results, list)
    return {str(r["registry"]): r for r in results}


@pytest.mark.parametrize("processes", ["0", "2"])
def test_cold_then_true_no_op(
    run_cli: Run, jenkins: JenkinsEmulator, fleet_dir: Path, processes: str
) -> None:
    names = [f"reg-{i:02d}" for i in range(12)]
    fleet = write_fleet(fleet_dir, {name: GOOD for name in names})
    code, data, err = reconcile_all(run_cli, fleet, jenkins, "--processes", processes)
    assert code == 0, err
    assert data["summary"] == {"created": 12, "updated": 0, "unchanged": 0, "failed": 0, "drift": 0}
    assert sorted(jenkins.job_names()) == [f"Create-registry-backup-{n}" for n in names]
    assert jenkins.count("GET", "/crumbIssuer") == 1  # the crumb is fetched once for all writes
    assert jenkins.count("POST") == 12
    assert jenkins.count("GET", "/api/json") == 1  # one listing of the live state
    for name in names:
        facts = job_facts(jenkins.get_config(f"Create-registry-backup-{name}"))
        assert facts.parameters == (("REGISTRY_NAME", name), ("EXPIRES_IN_HOURS", "168"))

    jenkins.reset_counters()
    code, data, err = reconcile_all(run_cli, fleet, jenkins, "--processes", processes)
    assert code == 0, err
    assert data["summary"] == {"created": 0, "updated": 0, "unchanged": 12, "failed": 0, "drift": 0}
    assert jenkins.count("POST") == 0
    assert jenkins.count() == 1 + 12  # one listing + one config.xml per job, checked live


def test_partial_failure_reports_each_reason_and_exits_4(
    run_cli: Run, jenkins: JenkinsEmulator, fleet_dir: Path, tmp_path: Path
) -> None:
    fleet = write_fleet(
        fleet_dir,
        {
            "ok-a": GOOD,
            "bad-values": values_yaml(days=3),
            "no-repo": None,
            "jenkins-error": GOOD,
            "ok-b": values_yaml(schedule="0 2 * * *"),
        },
    )
    # The job's own URL is refused: it is created, but its read-back fails.
    jenkins.fail_next(403, count=99, path_prefix="/job/Create-registry-backup-jenkins-error/")
    audit = tmp_path / "audit.jsonl"
    code, data, err = reconcile_all(run_cli, fleet, jenkins, "--audit-log", str(audit))
    assert code == 4, err
    by = results_by_registry(data)
    assert by["ok-a"]["action"] == "created" and by["ok-b"]["action"] == "created"
    assert by["bad-values"]["action"] == "failed"
    assert "expiresInDays" in str(by["bad-values"]["error"]) and "line 6" in str(by["bad-values"]["error"])
    assert by["no-repo"]["action"] == "failed" and "repository directory not found" in str(
        by["no-repo"]["error"]
    )
    assert by["jenkins-error"]["action"] == "failed" and "403" in str(by["jenkins-error"]["error"])
    assert data["summary"] == {"created": 2, "updated": 0, "unchanged": 0, "failed": 3, "drift": 0}
    assert [r["registry"] for r in data["results"]] == [
        "ok-a",
        "bad-values",
        "no-repo",
        "jenkins-error",
        "ok-b",
    ]
    # audit: the two creations and the Jenkins failure (settings that never reached Jenkins are not audited)
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    assert sorted((r["registry"], r["result"]) for r in lines) == [
        ("jenkins-error", "error"),
        ("ok-a", "ok"),
        ("ok-b", "ok"),
    ]
    assert all(r["actor"] == {"name": "Olena Koval", "email": "olena@example.com"} for r in lines)


def test_exit_codes_when_nothing_could_be_done(
    run_cli: Run, jenkins: JenkinsEmulator, fleet_dir: Path
) -> None:
    invalid = write_fleet(fleet_dir, {"a": values_yaml(days=1), "b": values_yaml(schedule="* * * * *")})
    code, data, _err = reconcile_all(run_cli, invalid, jenkins)
    assert code == 1 and data["summary"]["failed"] == 2  # type: ignore[index]
    assert jenkins.count("POST") == 0

    good = write_fleet(fleet_dir / "..", {"c": GOOD})
    down = run_cli(
        "reconcile-all", "--fleet", str(good), "--jenkins-url", "http://127.0.0.1:9/", "--timeout", "1"
    )
    assert down.code == 3 and "failed after 4 attempts" in down.err


def test_text_output_lists_changes_and_failures(
    run_cli: Run, jenkins: JenkinsEmulator, fleet_dir: Path
) -> None:
    fleet = write_fleet(fleet_dir, {"a": GOOD, "b": values_yaml(zone="Mars/Olympus")})
    run = run_cli("reconcile-all", "--fleet", str(fleet), "--jenkins-url", jenkins.url)
    assert run.code == 4
    assert "Create-registry-backup-a" in run.out and "created" in run.out
    assert "FAILED" in run.out and "Mars/Olympus" in run.out
    assert "2 registries: 1 created, 0 updated, 0 unchanged, 1 failed, drift in 0" in run.out


def test_change_drift_and_dry_run(run_cli: Run, jenkins: JenkinsEmulator, fleet_dir: Path) -> None:
    fleet = write_fleet(fleet_dir, {"a": GOOD, "b": GOOD, "c": GOOD})
    assert reconcile_all(run_cli, fleet, jenkins)[0] == 0
    commit(fleet_dir / "repos" / "a", {VALUES_PATH: values_yaml(schedule="15 3 * * *")})
    jenkins.edit_config("Create-registry-backup-b", lambda xml: xml.replace("168", "24"))

    jenkins.reset_counters()
    code, data, err = reconcile_all(run_cli, fleet, jenkins, "--dry-run")
    assert code == 0, err
    by = results_by_registry(data)
    assert by["a"]["action"] == "updated" and "15 3 * * *" in str(by["a"]["diff"])
    assert by["b"]["action"] == "updated" and by["b"]["drift"] is True
    assert by["c"]["action"] == "unchanged" and all(r["dryRun"] for r in by.values())
    assert jenkins.count("POST") == 0

    code, data, err = reconcile_all(run_cli, fleet, jenkins)
    assert code == 0, err
    assert data["summary"] == {"created": 0, "updated": 2, "unchanged": 1, "failed": 0, "drift": 1}
    assert job_facts(jenkins.get_config("Create-registry-backup-a")).trigger_specs == (
        "TZ=Europe/Kyiv\n15 3 * * *",
    )
    assert ("EXPIRES_IN_HOURS", "168") in job_facts(jenkins.get_config("Create-registry-backup-b")).parameters


def test_jobs_deleted_in_jenkins_are_recreated(
    run_cli: Run, jenkins: JenkinsEmulator, fleet_dir: Path
) -> None:
    """No local cache: a job deleted in Jenkins is noticed (JJB's warm cache would not)."""
    fleet = write_fleet(fleet_dir, {"a": GOOD, "b": GOOD})
    assert reconcile_all(run_cli, fleet, jenkins)[0] == 0
    jenkins.delete_item("Create-registry-backup-b")
    code, data, _err = reconcile_all(run_cli, fleet, jenkins)
    assert code == 0 and results_by_registry(data)["b"]["action"] == "created"


def test_jenkins_home_target(run_cli: Run, fleet_dir: Path, tmp_path: Path) -> None:
    fleet = write_fleet(fleet_dir, {"a": GOOD, "b": GOOD}, folder_layout=True)
    home = tmp_path / "jenkins_home"
    args = ("reconcile-all", "--fleet", str(fleet), "--jenkins-home", str(home), "--format", "json")
    first = run_cli(*args)
    assert first.code == 0, first.err
    assert (home / "jobs/a/config.xml").is_file() and (
        home / "jobs/a/jobs/Create-registry-backup/config.xml"
    ).is_file()
    second = run_cli(*args)
    assert json.loads(second.out)["summary"]["unchanged"] == 2


def test_progress_bar_goes_to_stderr_and_keeps_stdout_clean(
    run_cli: Run, jenkins: JenkinsEmulator, fleet_dir: Path
) -> None:
    fleet = write_fleet(fleet_dir, {"a": GOOD, "b": GOOD})
    code, data, err = reconcile_all(run_cli, fleet, jenkins, "--progress", "always")
    assert code == 0, err
    assert data["summary"]["created"] == 2  # type: ignore[index]
    assert "reconciling" in err


def test_fetch_chunks_keep_every_thread_busy() -> None:
    from provisioner.fleet.run import FETCH_CHUNK, fetch_chunk

    assert fetch_chunk(12, 16) == 1  # a small fleet: one job per task
    assert fetch_chunk(12, 1) == 3
    assert fetch_chunk(1000, 16) == FETCH_CHUNK == 8
    assert fetch_chunk(0, 8) == 1


def test_planning_in_threads_runs_one_batch_at_a_time(
    run_cli: Run, jenkins: JenkinsEmulator, fleet_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # --processes 0: the GIL plans one batch at a time anyway; more batches at once would only hand it
    # around between planning threads (and away from the HTTP threads). Jobs read one to a task
    # arrive one by one: a batch is submitted for them while another is still being planned.
    import threading
    import time

    from provisioner.fleet import run as fleet_run

    names = [f"reg-{i:02d}" for i in range(12)]
    fleet = write_fleet(fleet_dir, {name: GOOD for name in names})
    code, _data, err = reconcile_all(run_cli, fleet, jenkins, "--processes", "0", "--workers", "8")
    assert code == 0, err
    lock = threading.Lock()
    active, peak, planned = 0, 0, 0
    real = fleet_run.plan_batch

    def counting(items: list[tuple[FleetEntry, str | None]], *args: Any) -> list[object]:
        nonlocal active, peak, planned
        with lock:
            active += 1
            peak = max(peak, active)
            planned += len(items)
        try:
            time.sleep(0.02)  # another batch would start meanwhile if it could
            return list(real(items, *args))
        finally:
            with lock:
                active -= 1

    monkeypatch.setattr(fleet_run, "plan_batch", counting)
    code, data, err = reconcile_all(run_cli, fleet, jenkins, "--processes", "0", "--workers", "8")
    assert code == 0, err
    assert {r["action"] for r in results_by_registry(data).values()} == {"unchanged"}
    assert planned == 12
    assert peak == 1


def test_a_failed_read_fails_its_registry_alone_within_a_chunk(
    run_cli: Run, jenkins: JenkinsEmulator, fleet_dir: Path
) -> None:
    # One HTTP thread for 12 jobs: they are read three to a task, and the middle one of a task fails.
    names = [f"reg-{i:02d}" for i in range(12)]
    fleet = write_fleet(fleet_dir, {name: GOOD for name in names})
    code, _data, err = reconcile_all(run_cli, fleet, jenkins, "--processes", "0", "--workers", "1")
    assert code == 0, err
    jenkins.reset_counters()
    jenkins.fail_next(403, count=99, path_prefix="/job/Create-registry-backup-reg-04/")
    code, data, err = reconcile_all(run_cli, fleet, jenkins, "--processes", "0", "--workers", "1")
    assert code == 4, err
    by = results_by_registry(data)
    assert by["reg-04"]["action"] == "failed" and "403" in str(by["reg-04"]["error"])
    assert all(by[name]["action"] == "unchanged" for name in names if name != "reg-04")
    assert [r["registry"] for r in data["results"]] == names  # in fleet order
    assert jenkins.count("POST") == 0
    assert jenkins.count("GET", "/job/") == 12  # every job read, the refused one once (4xx: no retry)
