"""A job hand-edited in Jenkins is drift, never a crash; two reconciles racing to create the same job
both succeed."""

from __future__ import annotations

import json
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from provisioner.jenkins import RetryPolicy, job_path
from provisioner.jenkins.configxml import job_facts
from provisioner.jenkins.http import HttpTarget
from provisioner.jenkins.target import JobPath
from provisioner.jobs.marker import APPLIED_PREFIX, FINGERPRINT_PREFIX, fingerprint, read_marker
from provisioner.jobs.reconcile import ReconcileRequest, ReconcileResult, reconcile_one
from provisioner.jobs.render import default_job_name, render_folder_config
from provisioner.settings.model import BackupSettings
from tests.helpers.cli import TOKEN, USER, CliRun, values_yaml
from tests.helpers.fleet import write_fleet
from tests.jenkins_emulator import JenkinsEmulator

JOB = "Create-registry-backup-reg-a"
Run = Callable[..., CliRun]


def _edit_applied_record(record_line: Callable[[dict[str, Any]], str]) -> Callable[[str], str]:
    """An edit of the job's config.xml that rewrites the applied record (and its fingerprint)."""

    def edit(text: str) -> str:
        root = ET.fromstring(text.encode())
        description = root.find("description")
        assert description is not None and description.text
        lines = description.text.split("\n")
        assert lines[-1].startswith(APPLIED_PREFIX)
        lines[-1] = record_line(json.loads(lines[-1][len(APPLIED_PREFIX) :]))
        description.text = "\n".join(lines)
        return ET.tostring(root, encoding="unicode")

    return edit


def _with_settings(**changed: object) -> Callable[[dict[str, Any]], str]:
    """The record with some settings changed, re-fingerprinted as a careful hand edit would be."""

    def line(record: dict[str, Any]) -> str:
        record["settings"].update(changed)
        return APPLIED_PREFIX + json.dumps(record, sort_keys=True, separators=(",", ":"))

    return line


def _refingerprint(text: str) -> str:
    root = ET.fromstring(text.encode())
    description = root.find("description")
    assert description is not None and description.text
    lines = description.text.split("\n")
    settings = json.loads(lines[-1][len(APPLIED_PREFIX) :])["settings"]
    value = BackupSettings(
        enabled=settings["enabled"],
        schedule=settings["schedule"],
        expires_in_days=settings["expiresInDays"],
        time_zone=settings["timeZone"],
    )
    lines[-2] = FINGERPRINT_PREFIX + fingerprint(value)
    description.text = "\n".join(lines)
    return ET.tostring(root, encoding="unicode")


def _settings_edit(**changed: object) -> Callable[[str], str]:
    return lambda text: _refingerprint(_edit_applied_record(_with_settings(**changed))(text))


HAND_EDITS: dict[str, Callable[[str], str]] = {
    "jenkins-H-schedule": _settings_edit(schedule="H 19 * * *"),
    "unknown-zone": _settings_edit(timeZone="Mars/Olympus"),
    "every-minute": _settings_edit(schedule="* * * * *"),
    "negative-retention": _settings_edit(expiresInDays=-5),
    "json-that-does-not-parse": _edit_applied_record(lambda _record: APPLIED_PREFIX + '{"v":1,"settings":'),
}


def reconcile(run_cli: Run, repo: Path, jenkins: JenkinsEmulator, *extra: str) -> CliRun:
    return run_cli(
        "reconcile", "--repo", str(repo), "--registry", "reg-a", "--jenkins-url", jenkins.url,
        "--format", "json", *extra,
    )  # fmt: skip


@pytest.mark.parametrize("edit", list(HAND_EDITS))
def test_hand_edited_applied_record_is_drift_reported_audited_and_restored(
    run_cli: Run, repo: Path, jenkins: JenkinsEmulator, tmp_path: Path, edit: str
) -> None:
    assert reconcile(run_cli, repo, jenkins).code == 0
    jenkins.edit_config(JOB, HAND_EDITS[edit])
    audit = tmp_path / "audit.jsonl"
    result = reconcile(run_cli, repo, jenkins, "--audit-log", str(audit))
    assert result.code == 0, result.err
    assert result.json()["drift"] is True and result.json()["action"] == "updated"
    assert "Traceback" not in result.err and "drift" in result.err
    line = json.loads(audit.read_text())
    assert line["drift"] is True and line["result"] == "ok" and line["action"] == "updated"
    restored = read_marker(job_facts(jenkins.get_config(JOB)).description)
    assert restored.valid and restored.settings is not None and restored.settings.schedule == "30 19 * * *"
    again = reconcile(run_cli, repo, jenkins)
    assert again.json()["action"] == "unchanged" and again.json()["drift"] is False


def test_hand_edited_record_in_reconcile_all_is_drift(
    run_cli: Run, jenkins: JenkinsEmulator, tmp_path: Path
) -> None:
    fleet = write_fleet(tmp_path, {"reg-a": values_yaml(), "reg-b": values_yaml()})
    argv = ("reconcile-all", "--fleet", str(fleet), "--jenkins-url", jenkins.url, "--format", "json")
    assert run_cli(*argv).code == 0
    jenkins.edit_config(JOB, HAND_EDITS["jenkins-H-schedule"])
    run = run_cli(*argv)
    assert run.code == 0, run.err
    by = {r["registry"]: r for r in json.loads(run.out)["results"]}
    assert by["reg-a"]["drift"] is True and by["reg-a"]["action"] == "updated"
    assert by["reg-b"]["action"] == "unchanged"


# -- two reconciles racing ------------------------------------------------------------------------
class _ReadsThenWaits(HttpTarget):
    """Both racers read "no job" before either creates it: the race made deterministic."""

    def __init__(self, url: str, barrier: threading.Barrier) -> None:
        super().__init__(
            url, folder_config=render_folder_config, username=USER, token=TOKEN,
            retry=RetryPolicy(attempts=2, base_delay=0.0, timeout=5),
        )  # fmt: skip
        self._barrier: threading.Barrier | None = barrier

    def read_job(self, path: JobPath) -> str | None:
        live = super().read_job(path)
        if self._barrier is not None:
            barrier, self._barrier = self._barrier, None  # only the first read races
            barrier.wait(10)
        return live


@pytest.mark.parametrize("days", [(7, 7), (7, 14)], ids=["same-settings", "different-settings"])
@pytest.mark.parametrize("folder", [None, "team/registries"])
def test_two_reconciles_racing_to_create_both_succeed(
    jenkins: JenkinsEmulator, days: tuple[int, int], folder: str | None
) -> None:
    barrier = threading.Barrier(2)
    path = job_path(default_job_name("reg-a"), folder)
    results: list[ReconcileResult] = []
    errors: list[BaseException] = []

    def racer(expires: int) -> None:
        settings = BackupSettings(
            enabled=True, schedule="30 19 * * *", expires_in_days=expires, time_zone="Europe/Kyiv"
        )
        request = ReconcileRequest(registry="reg-a", settings=settings, source=None, job=path)
        try:
            results.append(reconcile_one(_ReadsThenWaits(jenkins.url, barrier), request))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=racer, args=(d,)) for d in days]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert sorted(r.action for r in results)[0] == "created" and len(results) == 2
    loser = next(r for r in results if r.action != "created")
    assert loser.action == ("unchanged" if days[0] == days[1] else "updated")
    live = read_marker(job_facts(jenkins.get_config(path.full_name)).description)
    assert live.valid and live.settings is not None
    assert live.settings.expires_in_days in days
    assert jenkins.count("POST") >= 2  # both tried to create it
