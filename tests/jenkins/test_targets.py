"""HTTP target details (retries, crumbs, TLS, threads), endpoint policy and the JENKINS_HOME target."""

from __future__ import annotations

import threading
from pathlib import Path

import certifi
import pytest

from provisioner.errors import JenkinsFailure, UsageError
from provisioner.jenkins import JenkinsHomeTarget, RetryPolicy, check_jenkins_url, is_private_host, job_path
from provisioner.jenkins.http import HttpTarget
from provisioner.jobs.reconcile import ReconcileRequest, reconcile_one
from provisioner.jobs.render import default_job_name, render_folder_config
from provisioner.settings.model import BackupSettings
from tests.helpers.cli import TOKEN, USER
from tests.jenkins_emulator import JenkinsEmulator

SETTINGS = BackupSettings(enabled=True, schedule="30 19 * * *", expires_in_days=7, time_zone="Europe/Kyiv")
NO_WAIT = RetryPolicy(attempts=3, base_delay=0.0, timeout=5)


def request(registry: str, folder: str | None = None, dry_run: bool = False) -> ReconcileRequest:
    return ReconcileRequest(
        registry=registry,
        settings=SETTINGS,
        source=None,
        job=job_path(default_job_name(registry), folder),
        dry_run=dry_run,
    )


@pytest.mark.parametrize(
    ("host", "private"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("10.1.2.3", True),
        ("192.168.0.9", True),
        ("jenkins", True),
        ("jenkins.ci.svc", True),
        ("jenkins.ci.svc.cluster.local", True),
        ("ci.internal", True),
        ("box.local", True),
        ("localhost", True),
        ("8.8.8.8", False),
        ("jenkins.example.com", False),
        ("2001:4860::1", False),
        ("", False),
    ],
)
def test_private_hosts(host: str, private: bool) -> None:
    assert is_private_host(host) is private


def test_url_policy() -> None:
    assert check_jenkins_url("http://jenkins.ci.svc:8080") == "http://jenkins.ci.svc:8080/"
    assert (
        check_jenkins_url("https://jenkins.example.com/ci", allow_public=True)
        == "https://jenkins.example.com/ci/"
    )
    for bad in [
        "ftp://jenkins/",
        "https://jenkins.example.com/",
        "http://u:p@jenkins/",
        "jenkins",
        "http://jenkins/?a=1",
        "http://[::1/",
    ]:
        with pytest.raises(UsageError):
            check_jenkins_url(bad)
    with pytest.raises(UsageError, match="https"):
        check_jenkins_url("http://jenkins.example.com/", allow_public=True)


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "x:y", "trailing.", " lead", "a\nb", "<j>"])
def test_bad_job_names(name: str) -> None:
    with pytest.raises(UsageError):
        job_path(name, None)


def test_bad_folder_names() -> None:
    with pytest.raises(UsageError):
        job_path("ok", "a/../b")
    with pytest.raises(UsageError):
        job_path("ok", "/")
    assert job_path("ok", "/a/b/").full_name == "a/b/ok"


def test_shared_target_across_threads_fetches_one_crumb() -> None:
    with JenkinsEmulator(users={"admin": "pw"}) as jenkins:
        target = HttpTarget(
            jenkins.url, folder_config=render_folder_config, username="admin", token="pw", retry=NO_WAIT
        )
        registries = [f"reg-{i}" for i in range(8)]
        results: dict[str, str] = {}
        errors: list[BaseException] = []

        def work(name: str) -> None:
            try:
                results[name] = reconcile_one(target, request(name, folder="fleet")).action
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(r,)) for r in registries]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        assert set(results.values()) == {"created"}
        assert jenkins.count("GET", "/crumbIssuer") == 1
        assert sorted(jenkins.job_names()) == sorted(f"fleet/{default_job_name(r)}" for r in registries)
        assert jenkins.internal_errors == []


def test_4xx_is_not_retried_and_5xx_is() -> None:
    sleeps: list[float] = []
    with JenkinsEmulator(users={USER: "x"}, api_tokens={USER: TOKEN}) as jenkins:
        target = HttpTarget(
            jenkins.url,
            folder_config=render_folder_config,
            username=USER,
            token=TOKEN,
            retry=RetryPolicy(attempts=4, base_delay=0.5, max_delay=1.0),
            sleep=sleeps.append,
        )
        jenkins.fail_next(400, count=1)
        with pytest.raises(JenkinsFailure, match="HTTP 400"):
            target.read_job(job_path("j", None))
        assert jenkins.count() == 1 and sleeps == []
        jenkins.fail_next(502, count=3)
        assert target.read_job(job_path("j", None)) is None
        assert sleeps == [0.5, 1.0, 1.0]


def _pool_options(target: HttpTarget) -> dict[str, object]:
    """The options of the one pool every request goes through, the crumb's included."""
    options: dict[str, object] = target._transport.pool.connection_pool_kw
    return options


def test_tls_verification_is_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    target = HttpTarget("https://127.0.0.1:9/", folder_config=render_folder_config, retry=NO_WAIT)
    assert _pool_options(target)["cert_reqs"] == "CERT_REQUIRED"
    assert _pool_options(target)["ca_certs"] == certifi.where()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "env-ca.pem"))  # environment read at construction
    from_env = HttpTarget("https://127.0.0.1:9/", folder_config=render_folder_config)
    assert _pool_options(from_env)["ca_certs"] == str(tmp_path / "env-ca.pem")
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    with_bundle = HttpTarget("https://127.0.0.1:9/", folder_config=render_folder_config, ca_bundle=bundle)
    assert _pool_options(with_bundle)["ca_certs"] == str(bundle)
    assert _pool_options(with_bundle)["cert_reqs"] == "CERT_REQUIRED"


def test_pythonhttpsverify_cannot_turn_verification_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONHTTPSVERIFY", "0")
    target = HttpTarget("https://127.0.0.1:9/", folder_config=render_folder_config)
    assert _pool_options(target)["cert_reqs"] == "CERT_REQUIRED"


def test_jenkins_home_target_layout_and_atomicity(tmp_path: Path) -> None:
    home = tmp_path / "home"
    target = JenkinsHomeTarget(home, folder_config=render_folder_config)
    path = job_path("job", "a/b")
    assert target.read_job(path) is None
    assert reconcile_one(target, request("reg-a", folder="a/b")).action == "created"
    assert (home / "jobs/a/config.xml").is_file() and (home / "jobs/a/jobs/b/config.xml").is_file()
    job_dir = home / "jobs/a/jobs/b/jobs" / default_job_name("reg-a")
    assert sorted(p.name for p in job_dir.iterdir()) == ["config.xml"]
    assert reconcile_one(target, request("reg-a", folder="a/b")).action == "unchanged"


def test_dry_run_on_jenkins_home_writes_nothing(tmp_path: Path) -> None:
    target = JenkinsHomeTarget(tmp_path / "home", folder_config=render_folder_config)
    result = reconcile_one(target, request("reg-a", dry_run=True))
    assert result.action == "created" and result.diff and not (tmp_path / "home").exists()
