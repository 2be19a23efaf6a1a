"""`provisioner status --fleet` (table, JSON, exit 0/5) and `provisioner metrics`, on real git repositories
and a real archive store made by backup-registry."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers.backups import make_backup
from tests.helpers.cli import CliRun, values_yaml
from tests.helpers.fleet import write_fleet
from tests.jenkins_emulator import JenkinsEmulator

Run = Callable[..., CliRun]
NOW = "2026-11-22T10:00:00Z"  # 12:00 in Kyiv


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """alpha: backed up last night; beta: last backed up 4 days ago (overdue); off: none."""
    path = tmp_path / "store"
    make_backup(path, tmp_path / "src", datetime(2026, 11, 21, 17, 30, tzinfo=UTC), registry="alpha")
    make_backup(path, tmp_path / "src", datetime(2026, 11, 18, 17, 30, tzinfo=UTC), registry="beta")
    return path


def healthy_fleet(tmp_path: Path) -> Path:
    return write_fleet(tmp_path, {"alpha": values_yaml(), "gamma": values_yaml(enabled=False)})


def test_all_healthy_exits_0(run_cli: Run, tmp_path: Path, store: Path) -> None:
    fleet = healthy_fleet(tmp_path)
    run = run_cli("status", "--fleet", str(fleet), "--store", str(store), "--now", NOW)
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    assert lines[0].split() == [
        "REGISTRY",
        "ON",
        "LAST",
        "SUCCESS",
        "AGE",
        "DELETES",
        "NEXT",
        "RUN",
        "OVERDUE",
    ]
    assert lines[1].split() == [
        "alpha", "on", "2026-11-21", "19:30", "EET", "16h30m", "2026-11-28", "19:30", "EET",
        "2026-11-22", "19:30", "EET", "no",
    ]  # fmt: skip
    assert lines[2].split() == ["gamma", "off", "never", "-", "-", "-", "no"]
    assert "warning: gamma: automatic backups are off" in run.out


def test_overdue_or_failing_exits_5_with_json(run_cli: Run, tmp_path: Path, store: Path) -> None:
    fleet = write_fleet(
        tmp_path,
        {"alpha": values_yaml(), "beta": values_yaml(), "broken": "global: [\n", "gone": None},
    )
    run = run_cli("status", "--fleet", str(fleet), "--store", str(store), "--now", NOW, "--format", "json")
    assert run.code == 5, run.err
    data = json.loads(run.out)
    rows = {row["registry"]: row for row in data["registries"]}
    assert data["healthy"] is False and list(rows) == ["alpha", "beta", "broken", "gone"]
    assert rows["alpha"]["overdue"] is False and rows["alpha"]["failing"] is False
    assert rows["alpha"]["lastSuccessAgeSeconds"] == 16.5 * 3600
    assert rows["alpha"]["nextRun"] == "2026-11-22T19:30:00+02:00"
    assert rows["beta"]["overdue"] is True and rows["beta"]["lastSuccess"] == "2026-11-18T19:30:00+02:00"
    assert rows["broken"]["failing"] is True and "invalid settings" in rows["broken"]["problem"]
    assert rows["gone"]["failing"] is True and rows["gone"]["enabled"] is None
    text = run_cli("status", "--fleet", str(fleet), "--store", str(store), "--now", NOW)
    assert text.code == 5
    assert [line.split()[-1] for line in text.out.splitlines()[1:5]] == ["no", "YES", "FAILING", "FAILING"]


def test_a_store_whose_backups_do_not_verify_is_failing(run_cli: Run, tmp_path: Path, store: Path) -> None:
    for archive in (store / "alpha").glob("*.tar.zst"):
        archive.write_bytes(b"corrupt")
    fleet = healthy_fleet(tmp_path)
    run = run_cli("status", "--fleet", str(fleet), "--store", str(store), "--now", NOW, "--format", "json")
    assert run.code == 5
    alpha = json.loads(run.out)["registries"][0]
    assert alpha["failing"] is True and alpha["lastSuccess"] is None


@pytest.mark.parametrize(
    "extra",
    [["--registry", "alpha"], ["--values", "v.yaml"], ["--job-name", "x"], ["--ref", "main"]],
)
def test_fleet_mode_refuses_single_registry_flags(run_cli: Run, tmp_path: Path, extra: list[str]) -> None:
    fleet = healthy_fleet(tmp_path)
    run = run_cli("status", "--fleet", str(fleet), "--store", str(tmp_path), *extra)
    assert run.code == 2 and "--fleet" in run.err


def test_single_mode_still_needs_registry_and_values(run_cli: Run, tmp_path: Path) -> None:
    assert run_cli("status", "--store", str(tmp_path), "--registry", "a").code == 2
    assert run_cli("status", "--store", str(tmp_path), "--values", "v.yaml").code == 2


def metric_samples(text: str) -> dict[tuple[str, str], float]:
    return {
        (s.name, s.labels["registry"]): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_command(run_cli: Run, tmp_path: Path, store: Path) -> None:
    fleet = write_fleet(
        tmp_path, {"alpha": values_yaml(), "beta": values_yaml(), "gamma": values_yaml(enabled=False)}
    )
    run = run_cli("metrics", "--fleet", str(fleet), "--store", str(store), "--now", NOW)
    assert run.code == 0, run.err  # unhealthy, yet exit 0: alerting is Prometheus's job
    got = metric_samples(run.out)
    assert got[("registry_backup_overdue", "alpha")] == 0 and got[("registry_backup_overdue", "beta")] == 1
    assert (
        got[("registry_backup_enabled", "gamma")] == 0
        and ("registry_backup_next_run_timestamp_seconds", "gamma") not in got
    )
    assert got[("registry_backup_last_success_age_seconds", "alpha")] == 16.5 * 3600
    next_run = datetime(2026, 11, 22, 17, 30, tzinfo=UTC).timestamp()  # 19:30 Kyiv
    assert got[("registry_backup_next_run_timestamp_seconds", "alpha")] == next_run
    assert got[("registry_backup_failing", "gamma")] == 0
    out = tmp_path / "node" / "fleet.prom"
    out.parent.mkdir()
    assert (
        run_cli(
            "metrics", "--fleet", str(fleet), "--store", str(store), "--now", NOW, "--output", str(out)
        ).code
        == 0
    )
    assert metric_samples(out.read_text()) == got
    assert oct(out.stat().st_mode & 0o777) == "0o644"
    assert (
        run_cli(
            "metrics", "--fleet", str(fleet), "--store", str(store), "--output", str(tmp_path / "x.txt")
        ).code
        == 2
    )


def test_fleet_status_and_metrics_from_jenkins(
    run_cli: Run, jenkins: JenkinsEmulator, tmp_path: Path
) -> None:
    """The fleet's jobs reconciled into the emulator; alpha's job has a recent success, beta's none."""
    fleet = write_fleet(tmp_path, {"alpha": values_yaml(), "beta": values_yaml()})
    assert run_cli("reconcile-all", "--fleet", str(fleet), "--jenkins-url", jenkins.url).code == 0
    started = datetime(2026, 11, 21, 17, 30, tzinfo=UTC)
    jenkins.record_build(
        "Create-registry-backup-alpha",
        {"REGISTRY_NAME": "alpha", "EXPIRES_IN_HOURS": "168"},
        "SUCCESS",
        int(started.timestamp() * 1000),
    )
    jenkins.reset_counters()
    run = run_cli(
        "status", "--fleet", str(fleet), "--jenkins-url", jenkins.url, "--now", NOW, "--format", "json"
    )
    assert run.code == 0, run.err  # beta never ran: shown, but neither overdue nor failing
    rows = {row["registry"]: row for row in json.loads(run.out)["registries"]}
    assert rows["alpha"]["lastSuccess"] == "2026-11-21T19:30:00+02:00"
    assert rows["alpha"]["deletesAt"] == "2026-11-28T19:30:00+02:00"
    assert rows["beta"]["lastSuccess"] is None and rows["beta"]["failing"] is False
    assert jenkins.count("POST") == 0
    later = run_cli(
        "status", "--fleet", str(fleet), "--jenkins-url", jenkins.url, "--now", "2026-11-25T10:00:00Z"
    )
    assert later.code == 5 and "YES" in later.out
    metrics = run_cli(
        "metrics", "--fleet", str(fleet), "--jenkins-url", jenkins.url, "--now", "2026-11-25T10:00:00Z"
    )
    assert metric_samples(metrics.out)[("registry_backup_overdue", "alpha")] == 1
