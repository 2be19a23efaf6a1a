"""Notifications and pings: bounded, retried, never failing the backup, never revealing the URL."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from provisioner.backup import notify
from provisioner.backup.cli import main
from tests.helpers.webhook import webhook

TOKEN = "s3cr3t-token"


def test_success_first_time() -> None:
    with webhook() as hook:
        delivery = notify.deliver(hook.url, b"{}", what="notification", deadline=5)
    assert delivery.ok and delivery.attempts == 1
    assert hook.received == [(f"/hook/{TOKEN}", b"{}")]


def test_500_is_retried_with_backoff_within_the_bound() -> None:
    with webhook() as hook:
        hook.status = 500
        started = time.monotonic()
        delivery = notify.deliver(hook.url, b"{}", what="notification", deadline=4)
        elapsed = time.monotonic() - started
    assert not delivery.ok and delivery.problem == "HTTP 500"
    assert len(hook.received) == delivery.attempts == 3  # at 0 s, 1 s, 3 s; the next pause passes 4 s
    assert 2.9 < elapsed < 4.5


def test_4xx_is_not_retried_and_a_redirect_is_not_followed() -> None:
    with webhook() as hook:
        hook.status = 404
        assert notify.deliver(hook.url, b"{}", what="n", deadline=5).attempts == 1
        hook.status, hook.location = 302, "http://127.0.0.1:9/elsewhere"
        delivery = notify.deliver(hook.url, b"{}", what="n", deadline=5)
    assert not delivery.ok and delivery.attempts == 1 and len(hook.received) == 2


def test_a_hanging_webhook_costs_at_most_the_bound() -> None:
    with webhook() as hook:
        hook.hang = True
        started = time.monotonic()
        delivery = notify.deliver(hook.url, b"{}", what="notification", deadline=2)
        elapsed = time.monotonic() - started
    assert not delivery.ok
    assert elapsed < 2.7


@pytest.mark.parametrize(
    "url", ["ftp://x/y", "http:///nohost", "http://h:99999/x", "http://[::1/x", "http://h/a b", "x" * 3000]
)
def test_unusable_urls_are_refused_without_being_shown(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    delivery = notify.deliver(url, b"{}", what="notification", deadline=2)
    assert not delivery.ok and delivery.attempts == 1
    assert delivery.problem is not None and url not in delivery.problem


def test_ping_urls() -> None:
    assert notify.ping_url("https://hc.example/abc", "start") == "https://hc.example/abc/start"
    assert notify.ping_url("https://hc.example/abc/", "success") == "https://hc.example/abc"
    assert notify.ping_url("https://hc.example/abc?rid=1", "failure") == "https://hc.example/abc/fail?rid=1"


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_notify_and_ping_commands_always_exit_0_and_never_print_the_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(notify, "DEFAULT_DEADLINE", 2.0)
    with webhook() as hook:
        monkeypatch.setenv("BACKUP_NOTIFY_URL", hook.url)
        monkeypatch.setenv("BACKUP_PING_URL", hook.url)
        monkeypatch.setenv("REGISTRY_NAME", "demo")
        assert cli(capsys, "notify", "--result", "failure")[0] == 0
        assert cli(capsys, "ping", "--event", "start")[0] == 0
        hook.status = 503
        code, out, err = cli(capsys, "notify", "--result", "fixed")
        assert code == 0
        assert TOKEN not in out + err and "127.0.0.1" not in out + err
        hook.hang = True
        started = time.monotonic()
        code, out, err = cli(capsys, "ping", "--event", "failure")
        assert code == 0 and time.monotonic() - started < 3
        assert TOKEN not in out + err
    paths = [path for path, _ in hook.received]
    assert paths[:2] == [f"/hook/{TOKEN}", f"/hook/{TOKEN}/start"]
    assert paths[-1] == f"/hook/{TOKEN}/fail"
    payload = json.loads(hook.received[0][1])
    assert payload == {
        "source": "backup-registry",
        "registry": "demo",
        "result": "failure",
        "backupId": None,
        "errorClass": None,
    }
    monkeypatch.delenv("BACKUP_NOTIFY_URL")
    code, _, err = cli(capsys, "notify", "--result", "failure")
    assert code == 0 and "BACKUP_NOTIFY_URL is not set" in err


def test_a_failing_run_notifies_once_and_keeps_its_exit_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The webhook answers 500 and then hangs: the run's result (3, then 0) and speed do not change."""
    monkeypatch.setattr(notify, "DEFAULT_DEADLINE", 2.0)
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("x")
    metrics = tmp_path / "backup.prom"
    common = ["--registry", "demo", "--store", str(tmp_path / "store"), "--expires-in-hours", "168"]
    with webhook() as hook:
        monkeypatch.setenv("BACKUP_NOTIFY_URL", hook.url)
        hook.status = 500
        # PATH without pg_dump: the run fails after validation
        monkeypatch.setenv("PATH", str(tmp_path))
        started = time.monotonic()
        code, out, err = cli(capsys, "run", *common, "--pg-database", "app", "--metrics-file", str(metrics))
        assert code == 3 and time.monotonic() - started < 3.5
        assert TOKEN not in out + err
        failures = [json.loads(body) for _, body in hook.received]
        assert {f["result"] for f in failures} == {"failure"}
        assert failures[0]["errorClass"] == "BackupFailed" and failures[0]["registry"] == "demo"
        hook.received.clear()
        hook.status, hook.hang = 200, True
        started = time.monotonic()
        code, out, err = cli(capsys, "run", *common, "--source", str(src), "--metrics-file", str(metrics))
        assert code == 0 and time.monotonic() - started < 3.5  # "fixed" is sent, the hook hangs
        (fixed,) = [json.loads(body) for _, body in hook.received]
        assert fixed["result"] == "fixed" and fixed["backupId"] is not None
        assert TOKEN not in out + err
        hook.received.clear()
        hook.hang = False
        code, _, _ = cli(capsys, "run", *common, "--source", str(src), "--metrics-file", str(metrics))
        assert code == 0 and hook.received == []  # a success after a success tells nobody
