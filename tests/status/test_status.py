"""provisioner status from a real archive store, from the Jenkins emulator, and its edge cases."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from provisioner.settings.model import BackupSettings
from provisioner.status import LastBackup, build_status, overdue, render_text
from tests.helpers.backups import make_backup
from tests.helpers.cli import CliRun, values_yaml
from tests.helpers.gitrepo import make_repo
from tests.jenkins_emulator import JenkinsEmulator

Run = Callable[..., CliRun]
KYIV = "Europe/Kyiv"
NOW = "2026-11-22T10:00:00Z"


def write_values(tmp_path: Path, **kwargs: object) -> Path:
    path = tmp_path / "values.yaml"
    path.write_text(values_yaml(**kwargs), encoding="utf-8")  # type: ignore[arg-type]
    return path


def status_json(run_cli: Run, *args: str) -> dict[str, object]:
    run = run_cli("status", *args, "--format", "json")
    assert run.code == 0, run.err
    data = json.loads(run.out)
    assert isinstance(data, dict)
    return data


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """Three nightly backups (19:30 Kyiv = 17:30 UTC) made by backup-registry with fixed clocks."""
    path = tmp_path / "store"
    for day in (19, 20, 21):
        make_backup(path, tmp_path / "src", datetime(2026, 11, day, 17, 30, tzinfo=UTC))
    return path


def test_from_a_real_store(run_cli: Run, tmp_path: Path, store: Path) -> None:
    values = write_values(tmp_path)
    data = status_json(
        run_cli, "--values", str(values), "--registry", "demo", "--store", str(store), "--now", NOW
    )
    assert data == {
        "registry": "demo",
        "enabled": True,
        "schedule": "30 19 * * *",
        "timeZone": KYIV,
        "expiresInDays": 7,
        "nextRuns": ["2026-11-22T19:30:00+02:00", "2026-11-23T19:30:00+02:00", "2026-11-24T19:30:00+02:00"],
        "lastSuccessfulBackup": {
            "id": "20261121T173000Z",
            "at": "2026-11-21T19:30:00+02:00",
            "deletesAt": "2026-11-28T19:30:00+02:00",
        },
        "backupsKept": 3,
        "lastSuccessfulDrill": None,
        "warnings": [],
    }
    text = run_cli(
        "status", "--values", str(values), "--registry", "demo", "--store", str(store), "--now", NOW
    )
    assert "Automatic backups: on (Europe/Kyiv)" in text.out
    assert "Schedule: At 19:30, every day" in text.out
    assert (
        "Last successful backup: 2026-11-21 19:30 EET, to be deleted on or after 2026-11-28 19:30 EET"
        in text.out
    )
    assert "later retention changes do not move it" in text.out and "newest verified backup" in text.out
    assert "2026-11-22 19:30 EET" in text.out and "Backups kept: 3" in text.out


def test_retention_changed_later_does_not_rewrite_history(run_cli: Run, tmp_path: Path, store: Path) -> None:
    values = write_values(tmp_path, days=30)
    data = status_json(
        run_cli, "--values", str(values), "--registry", "demo", "--store", str(store), "--now", NOW
    )
    assert data["expiresInDays"] == 30
    assert data["lastSuccessfulBackup"]["deletesAt"] == "2026-11-28T19:30:00+02:00"  # type: ignore[index]


def test_corrupted_newest_falls_back_and_warns(run_cli: Run, tmp_path: Path, store: Path) -> None:
    newest = store / "demo" / "20261121T173000Z.tar.zst"
    data = bytearray(newest.read_bytes())
    data[len(data) // 2] ^= 0xFF
    newest.write_bytes(bytes(data))
    values = write_values(tmp_path)
    result = status_json(
        run_cli, "--values", str(values), "--registry", "demo", "--store", str(store), "--now", NOW
    )
    assert result["lastSuccessfulBackup"]["id"] == "20261120T173000Z"  # type: ignore[index]
    assert result["backupsKept"] == 3
    (warning,) = result["warnings"]  # type: ignore[misc]
    assert "20261121T173000Z failed verification" in warning and "20261120T173000Z" in warning


def test_no_backups_yet(run_cli: Run, tmp_path: Path) -> None:
    values = write_values(tmp_path)
    empty = tmp_path / "empty-store"
    empty.mkdir()
    data = status_json(
        run_cli, "--values", str(values), "--registry", "demo", "--store", str(empty), "--now", NOW
    )
    assert data["lastSuccessfulBackup"] is None and data["backupsKept"] == 0 and data["warnings"] == []
    text = run_cli(
        "status", "--values", str(values), "--registry", "demo", "--store", str(empty), "--now", NOW
    )
    assert "Last successful backup: none yet" in text.out


def test_disabled_registry(run_cli: Run, tmp_path: Path, store: Path) -> None:
    values = write_values(tmp_path, enabled=False)
    data = status_json(
        run_cli, "--values", str(values), "--registry", "demo", "--store", str(store), "--now", NOW
    )
    assert data["enabled"] is False and data["nextRuns"] == []
    assert data["lastSuccessfulBackup"] is not None
    (warning,) = data["warnings"]  # type: ignore[misc]
    assert "off" in warning and "existing backups are kept" in warning
    text = run_cli(
        "status", "--values", str(values), "--registry", "demo", "--store", str(store), "--now", NOW
    )
    assert "Automatic backups: off (Europe/Kyiv)" in text.out and "Next runs" not in text.out


def test_backups_failing_warning(run_cli: Run, tmp_path: Path, store: Path) -> None:
    values = write_values(tmp_path)
    # 2026-11-23 19:30 is the second scheduled run after the last backup (21st): not yet overdue before it
    before = status_json(
        run_cli,
        "--values",
        str(values),
        "--registry",
        "demo",
        "--store",
        str(store),
        "--now",
        "2026-11-23T17:29:00Z",
    )
    assert before["warnings"] == []
    after = status_json(
        run_cli,
        "--values",
        str(values),
        "--registry",
        "demo",
        "--store",
        str(store),
        "--now",
        "2026-11-23T17:31:00Z",
    )
    (warning,) = after["warnings"]  # type: ignore[misc]
    assert "older than two scheduled runs" in warning


def test_from_the_jenkins_emulator(run_cli: Run, jenkins: JenkinsEmulator, tmp_path: Path) -> None:
    repo = tmp_path / "registry"
    make_repo(repo, {"deploy-templates/values.yaml": values_yaml()})
    base = (
        "status",
        "--repo",
        str(repo),
        "--registry",
        "demo",
        "--jenkins-url",
        jenkins.url,
        "--folder",
        "backups",
    )
    assert run_cli("reconcile", *base[1:5], "--jenkins-url", jenkins.url, "--folder", "backups").code == 0
    job = "backups/Create-registry-backup-demo"
    started = datetime(2026, 11, 21, 17, 30, 5, tzinfo=UTC)
    ms = int(started.timestamp() * 1000)
    jenkins.record_build(job, {"REGISTRY_NAME": "demo", "EXPIRES_IN_HOURS": "240"}, "SUCCESS", ms)
    jenkins.record_build(
        job, {"REGISTRY_NAME": "demo", "EXPIRES_IN_HOURS": "168"}, "FAILURE", ms + 86_400_000
    )
    jenkins.reset_counters()
    data = json.loads(run_cli(*base, "--now", NOW, "--format", "json").out)
    assert data["lastSuccessfulBackup"] == {
        "id": "1",
        "at": "2026-11-21T19:30:05+02:00",
        "deletesAt": "2026-12-01T19:30:05+02:00",  # start + the 240 hours that build ran with
    }
    assert data["backupsKept"] is None and data["warnings"] == []
    assert jenkins.count() == 1 and jenkins.count("POST") == 0  # one read, nothing written
    text = run_cli(*base, "--now", NOW).out
    assert (
        "Last successful backup: 2026-11-21 19:30 EET, to be deleted on or after 2026-12-01 19:30 EET" in text
    )
    assert "Jenkins build #1" in text


def test_jenkins_without_builds_or_job(run_cli: Run, jenkins: JenkinsEmulator, tmp_path: Path) -> None:
    values = write_values(tmp_path)
    base = (
        "status",
        "--values",
        str(values),
        "--registry",
        "demo",
        "--jenkins-url",
        jenkins.url,
        "--now",
        NOW,
    )
    missing = json.loads(run_cli(*base, "--format", "json").out)
    assert missing["lastSuccessfulBackup"] is None
    assert "does not exist in Jenkins" in missing["warnings"][0]
    assert (
        run_cli("reconcile", "--values", str(values), "--registry", "demo", "--jenkins-url", jenkins.url).code
        == 0
    )
    never = json.loads(run_cli(*base, "--format", "json").out)
    assert never["lastSuccessfulBackup"] is None and never["warnings"] == []
    jenkins.record_build(
        "Create-registry-backup-demo", {"EXPIRES_IN_HOURS": "$(reboot)"}, "SUCCESS", 1_790_000_000_000
    )
    odd = json.loads(run_cli(*base, "--format", "json").out)
    assert odd["lastSuccessfulBackup"]["deletesAt"] is None
    assert "no valid EXPIRES_IN_HOURS" in odd["warnings"][0]


def test_jenkins_auth_failure_is_exit_3(
    run_cli: Run, jenkins: JenkinsEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JENKINS_TOKEN", "wrong")
    values = write_values(tmp_path)
    run = run_cli("status", "--values", str(values), "--registry", "demo", "--jenkins-url", jenkins.url)
    assert run.code == 3 and "401" in run.err and "wrong" not in run.err


def test_usage_and_invalid_settings(run_cli: Run, tmp_path: Path, store: Path) -> None:
    good = write_values(tmp_path)
    assert (
        run_cli("status", "--values", str(good), "--registry", "demo", "--store", str(tmp_path / "nope")).code
        == 2
    )
    both = run_cli(
        "status", "--values", str(good), "--registry", "demo", "--store", str(store), "--folder", "x"
    )
    assert both.code == 2 and "--folder go with --jenkins-url" in both.err
    for hostile in ("$(id)", "demo;rm", "Demo", "a" * 64, "../demo"):
        assert (
            run_cli("status", "--values", str(good), "--registry", hostile, "--store", str(store)).code == 2
        )
    bad = tmp_path / "bad.yaml"
    bad.write_text(values_yaml(days=3), encoding="utf-8")
    invalid = run_cli("status", "--values", str(bad), "--registry", "demo", "--store", str(store))
    assert invalid.code == 1 and "expiresInDays" in invalid.err and invalid.out == ""
    naive = run_cli(
        "status",
        "--values",
        str(good),
        "--registry",
        "demo",
        "--store",
        str(store),
        "--now",
        "2026-11-22T10:00",
    )
    assert naive.code == 2 and "UTC offset" in naive.err


def test_deletion_across_daylight_saving_is_in_hours() -> None:
    """Retention counts hours: across the clocks going back, the deletion is an hour earlier by the wall."""
    settings = BackupSettings(enabled=True, schedule="30 19 * * *", expires_in_days=7, time_zone=KYIV)
    at = datetime(2026, 10, 24, 16, 30, tzinfo=UTC)  # 19:30 EEST
    last = LastBackup("x", at, at + timedelta(hours=168))
    status = build_status(
        "demo", settings, source="jenkins", now=at + timedelta(hours=1), last=last, backups_kept=None
    )
    text = render_text(status)
    assert (
        "Last successful backup: 2026-10-24 19:30 EEST, to be deleted on or after 2026-10-31 18:30 EET"
        in text
    )
    assert status.to_json()["nextRuns"][0] == "2026-10-25T19:30:00+02:00"  # type: ignore[index]


def test_overdue_follows_the_schedule_not_a_day() -> None:
    hourly = BackupSettings(enabled=True, schedule="0 * * * *", expires_in_days=7, time_zone="UTC")
    last = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    assert not overdue(hourly, last, last + timedelta(minutes=119))
    assert overdue(hourly, last, last + timedelta(minutes=120))
    weekly = BackupSettings(enabled=True, schedule="0 3 * * 0", expires_in_days=30, time_zone="UTC")
    sunday = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
    assert not overdue(weekly, sunday, sunday + timedelta(days=13))
    assert overdue(weekly, sunday, sunday + timedelta(days=14))


def test_last_from_build_parses_jenkins_build_json_below_the_command() -> None:
    from datetime import UTC, datetime

    from provisioner.errors import JenkinsFailure
    from provisioner.status import last_from_build

    start = datetime(2026, 11, 21, 17, 30, tzinfo=UTC)
    params = {"parameters": [{"name": "EXPIRES_IN_HOURS", "value": "168"}, {"name": 3}]}
    build = {"number": 12, "timestamp": int(start.timestamp() * 1000), "actions": [{}, params, "x"]}
    last, warnings = last_from_build(build, "job")
    assert (last.id, last.at, warnings) == ("12", start, [])
    assert last.deletes_at is not None and (last.deletes_at - start).days == 7
    last, warnings = last_from_build({**build, "actions": None}, "job")
    assert last.deletes_at is None and "no valid EXPIRES_IN_HOURS" in warnings[0]
    for bad in ({"number": True, "timestamp": 1}, {"number": 1}, [], None):
        with pytest.raises(JenkinsFailure, match="no valid number and timestamp"):
            last_from_build(bad, "job")


def test_last_successful_drill_from_the_store(run_cli: Run, tmp_path: Path, store: Path) -> None:
    """A drill recorded in a backup's metadata shows in status (the newest successful one)."""
    from provisioner.backup import list_backups
    from provisioner.backup.store import record_drill

    records = {r.id: r for r in list_backups(store, "demo")}
    record_drill(records["20261120T173000Z"], {"at": "2026-11-21T04:00:00Z", "result": "ok", "seconds": 12.5})
    record_drill(
        records["20261121T173000Z"], {"at": "2026-11-22T04:00:00Z", "result": "failed", "seconds": 3}
    )
    values = write_values(tmp_path)
    args = ("--values", str(values), "--registry", "demo", "--store", str(store), "--now", NOW)
    data = status_json(run_cli, *args)
    assert data["lastSuccessfulDrill"] == {
        "id": "20261120T173000Z",
        "at": "2026-11-21T06:00:00+02:00",
        "restoreSeconds": 12.5,
    }
    text = run_cli("status", *args).out
    assert "Last successful drill: 2026-11-21 06:00 EET (backup 20261120T173000Z restored" in text
