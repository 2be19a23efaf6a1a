"""The policy's ``jobs:`` options in the rendered job: timeout always, notify and ping steps exactly when
asked, credentials only by id (never a URL), single-quoted ``sh`` steps only; and the marker records the
options so that a policy change is an update, not drift."""

from __future__ import annotations

import re

import pytest

from provisioner.jenkins.configxml import job_facts, parse_config
from provisioner.jenkins.target import job_path
from provisioner.jobs.marker import read_marker
from provisioner.jobs.reconcile import ReconcileRequest, plan_reconcile
from provisioner.jobs.render import render_job_config, render_script
from provisioner.settings.model import BackupSettings
from provisioner.settings.policy import DEFAULT_JOB_OPTIONS, JobOptions
from tests.jobs.golden_scripts import golden_scripts

SETTINGS = BackupSettings(enabled=True, schedule="30 19 * * *", expires_in_days=7, time_zone="UTC")
NOTIFY = "backup-webhook"
PING = "hc.registry_7"


def script_of(xml: str) -> str:
    node = parse_config(xml).find("definition/script")
    assert node is not None and node.text is not None
    return node.text


def render(jobs: JobOptions) -> str:
    return render_job_config(SETTINGS, registry="reg", job_full_name="job", source=None, jobs=jobs)


def credential_bindings(script: str) -> list[tuple[str, str]]:
    return re.findall(r"string\(credentialsId: '([^']*)', variable: '([^']*)'\)", script)


@pytest.mark.parametrize("minutes", [5, 240, 1440])
def test_timeout_is_always_there(minutes: int) -> None:
    script = script_of(render(JobOptions(timeout_minutes=minutes)))
    assert script.count("timeout(") == 1
    assert f"timeout(time: {minutes}, unit: 'MINUTES')" in script
    assert "post {" not in script and "withCredentials" not in script


@pytest.mark.parametrize(("notify", "ping"), [(NOTIFY, None), (None, PING), (NOTIFY, PING)])
def test_notify_and_ping_exactly_when_asked(notify: str | None, ping: str | None) -> None:
    script = script_of(render(JobOptions(notify_credential_id=notify, ping_credential_id=ping)))
    bindings = credential_bindings(script)
    expected = []
    if ping:
        expected += [(PING, "BACKUP_PING_URL")] * 3  # start, success, failure
    if notify:
        expected += [(NOTIFY, "BACKUP_NOTIFY_URL")] * 2  # fixed, failure
    assert sorted(bindings) == sorted(expected)
    assert ("backup-registry notify --result failure" in script) is bool(notify)
    assert ("backup-registry notify --result fixed" in script) is bool(notify)
    for event in ("start", "success", "failure"):
        assert (f"backup-registry ping --event {event}" in script) is bool(ping)
    # every notification or ping is inside catchError that keeps the build's result
    assert script.count("catchError(buildResult: 'SUCCESS', stageResult: 'SUCCESS')") == len(expected)
    # the backup itself is never inside withCredentials: the run cannot see the URLs
    assert "sh 'backup-registry run'" in script
    run_line = next(line for line in script.splitlines() if "backup-registry run" in line)
    assert run_line.startswith(" " * 16 + "sh")


def test_every_golden_script_has_only_single_quoted_sh_and_no_gstrings() -> None:
    scripts = golden_scripts()
    assert len(scripts) >= 12
    for name, script in scripts.items():
        code = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("//"))
        steps = re.findall(r"\bsh\s*(\S{1,3})", code)
        assert steps and all(s.startswith("'") for s in steps), (name, steps)
        assert '"' not in code and "$" not in code, name
        assert "timeout(time: " in code, name


def test_no_url_or_secret_in_the_job_xml() -> None:
    xml = render(JobOptions(notify_credential_id=NOTIFY, ping_credential_id=PING))
    assert "://" not in xml.replace("http://www.w3.org", "")
    assert "BACKUP_NOTIFY_URL" in xml and "BACKUP_PING_URL" in xml  # the variable names, not values


def test_marker_records_the_job_options() -> None:
    jobs = JobOptions(timeout_minutes=60, notify_credential_id=NOTIFY)
    marker = read_marker(job_facts(render(jobs)).description)
    assert marker.valid and marker.jobs == jobs


def test_script_template_default_renders_like_the_enabled_golden() -> None:
    assert render_script(DEFAULT_JOB_OPTIONS) == golden_scripts()["enabled"]


def test_a_policy_change_is_an_update_not_drift() -> None:
    old = JobOptions(timeout_minutes=240)
    new = JobOptions(timeout_minutes=60, ping_credential_id=PING)
    name = "Create-registry-backup-reg"
    live = render_job_config(SETTINGS, registry="reg", job_full_name=name, source=None, jobs=old)
    request = ReconcileRequest(
        registry="reg", settings=SETTINGS, source=None, job=job_path(name, None), jobs=new
    )
    plan = plan_reconcile(request, live, None)
    assert plan.action == "updated" and not plan.drift
    assert plan.diff is not None and "timeout(time: 60" in plan.diff
    # a hand edit of the timeout in Jenkins is drift
    edited = live.replace("timeout(time: 240,", "timeout(time: 999,")
    same = ReconcileRequest(
        registry="reg", settings=SETTINGS, source=None, job=job_path(name, None), jobs=old
    )
    plan = plan_reconcile(same, edited, None)
    assert plan.action == "updated" and plan.drift
