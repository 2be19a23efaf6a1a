"""`provisioner console` as an operator starts it, its usage errors, and the Jenkins source of backups."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from provisioner.console.auth import parse_networks
from provisioner.console.setup import source_from_repo
from provisioner.console.state import JenkinsFacts
from provisioner.jenkins.http import HttpTarget
from provisioner.jobs.render import render_folder_config
from tests.console.conftest import ADMIN, Served
from tests.helpers.cli import TOKEN, USER, CliRun
from tests.helpers.console import REGISTRY, Site, free_socket, serving, site_console
from tests.helpers.gitrepo import git
from tests.jenkins_emulator import JenkinsEmulator

ROOT = Path(__file__).resolve().parents[2]
Run = Callable[..., CliRun]


def test_the_command_serves_a_fleet(site: Site, tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(f"registries:\n  - name: {REGISTRY}\n    repo: {site.work}\n")
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    argv = [sys.executable, "-m", "provisioner", "console", "--fleet", str(fleet), "--store", str(site.store)]
    argv += ["--listen", f"127.0.0.1:{port}", "--auth-proxy", "127.0.0.1/32", "--audit-log", str(site.audit)]
    server = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, "the console did not start"
            time.sleep(0.1)
        data = requests.get(url + "/api/v1/registries/demo", headers=ADMIN, timeout=10).json()
        assert data["branch"] == "main" and len(data["backups"]) == 2
        body = {"enabled": False, "schedule": "0 1 * * *", "expiresInDays": 9, "baseCommit": data["commit"]}
        saved = requests.put(
            url + "/api/v1/registries/demo/backup-settings", json=body, headers=ADMIN, timeout=30
        )
        assert saved.status_code == 200 and saved.json()["pushedTo"] == "origin/main"
    finally:
        server.terminate()
        _out, err = server.communicate(timeout=20)
    assert server.returncode == -signal.SIGTERM  # uvicorn shuts down gracefully, then re-raises the signal
    assert b"Traceback" not in err
    assert b'"event":"backup-settings-saved"' in err  # the audit line is logged on stderr too
    assert json.loads(site.audit.read_text())["changes"]["enabled"] == [True, False]


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--registry", "demo", "--listen", "localhost"], "ADDRESS:PORT"),
        (["--registry", "demo", "--push", "origin"], "REMOTE/BRANCH"),
        (["--registry", "demo", "--auth-proxy", "10.0.0.300/8"], "not an address"),
        ([], "--repo needs --registry"),
        (["--registry", "demo", "--store", "/nonexistent"], "not a directory"),
    ],
)
def test_usage_errors(run_cli: Run, site: Site, extra: list[str], needle: str) -> None:
    result = run_cli("console", "--repo", str(site.work), *extra)
    assert result.code == 2 and needle in result.err


def test_bad_files_are_usage_errors(run_cli: Run, site: Site, tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text("tokens:\n  - name: x\n    email: x@example.com\n    token: secret-in-clear\n")
    result = run_cli("console", "--repo", str(site.work), "--registry", "demo", "--tokens", str(tokens))
    assert result.code == 2 and "sha256" in result.err and "secret-in-clear" not in result.err
    access = tmp_path / "access.yaml"
    access.write_text("other:\n  users: [x]\n")
    result = run_cli("console", "--repo", str(site.work), "--registry", "demo", "--access", str(access))
    assert result.code == 2 and "not a registry this console serves" in result.err
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(f"registries:\n  - name: demo\n    repo: {site.work}\n    ref: v1.0\n")
    result = run_cli("console", "--fleet", str(fleet))
    assert result.code == 2 and "checked-out branch" in result.err


def test_last_backup_from_jenkins(site: Site, jenkins: JenkinsEmulator, run_cli: Run) -> None:
    assert (
        run_cli(
            "reconcile", "--repo", str(site.work), "--registry", REGISTRY, "--jenkins-url", jenkins.url
        ).code
        == 0
    )
    started = datetime(2026, 11, 21, 17, 30, tzinfo=UTC)
    job = f"Create-registry-backup-{REGISTRY}"
    jenkins.record_build(job, {"EXPIRES_IN_HOURS": "240"}, "SUCCESS", int(started.timestamp() * 1000))
    facts = JenkinsFacts(
        HttpTarget(jenkins.url, folder_config=render_folder_config, username=USER, token=TOKEN)
    )
    console = site_console(site, facts=facts)
    view = console.view(console.registries[REGISTRY])
    assert view["lastSuccessfulBackup"] == {
        "id": "1",
        "createdAt": "2026-11-21T19:30:00+02:00",
        "deletesAt": "2026-12-01T19:30:00+02:00",
        "daysUntilDeletion": 9,
    }
    assert view["backups"] is None


def test_a_stale_form_shows_the_current_settings(served: Served) -> None:
    page = requests.get(served.url + "/registries/demo", headers=ADMIN, timeout=10).text
    csrf = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
    stale = re.search(r'name="baseCommit" value="([0-9a-f]{40})"', page)
    assert csrf is not None and stale is not None
    body = {"enabled": True, "schedule": "30 3 * * *", "expiresInDays": 21, "baseCommit": stale.group(1)}
    first = requests.put(
        served.url + "/api/v1/registries/demo/backup-settings", json=body, headers=ADMIN, timeout=30
    )
    assert first.status_code == 200
    form = {**body, "enabled": "true", "expiresInDays": "30", "csrf": csrf.group(1)}
    response = requests.post(served.url + "/registries/demo", data=form, headers=ADMIN, timeout=30)
    assert response.status_code == 409
    assert "changed since you loaded them" in response.text
    assert 'value="21"' in response.text  # the settings as they are now, not the stale edit


def test_forwarded_host_from_the_proxy_counts_as_same_origin(served: Served) -> None:
    base = requests.get(served.url + "/api/v1/registries/demo", headers=ADMIN, timeout=10).json()["commit"]
    body = {"enabled": True, "schedule": "30 3 * * *", "expiresInDays": 14, "baseCommit": base}
    headers = {**ADMIN, "Origin": "https://console.example.com", "X-Forwarded-Host": "console.example.com"}
    response = requests.put(
        served.url + "/api/v1/registries/demo/backup-settings", json=body, headers=headers, timeout=30
    )
    assert response.status_code == 200


def test_without_upstream_saves_are_committed_only_and_push_names_another(site: Site, tmp_path: Path) -> None:
    git(site.work, "branch", "--unset-upstream")
    console = site_console(site, networks=parse_networks(["127.0.0.1/32"]))
    with serving(console) as url:
        head = requests.get(url + "/api/v1/registries/demo", headers=ADMIN, timeout=10).json()["commit"]
        body = {"enabled": True, "schedule": "0 4 * * *", "expiresInDays": 8, "baseCommit": head}
        saved = requests.put(
            url + "/api/v1/registries/demo/backup-settings", json=body, headers=ADMIN, timeout=30
        )
        assert saved.json()["pushedTo"] is None
    assert (
        git(site.work, "rev-parse", "HEAD") == saved.json()["commit"] != git(site.bare, "rev-parse", "main")
    )
    mirror = tmp_path / "mirror.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(mirror))
    git(site.work, "remote", "add", "mirror", str(mirror))
    registries = source_from_repo(site.work, REGISTRY, None, ("mirror", "backup-settings"))
    console = site_console(site, registries=registries, networks=parse_networks(["127.0.0.1/32"]))
    with serving(console) as url:
        body["baseCommit"], body["expiresInDays"] = saved.json()["commit"], 9
        again = requests.put(
            url + "/api/v1/registries/demo/backup-settings", json=body, headers=ADMIN, timeout=30
        )
        assert again.json()["pushedTo"] == "mirror/backup-settings"
    assert git(mirror, "rev-parse", "backup-settings") == again.json()["commit"]
