"""The emulator driven by python-jenkins, unchanged."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import jenkins
import pytest
import requests

from tests.jenkins_emulator import JenkinsEmulator

from .conftest import FOLDER_XML, FREESTYLE_XML, PASSWORD, TOKEN, USER, pipeline


def test_crumb_is_fetched_once_and_bound_to_the_session_cookie(
    emu: JenkinsEmulator, client: jenkins.Jenkins
) -> None:
    client.create_job("job-a", pipeline())
    client.reconfig_job("job-a", pipeline("TZ=UTC\n0 3 * * *"))
    assert emu.count("GET", "/crumbIssuer/api/json") == 1
    assert emu.count("POST") == 2
    assert all(r.status == 200 for r in emu.requests if r.method == "POST")
    # the crumb is tied to the session: a fresh requests session with the same crumb is refused
    crumb = client.crumb["crumb"]
    resp = requests.post(
        emu.url + "job/job-a/disable",
        auth=(USER, PASSWORD),
        headers={"Jenkins-Crumb": crumb},
        allow_redirects=False,
        timeout=10,
    )
    assert resp.status_code == 403
    assert "No valid crumb was included in the request" in resp.text
    assert not emu.is_disabled("job-a")


def test_api_token_is_exempt_from_crumbs(emu: JenkinsEmulator) -> None:
    emu_client = jenkins.Jenkins(emu.url, USER, TOKEN, timeout=10)
    emu_client.crumb = False  # never ask for a crumb
    emu_client.create_job("job-t", pipeline())
    assert emu.job_names() == ["job-t"]
    assert emu.count("GET", "/crumbIssuer") == 0


def test_token_exemption_switch(emu: JenkinsEmulator) -> None:
    emu.token_crumb_exempt = False
    emu_client = jenkins.Jenkins(emu.url, USER, TOKEN, timeout=10)
    emu_client.crumb = False
    with pytest.raises(jenkins.JenkinsException, match=r"\[403\]"):
        emu_client.create_job("job-t", pipeline())
    assert emu.job_names() == []


def test_bad_password_is_401(emu: JenkinsEmulator) -> None:
    bad = jenkins.Jenkins(emu.url, USER, "wrong", timeout=10)
    with pytest.raises(jenkins.JenkinsException, match=r"\[401\]"):
        bad.job_exists("anything")


def test_anonymous_without_read_is_403(emu: JenkinsEmulator) -> None:
    anonymous = jenkins.Jenkins(emu.url, timeout=10)
    with pytest.raises(jenkins.JenkinsException, match=r"\[403\]"):
        anonymous.get_job_info("x")
    with pytest.raises(jenkins.BadHTTPException):
        anonymous.get_version()
    emu.anonymous_read = True
    assert jenkins.Jenkins(emu.url, timeout=10).get_version() == "2.479.1"


def test_read_only_user_cannot_post() -> None:
    with JenkinsEmulator(users={"viewer": "pw"}, read_only_users={"viewer"}) as emu:
        viewer = jenkins.Jenkins(emu.url, "viewer", "pw", timeout=10)
        assert viewer.get_all_jobs() == []
        with pytest.raises(jenkins.JenkinsException, match=r"\[403\]"):
            viewer.create_job("x", pipeline())


def test_no_security_no_csrf() -> None:
    with JenkinsEmulator(csrf=False) as emu:
        anonymous = jenkins.Jenkins(emu.url, timeout=10)
        anonymous.create_job("open", pipeline())
        assert anonymous.crumb is False
        assert anonymous.job_exists("open")


def test_create_duplicate_and_malformed(emu: JenkinsEmulator, client: jenkins.Jenkins) -> None:
    client.create_job("job-a", pipeline())
    with pytest.raises(jenkins.JenkinsException, match="already exists"):
        client.create_job("job-a", pipeline())
    with pytest.raises(jenkins.JenkinsException, match=r"\[500\]"):
        client.create_job("broken", "<flow-definition><unclosed></flow-definition>")
    with pytest.raises(jenkins.JenkinsException, match=r"\[500\]"):
        client.create_job("alien", "<com.example.UnknownJob/>")
    assert emu.job_names() == ["job-a"]


def test_folders(emu: JenkinsEmulator, client: jenkins.Jenkins) -> None:
    with pytest.raises(jenkins.JenkinsException, match="folder for the job does not exist"):
        client.create_job("team/job-a", pipeline())
    client.create_job("team", FOLDER_XML)  # a folder created from a folder config.xml
    client.create_folder("team/sub")  # python-jenkins's form-based folder creation
    client.create_job("team/sub/job-a", pipeline())
    assert emu.folder_names() == ["team", "team/sub"]
    assert emu.job_names() == ["team/sub/job-a"]
    assert client.job_exists("team/sub/job-a")
    info = client.get_job_info("team/sub/job-a")
    assert info["fullName"] == "team/sub/job-a"
    assert info["url"] == emu.url + "job/team/job/sub/job/job-a/"
    folder = client.get_job_info("team")
    assert folder["_class"] == "com.cloudbees.hudson.plugins.folder.Folder"
    names = {j["fullname"] for j in client.get_all_jobs()}
    assert names == {"team", "team/sub", "team/sub/job-a"}


def test_job_lifecycle(emu: JenkinsEmulator, client: jenkins.Jenkins) -> None:
    client.create_job("Create-registry-backup-a", pipeline())
    name = "Create-registry-backup-a"
    info = client.get_job_info(name)
    assert info["_class"] == "org.jenkinsci.plugins.workflow.job.WorkflowJob"
    assert info["color"] == "notbuilt"
    assert info["buildable"] is True
    assert info["concurrentBuild"] is False
    assert info["lastSuccessfulBuild"] is None
    assert info["nextBuildNumber"] == 1
    client.disable_job(name)
    info = client.get_job_info(name)
    assert (info["color"], info["buildable"], info["disabled"]) == ("disabled", False, True)
    assert "<disabled>true</disabled>" in client.get_job_config(name)
    client.enable_job(name)
    assert not emu.is_disabled(name)
    client.upsert_job(name, pipeline("TZ=UTC\n0 4 * * *"))
    assert "0 4 * * *" in emu.get_config(name)
    client.upsert_job("other", FREESTYLE_XML)
    assert client.get_job_info("other")["_class"] == "hudson.model.FreeStyleProject"
    client.delete_job(name)
    assert not client.job_exists(name)
    assert emu.job_names() == ["other"]


def test_build_with_parameters(emu: JenkinsEmulator, client: jenkins.Jenkins) -> None:
    client.create_job("job-a", pipeline())
    first = client.build_job("job-a", {"REGISTRY_NAME": "reg-x"})
    second = client.build_job("job-a", {"MODE": "incremental"})
    assert second == first + 1
    assert emu.queued_builds("job-a") == [
        {"REGISTRY_NAME": "reg-x", "MODE": "full"},
        {"REGISTRY_NAME": "registry-a", "MODE": "incremental"},
    ]
    queue_item = client.get_queue_item(first)
    assert queue_item["task"]["name"] == "job-a"
    with pytest.raises(jenkins.JenkinsException, match=r"\[500\]"):
        client.build_job("job-a", {"MODE": "bogus"})
    with pytest.raises(requests.HTTPError) as exc_info:  # /build on a parameterized job needs a form
        client.build_job("job-a")
    assert exc_info.value.response.status_code == 400
    client.disable_job("job-a")
    with pytest.raises(requests.HTTPError) as exc_info:
        client.build_job("job-a", {"REGISTRY_NAME": "x"})
    assert exc_info.value.response.status_code == 409


def test_build_unparameterized(emu: JenkinsEmulator, client: jenkins.Jenkins) -> None:
    client.create_job("plain", FREESTYLE_XML)
    assert client.build_job("plain") >= 1
    with pytest.raises(requests.HTTPError) as exc_info:
        client.build_job("plain", {"X": "1"})
    assert exc_info.value.response.status_code == 400
    assert emu.queued_builds("plain") == [{}]


def test_recorded_builds_are_visible(emu: JenkinsEmulator, client: jenkins.Jenkins) -> None:
    client.create_job("job-a", pipeline())
    one = emu.record_build("job-a", {"REGISTRY_NAME": "r", "MODE": "full"}, timestamp_ms=1_700_000_000_000)
    two = emu.record_build("job-a", {"REGISTRY_NAME": "r"}, result="FAILURE", timestamp_ms=1_700_000_100_000)
    info = client.get_job_info("job-a")
    assert info["lastSuccessfulBuild"]["number"] == one
    assert info["lastBuild"]["number"] == two
    assert info["color"] == "red"
    assert info["nextBuildNumber"] == 3
    build = client.get_build_info("job-a", one)
    assert (build["number"], build["result"], build["timestamp"]) == (one, "SUCCESS", 1_700_000_000_000)
    params = next(a for a in build["actions"] if a.get("_class") == "hudson.model.ParametersAction")
    assert {p["name"]: p["value"] for p in params["parameters"]} == {"REGISTRY_NAME": "r", "MODE": "full"}


def test_config_is_reserialized_but_equivalent(emu: JenkinsEmulator, client: jenkins.Jenkins) -> None:
    posted = pipeline()
    client.create_job("job-a", posted)
    live = client.get_job_config("job-a")
    assert live != posted
    assert live.startswith('<?xml version="1.1" encoding="UTF-8"?>')
    assert "&apos;backup-registry run&apos;" in live
    assert 'plugin="workflow-job@' in live
    assert "<abortPrevious>false</abortPrevious>" in live
    root = ET.fromstring(live.encode())
    order = [child.tag for child in root]
    assert order == [
        "actions",
        "description",
        "keepDependencies",
        "properties",
        "definition",
        "triggers",
        "disabled",
    ]
    assert root.findtext(".//hudson.triggers.TimerTrigger/spec") == "TZ=Europe/Kyiv\n30 19 * * *"
    assert root.findtext("definition/script") == "sh 'backup-registry run'"


def test_plain_mode_keeps_posted_bytes() -> None:
    with JenkinsEmulator(users={USER: PASSWORD}, realistic=False) as emu:
        c = jenkins.Jenkins(emu.url, USER, PASSWORD, timeout=10)
        c.create_job("job-a", pipeline())
        assert c.get_job_config("job-a") == pipeline()


@pytest.mark.parametrize(
    "spec",
    ["TZ=europe/kyiv\n30 19 * * *", "5/15 * * * *", "0 0 * * MON", "TZ= Europe/Kyiv\n0 0 * * *", "0 0 L * *"],
)
def test_invalid_timer_trigger_is_dropped_silently(
    emu: JenkinsEmulator, client: jenkins.Jenkins, spec: str
) -> None:
    client.create_job("job-a", pipeline())
    client.reconfig_job("job-a", pipeline(spec))  # 200, no error
    live = client.get_job_config("job-a")
    assert "hudson.triggers.TimerTrigger" not in live
    assert "PipelineTriggersJobProperty" in live
    client.create_job("job-b", pipeline(spec))
    assert "hudson.triggers.TimerTrigger" not in emu.get_config("job-b")


def test_reconfig_errors(emu: JenkinsEmulator, client: jenkins.Jenkins) -> None:
    client.create_job("job-a", pipeline())
    with pytest.raises(jenkins.NotFoundException):
        client.reconfig_job("missing", pipeline())
    with pytest.raises(jenkins.JenkinsException, match=r"\[500\]"):
        client.reconfig_job("job-a", "<flow-definition>")
    with pytest.raises(jenkins.JenkinsException, match=r"\[500\]"):
        client.reconfig_job("job-a", FREESTYLE_XML)  # the root element may not change
    assert "30 19 * * *" in emu.get_config("job-a")


def test_fail_next(emu: JenkinsEmulator, client: jenkins.Jenkins) -> None:
    client.create_job("job-a", pipeline())
    emu.fail_next(500, path_prefix="/job/job-a/config.xml")
    with pytest.raises(jenkins.JenkinsException, match=r"\[500\]"):
        client.get_job_config("job-a")
    assert client.get_job_config("job-a")
    emu.fail_next(502, count=2)
    for _ in range(2):
        with pytest.raises(requests.HTTPError):
            client.get_job_config("job-a")
    emu.fail_next(0)
    with pytest.raises(requests.ConnectionError):
        client.get_job_config("job-a")
    assert client.get_job_config("job-a")
    emu.delay_next(1.0)
    with pytest.raises(jenkins.TimeoutException):
        jenkins.Jenkins(emu.url, USER, TOKEN, timeout=0.2).get_job_config("job-a")
    statuses = [r.status for r in emu.requests if r.path == "/job/job-a/config.xml"]
    assert statuses[:6] == [500, 200, 502, 502, 0, 200]


def test_put_and_edit_config(emu: JenkinsEmulator, client: jenkins.Jenkins) -> None:
    emu.put_job("fleet/reg-a/Create-registry-backup", pipeline())
    assert emu.folder_names() == ["fleet", "fleet/reg-a"]
    assert client.job_exists("fleet/reg-a/Create-registry-backup")
    emu.edit_config("fleet/reg-a/Create-registry-backup", lambda xml: xml.replace("30 19", "45 20"))
    assert "45 20 * * *" in client.get_job_config("fleet/reg-a/Create-registry-backup")
    with pytest.raises(ValueError):
        emu.put_job("bad", "<nope")
    assert emu.count("POST") == 0
