"""End to end: real git repositories, the Jenkins emulator over HTTP, python-jenkins unchanged."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from provisioner.jenkins.configxml import job_facts
from provisioner.jobs.jobxml import normalize_config
from tests.helpers.cli import TOKEN, USER, VALUES_PATH, CliRun, values_yaml
from tests.helpers.gitrepo import commit, git
from tests.jenkins_emulator import JenkinsEmulator

JOB = "Create-registry-backup-reg-a"
Run = Callable[..., CliRun]


def reconcile(run_cli: Run, repo: Path, jenkins: JenkinsEmulator, *extra: str) -> CliRun:
    return run_cli(
        "reconcile",
        "--repo",
        str(repo),
        "--registry",
        "reg-a",
        "--jenkins-url",
        jenkins.url,
        "--format",
        "json",
        *extra,
    )


def test_create_then_unchanged_with_zero_posts(run_cli: Run, repo: Path, jenkins: JenkinsEmulator) -> None:
    first = reconcile(run_cli, repo, jenkins)
    assert first.code == 0, first.err
    data = first.json()
    head = git(repo, "rev-parse", "HEAD")
    assert data["action"] == "created" and data["job"] == JOB and data["commit"] == head
    assert data["enabled"] is True and data["drift"] is False and data["dryRun"] is False
    assert set(data) == {"registry", "job", "action", "enabled", "drift", "dryRun", "commit", "diff"}
    facts = job_facts(jenkins.get_config(JOB))
    assert facts.trigger_specs == ("TZ=Europe/Kyiv\n30 19 * * *",)
    assert facts.parameters == (("REGISTRY_NAME", "reg-a"), ("EXPIRES_IN_HOURS", "168"))
    assert jenkins.get_config(JOB).startswith('<?xml version="1.1"')  # re-serialized by the emulator

    jenkins.reset_counters()
    second = reconcile(run_cli, repo, jenkins)
    assert second.code == 0, second.err
    assert second.json()["action"] == "unchanged" and second.json()["diff"] is None
    assert jenkins.count("POST") == 0
    # One GET of config.xml, not even a crumb; and one GET of the drill job's (none here: drills are off
    # in the default policy, and a drill job left from when they were on would be disabled).
    assert jenkins.count() == 2
    assert jenkins.count("GET", f"/job/{JOB}/config.xml") == 1
    assert jenkins.count("GET", "/job/Drill-registry-backup-reg-a/config.xml") == 1


def test_update_after_new_commit_and_audit(
    run_cli: Run, repo: Path, jenkins: JenkinsEmulator, tmp_path: Path
) -> None:
    audit = tmp_path / "audit.jsonl"
    assert reconcile(run_cli, repo, jenkins, "--audit-log", str(audit)).code == 0
    sha = commit(
        repo,
        {VALUES_PATH: values_yaml(schedule="0 3 * * 1-5", days=14)},
        author=("Petro Shevchenko", "petro@example.com"),
        message="weekday backups",
    )
    jenkins.reset_counters()
    result = reconcile(run_cli, repo, jenkins, "--audit-log", str(audit))
    assert result.code == 0, result.err
    data = result.json()
    assert data["action"] == "updated" and data["commit"] == sha
    assert isinstance(data["diff"], str) and "0 3 * * 1-5" in data["diff"]
    assert jenkins.count() <= 5 and jenkins.count("POST") == 1  # the 5th: GET of the (absent) drill job
    assert job_facts(jenkins.get_config(JOB)).parameters[1] == ("EXPIRES_IN_HOURS", "336")
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [line["action"] for line in lines] == ["created", "updated"]
    last = lines[-1]
    assert set(last) == {
        "ts",
        "event",
        "registry",
        "job",
        "action",
        "drift",
        "actor",
        "commit",
        "changes",
        "result",
        "error",
    }
    assert last["event"] == "backup-settings-reconciled" and last["ts"].endswith("Z")
    assert last["actor"] == {"name": "Petro Shevchenko", "email": "petro@example.com"}
    assert last["changes"] == {"schedule": ["30 19 * * *", "0 3 * * 1-5"], "expiresInDays": [7, 14]}
    assert last["result"] == "ok" and last["error"] is None
    assert TOKEN not in audit.read_text() and TOKEN not in result.err and TOKEN not in result.out


def test_disable_keeps_the_job(run_cli: Run, repo: Path, jenkins: JenkinsEmulator) -> None:
    assert reconcile(run_cli, repo, jenkins).code == 0
    jenkins.record_build(JOB, {"REGISTRY_NAME": "reg-a", "EXPIRES_IN_HOURS": "168"})
    commit(repo, {VALUES_PATH: values_yaml(enabled=False)})
    result = reconcile(run_cli, repo, jenkins)
    assert result.code == 0, result.err
    assert result.json()["action"] == "updated" and result.json()["enabled"] is False
    assert jenkins.is_disabled(JOB) and JOB in jenkins.job_names()
    assert job_facts(jenkins.get_config(JOB)).trigger_specs == ("TZ=Europe/Kyiv\n30 19 * * *",)


def test_drift_is_reported_and_restored(
    run_cli: Run, repo: Path, jenkins: JenkinsEmulator, tmp_path: Path
) -> None:
    assert reconcile(run_cli, repo, jenkins).code == 0
    jenkins.edit_config(
        JOB, lambda text: text.replace("<spec>TZ=Europe/Kyiv\n30 19", "<spec>TZ=Europe/Kyiv\n45 23")
    )
    assert "45 23" in jenkins.get_config(JOB)
    audit = tmp_path / "audit.jsonl"
    result = reconcile(run_cli, repo, jenkins, "--audit-log", str(audit))
    assert result.code == 0, result.err
    assert result.json()["drift"] is True and result.json()["action"] == "updated"
    assert "drift" in result.err
    assert "30 19 * * *" in jenkins.get_config(JOB) and "45 23" not in jenkins.get_config(JOB)
    line = json.loads(audit.read_text())
    assert line["drift"] is True and line["changes"] == {}
    again = reconcile(run_cli, repo, jenkins)
    assert again.json()["drift"] is False and again.json()["action"] == "unchanged"


def test_stale_commit_is_not_applied(run_cli: Run, repo: Path, jenkins: JenkinsEmulator) -> None:
    old = git(repo, "rev-parse", "HEAD")
    new = commit(repo, {VALUES_PATH: values_yaml(days=30)})
    assert reconcile(run_cli, repo, jenkins).code == 0  # applies the new commit
    jenkins.reset_counters()
    late = reconcile(run_cli, repo, jenkins, "--ref", old)
    assert late.code == 0, late.err
    assert late.json()["action"] == "unchanged" and late.json()["commit"] == old
    assert "stale" in late.err and "ancestor" in late.err
    assert jenkins.count("POST") == 0
    assert f'"commit":"{new}"' in jenkins.get_config(JOB).replace("&quot;", '"')
    assert job_facts(jenkins.get_config(JOB)).parameters[1] == ("EXPIRES_IN_HOURS", "720")


def test_rewritten_history_applies_with_a_warning(run_cli: Run, repo: Path, jenkins: JenkinsEmulator) -> None:
    commit(repo, {VALUES_PATH: values_yaml(days=30)})
    assert reconcile(run_cli, repo, jenkins).code == 0
    git(repo, "reset", "-q", "--hard", "HEAD~1")
    git(repo, "reflog", "expire", "--expire=now", "--all")
    git(repo, "gc", "-q", "--prune=now")
    rewritten = commit(repo, {VALUES_PATH: values_yaml(days=9)}, message="rewritten")
    result = reconcile(run_cli, repo, jenkins)
    assert result.code == 0, result.err
    assert result.json()["action"] == "updated" and result.json()["commit"] == rewritten
    assert "does not know" in result.err


@pytest.mark.parametrize(
    "bad",
    [
        values_yaml(schedule="*/5 * * * *"),
        values_yaml(days=3),
        values_yaml(zone="Mars/Olympus"),
        values_yaml(schedule="0 3 * * *</spec><x>"),
        values_yaml(schedule="$(reboot) * * * *"),
        "global:\n  registryBackup:\n    enabled: yes-please\n",
    ],
)
def test_invalid_values_send_zero_requests(
    run_cli: Run, repo: Path, jenkins: JenkinsEmulator, bad: str, tmp_path: Path
) -> None:
    commit(repo, {VALUES_PATH: bad})
    audit = tmp_path / "audit.jsonl"
    result = reconcile(run_cli, repo, jenkins, "--audit-log", str(audit))
    assert result.code == 1
    assert "nothing was sent to Jenkins" in result.err
    assert jenkins.count() == 0 and jenkins.job_names() == []


def test_dry_run_is_read_only(run_cli: Run, repo: Path, jenkins: JenkinsEmulator) -> None:
    result = reconcile(run_cli, repo, jenkins, "--dry-run")
    assert result.code == 0
    data = result.json()
    assert data["dryRun"] is True and data["action"] == "created" and "TZ=Europe/Kyiv" in str(data["diff"])
    assert jenkins.count("POST") == 0 and jenkins.job_names() == []
    text = run_cli(
        "reconcile", "--repo", str(repo), "--registry", "reg-a", "--jenkins-url", jenkins.url, "--dry-run"
    )
    assert "would be created" in text.out and "+++ rendered" in text.out


def test_unmanaged_job_is_refused(run_cli: Run, repo: Path, jenkins: JenkinsEmulator) -> None:
    jenkins.put_job(JOB, "<flow-definition><description>hand-made</description></flow-definition>")
    result = reconcile(run_cli, repo, jenkins)
    assert result.code == 3
    assert "not managed by registry-backup-provisioner" in result.err
    assert jenkins.count("POST") == 0 and "hand-made" in jenkins.get_config(JOB)


def test_job_of_another_registry_is_refused(run_cli: Run, repo: Path, jenkins: JenkinsEmulator) -> None:
    assert reconcile(run_cli, repo, jenkins, "--job-name", "shared").code == 0
    other = run_cli(
        "reconcile",
        "--repo",
        str(repo),
        "--registry",
        "reg-b",
        "--jenkins-url",
        jenkins.url,
        "--job-name",
        "shared",
    )
    assert other.code == 3 and "managed for registry 'reg-a'" in other.err


def test_folder_created_when_missing(run_cli: Run, repo: Path, jenkins: JenkinsEmulator) -> None:
    result = reconcile(run_cli, repo, jenkins, "--folder", "platform/backups")
    assert result.code == 0, result.err
    assert result.json()["job"] == f"platform/backups/{JOB}"
    assert f"platform/backups/{JOB}" in jenkins.job_names()
    assert reconcile(run_cli, repo, jenkins, "--folder", "platform/backups").json()["action"] == "unchanged"


def test_jenkins_down_gives_exit_3(run_cli: Run, repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("provisioner.jenkins.retry.time.sleep", lambda _s: None)
    server = JenkinsEmulator().start()
    url = server.url
    server.stop()
    result = run_cli(
        "reconcile", "--repo", str(repo), "--registry", "reg-a", "--jenkins-url", url, "--timeout", "2"
    )
    assert result.code == 3
    assert "failed after 4 attempts" in result.err and "connection failed" in result.err


def test_persistent_500_gives_exit_3_after_retries(
    run_cli: Run, repo: Path, jenkins: JenkinsEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("provisioner.jenkins.retry.time.sleep", lambda _s: None)
    jenkins.fail_next(500, count=10)
    result = reconcile(run_cli, repo, jenkins)
    assert result.code == 3 and "HTTP 500" in result.err and "after 4 attempts" in result.err
    assert jenkins.count() == 4


def test_transient_500_is_retried(
    run_cli: Run, repo: Path, jenkins: JenkinsEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("provisioner.jenkins.retry.time.sleep", lambda _s: None)
    jenkins.fail_next(503, count=2)
    result = reconcile(run_cli, repo, jenkins)
    assert result.code == 0, result.err
    assert result.json()["action"] == "created"


def test_bad_token_gives_401_exit_3_without_retry(
    run_cli: Run, repo: Path, jenkins: JenkinsEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("JENKINS_TOKEN", "wrong-token-value")
    audit = tmp_path / "audit.jsonl"
    result = reconcile(run_cli, repo, jenkins, "--audit-log", str(audit))
    assert result.code == 3
    assert "authentication failed" in result.err and "HTTP 401" in result.err
    assert "wrong-token-value" not in result.err + result.out + audit.read_text()
    assert jenkins.count() == 1
    line = json.loads(audit.read_text())
    assert line["result"] == "error" and "401" in line["error"] and line["action"] is None


def test_token_file_and_user_flag(
    run_cli: Run, repo: Path, jenkins: JenkinsEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("JENKINS_USER")
    monkeypatch.delenv("JENKINS_TOKEN")
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    result = reconcile(run_cli, repo, jenkins, "--user", USER, "--token-file", str(token_file))
    assert result.code == 0, result.err
    half = reconcile(run_cli, repo, jenkins, "--user", USER)
    assert half.code == 2 and "token" in half.err


def test_password_login_uses_a_crumb_once(run_cli: Run, repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with JenkinsEmulator(users={"admin": "pw"}, csrf=True) as server:
        monkeypatch.setenv("JENKINS_USER", "admin")
        monkeypatch.setenv("JENKINS_TOKEN", "pw")
        result = reconcile(run_cli, repo, server)
        assert result.code == 0, result.err
        assert server.count("GET", "/crumbIssuer") == 1
        assert server.count() == 5  # GET 404, crumb, createItem, read-back; GET 404 of the drill job


def test_dropped_trigger_gives_exit_3(
    run_cli: Run, repo: Path, jenkins: JenkinsEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A zone Jenkins does not know (validation would refuse it; here the renderer is fed it directly):
    # the emulator, like Jenkins, answers 200 and silently drops the trigger.
    import provisioner.jobs.render as render

    real = render.spec_text
    monkeypatch.setattr(render, "spec_text", lambda s: real(s).replace("TZ=Europe/Kyiv", "TZ=Factory"))
    result = reconcile(run_cli, repo, jenkins)
    assert result.code == 3
    assert "did not read back as applied" in result.err and "drops a trigger" in result.err
    assert job_facts(jenkins.get_config(JOB)).trigger_specs == ()


def test_realistic_reserialization_still_unchanged(
    run_cli: Run, repo: Path, jenkins: JenkinsEmulator
) -> None:
    assert reconcile(run_cli, repo, jenkins).code == 0
    # Jenkins re-saves the job: same meaning, other bytes (element order, plugin versions, defaults).
    jenkins.edit_config(JOB, lambda text: text.replace('plugin="workflow-job@', 'plugin="workflow-job@9'))
    before = jenkins.get_config(JOB)
    reindented = re.sub(r">\n( *)<", r">\n\1\1<", before)
    assert reindented != before and normalize_config(before) == normalize_config(reindented)
    jenkins.reset_counters()
    result = reconcile(run_cli, repo, jenkins)
    assert result.json()["action"] == "unchanged" and jenkins.count("POST") == 0


def test_public_host_and_plain_http_are_refused(run_cli: Run, repo: Path) -> None:
    public = run_cli(
        "reconcile",
        "--repo",
        str(repo),
        "--registry",
        "reg-a",
        "--jenkins-url",
        "https://jenkins.example.com/",
    )
    assert public.code == 2 and "public" in public.err
    plain = run_cli(
        "reconcile",
        "--repo",
        str(repo),
        "--registry",
        "reg-a",
        "--allow-public-jenkins",
        "--jenkins-url",
        "http://jenkins.example.com/",
    )
    assert plain.code == 2 and "https" in plain.err
    creds = run_cli(
        "reconcile",
        "--repo",
        str(repo),
        "--registry",
        "reg-a",
        "--jenkins-url",
        "http://u:secret@jenkins.svc/",
    )
    assert creds.code == 2 and "secret" not in creds.err


@pytest.mark.parametrize("name", ["Reg", "-a", "a-", "a_b", "a" * 64, "a.b", ""])
def test_registry_must_be_a_dns_label(run_cli: Run, repo: Path, name: str) -> None:
    result = run_cli("render", "--repo", str(repo), f"--registry={name}")
    assert result.code == 2 and "DNS-1123" in result.err


def test_jenkins_home_target(run_cli: Run, repo: Path, tmp_path: Path) -> None:
    home = tmp_path / "jenkins_home"
    args = (
        "reconcile",
        "--repo",
        str(repo),
        "--registry",
        "reg-a",
        "--jenkins-home",
        str(home),
        "--folder",
        "registries",
        "--format",
        "json",
    )
    first = run_cli(*args)
    assert first.code == 0, first.err and first.json()["action"] == "created"
    config = home / "jobs" / "registries" / "jobs" / JOB / "config.xml"
    assert config.is_file() and (home / "jobs" / "registries" / "config.xml").is_file()
    assert "com.cloudbees.hudson.plugins.folder.Folder" in (home / "jobs/registries/config.xml").read_text()
    assert run_cli(*args).json()["action"] == "unchanged"
    commit(repo, {VALUES_PATH: values_yaml(enabled=False)})
    assert run_cli(*args).json()["action"] == "updated"
    assert "<disabled>true</disabled>" in config.read_text()
    assert [p.name for p in config.parent.iterdir()] == ["config.xml"]  # no temp files left behind
