"""Status codes, headers and bodies that python-jenkins hides, checked with plain requests."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest
import requests

from tests.jenkins_emulator import JenkinsEmulator

from .conftest import FOLDER_XML, PASSWORD, TOKEN, USER, pipeline

XML_HEADERS = {"Content-Type": "text/xml; charset=utf-8"}


@pytest.fixture
def session(emu: JenkinsEmulator) -> Iterator[requests.Session]:
    """A password-authenticated session holding the JSESSIONID cookie and the crumb header."""
    with requests.Session() as s:
        s.auth = (USER, PASSWORD)
        crumb = s.get(emu.url + "crumbIssuer/api/json", timeout=10).json()
        s.headers[crumb["crumbRequestField"]] = crumb["crumb"]
        yield s


def _post_xml(s: requests.Session, url: str, xml: str | bytes, **kwargs: object) -> requests.Response:
    data = xml.encode() if isinstance(xml, str) else xml
    return s.post(url, data=data, headers=XML_HEADERS, timeout=10, **kwargs)  # type: ignore[arg-type]


def test_jenkins_headers_on_every_response(emu: JenkinsEmulator, session: requests.Session) -> None:
    responses = [
        requests.get(emu.url, timeout=10),  # anonymous: 403
        requests.get(emu.url + "job/x/api/json", auth=(USER, "bad"), timeout=10),  # 401
        session.get(emu.url + "job/missing/api/json", timeout=10),  # 404
        session.get(emu.url + "api/json", timeout=10),  # 200
        _post_xml(session, emu.url + "createItem?name=bad", "<oops"),  # 500
    ]
    assert [r.status_code for r in responses] == [403, 401, 404, 200, 500]
    for r in responses:
        assert r.headers["X-Jenkins"] == "2.479.1"
        assert r.headers["X-Jenkins-Session"]
        assert r.headers["X-Hudson"]


def test_anonymous_root_and_auth_errors(emu: JenkinsEmulator) -> None:
    r = requests.get(emu.url, headers={"X-Jenkins": "0.0"}, timeout=10)
    assert r.status_code == 403
    assert "login?from=" in r.text
    r = requests.get(emu.url + "api/json", auth=(USER, "wrong"), timeout=10)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Basic realm="Jenkins"'
    assert requests.get(emu.url, auth=(USER, TOKEN), timeout=10).status_code == 200
    emu.anonymous_read = True
    assert requests.get(emu.url, timeout=10).status_code == 200


def test_crumb_issuer_sets_session_cookie(emu: JenkinsEmulator) -> None:
    with requests.Session() as s:
        s.auth = (USER, PASSWORD)
        r = s.get(emu.url + "crumbIssuer/api/json", timeout=10)
        data = r.json()
        assert data["_class"] == "hudson.security.csrf.DefaultCrumbIssuer"
        assert data["crumbRequestField"] == "Jenkins-Crumb"
        assert "JSESSIONID." in r.headers["Set-Cookie"]
        # POST without the crumb, then with it
        r = _post_xml(s, emu.url + "createItem?name=a", pipeline())
        assert r.status_code == 403
        assert "No valid crumb was included in the request" in r.text
        r = s.post(
            emu.url + "createItem?name=a",
            data=pipeline().encode(),
            headers={**XML_HEADERS, "Jenkins-Crumb": data["crumb"]},
            timeout=10,
        )
        assert r.status_code == 200
        assert r.content == b""
        # the crumb of another user is not valid for this session
        s.auth = (USER, TOKEN)  # token: exempt anyway
        assert s.post(emu.url + "job/a/disable", allow_redirects=False, timeout=10).status_code == 302
    emu.csrf = False
    assert (
        requests.get(emu.url + "crumbIssuer/api/json", auth=(USER, PASSWORD), timeout=10).status_code == 404
    )
    assert requests.post(emu.url + "job/a/enable", auth=(USER, PASSWORD), timeout=10).status_code == 200


def test_crumb_as_form_field(emu: JenkinsEmulator) -> None:
    emu.put_job("a", pipeline())
    with requests.Session() as s:
        s.auth = (USER, PASSWORD)
        crumb = s.get(emu.url + "crumbIssuer/api/json", timeout=10).json()["crumb"]
        r = s.post(
            emu.url + "job/a/disable", data={"Jenkins-Crumb": crumb}, allow_redirects=False, timeout=10
        )
        assert r.status_code == 302
    assert emu.is_disabled("a")


@pytest.mark.parametrize(
    ("query", "headers", "message"),
    [
        ("name=a", {}, "No Content-Type header set"),
        ("name=a", {"Content-Type": "application/json"}, "No mode given"),
        ("", XML_HEADERS, "Query parameter 'name' is required"),
        ("name=a%3Fb", XML_HEADERS, "\u2018?\u2019 is an unsafe character"),
        ("name=a%2Fb", XML_HEADERS, "\u2018/\u2019 is an unsafe character"),
        ("name=..", XML_HEADERS, "\u201c..\u201d is not an allowed name"),
        ("name=trailing.", XML_HEADERS, "A name cannot end with \u2018.\u2019"),
        ("name=", XML_HEADERS, "No name is specified"),
    ],
)
def test_create_item_failures(
    emu: JenkinsEmulator, session: requests.Session, query: str, headers: dict[str, str], message: str
) -> None:
    r = session.post(emu.url + "createItem?" + query, data=pipeline().encode(), headers=headers, timeout=10)
    assert r.status_code == 400
    assert r.headers["X-Error"].encode("latin-1").decode("utf-8") == message
    assert emu.job_names() == []


def test_create_duplicate_is_400_with_x_error(emu: JenkinsEmulator, session: requests.Session) -> None:
    assert _post_xml(session, emu.url + "createItem?name=Job-A", pipeline()).status_code == 200
    r = _post_xml(session, emu.url + "createItem?name=job-a", pipeline())  # names are case-insensitive
    assert r.status_code == 400
    assert (
        r.headers["X-Error"].encode("latin-1").decode()
        == "A job already exists with the name \u2018job-a\u2019"
    )
    assert r.headers["Content-Type"].startswith("text/html")


def test_create_in_missing_folder_is_404(emu: JenkinsEmulator, session: requests.Session) -> None:
    assert _post_xml(session, emu.url + "job/nope/createItem?name=a", pipeline()).status_code == 404
    assert _post_xml(session, emu.url + "createItem?name=f", FOLDER_XML).status_code == 200
    assert _post_xml(session, emu.url + "job/f/createItem?name=a", pipeline()).status_code == 200
    # a job is not a folder
    assert _post_xml(session, emu.url + "job/f/job/a/createItem?name=b", pipeline()).status_code == 404
    assert emu.job_names() == ["f/a"]


def test_config_xml_endpoints(emu: JenkinsEmulator, session: requests.Session) -> None:
    emu.put_job("a", pipeline())
    r = session.get(emu.url + "job/a/config.xml", timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/xml"
    assert r.content.startswith(b'<?xml version="1.1" encoding="UTF-8"?>')
    assert _post_xml(session, emu.url + "job/a/config.xml", pipeline("0 1 * * *")).content == b""
    assert _post_xml(session, emu.url + "job/missing/config.xml", pipeline()).status_code == 404
    assert _post_xml(session, emu.url + "job/a/config.xml", b"\xff\xfe garbage").status_code == 500
    assert session.put(emu.url + "job/a/config.xml", data=pipeline().encode(), timeout=10).status_code == 400
    assert session.delete(emu.url + "job/a/", timeout=10).status_code == 405
    assert "0 1 * * *" in emu.get_config("a")


def test_post_only_endpoints_and_redirects(emu: JenkinsEmulator, session: requests.Session) -> None:
    emu.put_job("f/a", pipeline())
    for action in ("disable", "enable", "doDelete", "build", "buildWithParameters"):
        assert session.get(emu.url + f"job/f/job/a/{action}", timeout=10).status_code == 405
    r = session.post(emu.url + "job/f/job/a/disable", allow_redirects=False, timeout=10)
    assert (r.status_code, r.headers["Location"]) == (302, emu.url + "job/f/job/a/")
    assert session.get(r.headers["Location"], timeout=10).status_code == 200
    r = session.post(
        emu.url + "job/f/job/a/buildWithParameters?REGISTRY_NAME=x", allow_redirects=False, timeout=10
    )
    assert r.status_code == 409
    session.post(emu.url + "job/f/job/a/enable", timeout=10)
    r = session.post(
        emu.url + "job/f/job/a/buildWithParameters?REGISTRY_NAME=x", allow_redirects=False, timeout=10
    )
    assert r.status_code == 201
    assert r.headers["Location"].startswith(emu.url + "queue/item/")
    r = session.post(
        emu.url + "job/f/job/a/build",
        data={"json": json.dumps({"parameter": [{"name": "MODE", "value": "incremental"}]})},
        allow_redirects=False,
        timeout=10,
    )
    assert r.status_code == 201
    assert emu.queued_builds("f/a")[-1] == {"REGISTRY_NAME": "registry-a", "MODE": "incremental"}
    assert session.get(emu.url + "job/f/job/a/api/json", timeout=10).json()["inQueue"] is True
    r = session.post(emu.url + "job/f/job/a/doDelete", allow_redirects=False, timeout=10)
    assert (r.status_code, r.headers["Location"]) == (302, emu.url + "job/f/")
    assert session.get(emu.url + "job/f/job/a/api/json", timeout=10).status_code == 404
    r = session.post(emu.url + "job/f/doDelete", allow_redirects=False, timeout=10)
    assert r.headers["Location"] == emu.url


def test_tree_queries(emu: JenkinsEmulator, session: requests.Session) -> None:
    emu.put_job("b", pipeline())
    emu.put_job("f/a", pipeline())
    emu.put_job("f/g/deep", pipeline())
    r = session.get(
        emu.url + "api/json?tree=jobs%5Bname,url,color,jobs%5Bname,jobs%5Bname%5D%5D%5D", timeout=10
    )
    data = r.json()
    assert data["_class"] == "hudson.model.Hudson"
    assert [j["name"] for j in data["jobs"]] == ["b", "f"]
    folder = data["jobs"][1]
    assert folder["_class"] == "com.cloudbees.hudson.plugins.folder.Folder"
    assert [j["name"] for j in folder["jobs"]] == ["a", "g"]
    assert folder["jobs"][1]["jobs"] == [
        {"_class": "org.jenkinsci.plugins.workflow.job.WorkflowJob", "name": "deep"}
    ]
    assert set(data["jobs"][0]) == {"_class", "name", "url", "color"}
    # arbitrary job fields are available through tree=
    r = session.get(
        emu.url + "api/json?tree=jobs[fullName,disabled,description,jobs[fullName,disabled]]", timeout=10
    )
    jobs = r.json()["jobs"]
    assert jobs[0] == {
        "_class": "org.jenkinsci.plugins.workflow.job.WorkflowJob",
        "fullName": "b",
        "disabled": False,
        "description": "Managed by the provisioner",
    }
    assert jobs[1]["jobs"][0]["fullName"] == "f/a"
    full = session.get(emu.url + "api/json", timeout=10).json()
    assert full["views"] == [{"_class": "hudson.model.AllView", "name": "all", "url": emu.url}]
    assert "jobs" not in full["jobs"][1]  # depth 0: folder children not expanded
    job = session.get(emu.url + "job/b/api/json?tree=name", timeout=10).json()
    assert job == {"_class": "org.jenkinsci.plugins.workflow.job.WorkflowJob", "name": "b"}
    emu.record_build("b", {"REGISTRY_NAME": "x"}, timestamp_ms=1)
    emu.record_build("b", {"REGISTRY_NAME": "y"}, timestamp_ms=2)
    builds = session.get(emu.url + "job/b/api/json?tree=builds[number]{0,1}", timeout=10).json()["builds"]
    assert builds == [{"_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun", "number": 2}]
    last = session.get(emu.url + "job/b/lastSuccessfulBuild/api/json", timeout=10).json()
    assert last["number"] == 2


def test_plugins_and_whoami(emu: JenkinsEmulator, session: requests.Session) -> None:
    plugins = session.get(emu.url + "pluginManager/api/json?depth=2", timeout=10).json()["plugins"]
    names = {p["shortName"] for p in plugins}
    assert {"workflow-job", "workflow-cps", "cloudbees-folder"} <= names
    assert all({"shortName", "longName", "version", "active", "enabled"} <= set(p) for p in plugins)
    assert session.get(emu.url + "me/api/json", timeout=10).json()["id"] == USER


def test_keep_alive_reuses_one_connection(emu: JenkinsEmulator, session: requests.Session) -> None:
    emu.put_job("a", pipeline())
    emu.reset_counters()
    for _ in range(20):
        assert session.get(emu.url + "job/a/api/json?tree=name", timeout=10).status_code == 200
    assert emu.connections == 0  # all 20 went over the connection opened for the crumb
    assert emu.count("GET", "/job/a/") == 20


def test_control_endpoints_are_not_counted(emu: JenkinsEmulator) -> None:
    requests.get(emu.url, timeout=10)
    stats = requests.get(emu.url + "_emulator/stats", timeout=10).json()
    assert stats["total"] == 1
    assert stats["byStatus"] == {"403": 1}
    requests.post(emu.url + "_emulator/fail_next?status=503&path_prefix=/api", timeout=10)
    assert requests.get(emu.url + "api/json", auth=(USER, TOKEN), timeout=10).status_code == 503
    assert requests.get(emu.url + "api/json", auth=(USER, TOKEN), timeout=10).status_code == 200
    requests.post(emu.url + "_emulator/reset", timeout=10)
    assert emu.count() == 0


def test_stats_time_the_first_and_last_counted_request(emu: JenkinsEmulator) -> None:
    """Benchmarks tell a tool's start-up and wind-down by these (one monotonic clock for all processes)."""
    stats_url = emu.url + "_emulator/stats"
    empty = requests.get(stats_url, timeout=10).json()
    assert empty["firstAt"] is None and empty["lastAt"] is None
    before = time.monotonic()
    requests.get(emu.url + "api/json", auth=(USER, TOKEN), timeout=10)
    between = time.monotonic()
    requests.get(emu.url + "api/json", auth=(USER, TOKEN), timeout=10)
    after = time.monotonic()
    stats = requests.get(stats_url, timeout=10).json()  # control requests are not timed either
    assert before <= stats["firstAt"] <= between <= stats["lastAt"] <= after
    requests.post(emu.url + "_emulator/reset", timeout=10)
    reset = requests.get(stats_url, timeout=10).json()
    assert reset["firstAt"] is None and reset["lastAt"] is None


def test_close_connection_injection_raw_socket(emu: JenkinsEmulator) -> None:
    emu.fail_next(0)
    host, port = emu.url.removeprefix("http://").rstrip("/").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(100) == b""
    assert emu.requests[-1].status == 0


def test_names_with_spaces_unicode_and_case(emu: JenkinsEmulator, session: requests.Session) -> None:
    import jenkins

    client = jenkins.Jenkins(emu.url, USER, PASSWORD, timeout=10)
    for name in ("my job", "r\u00e9gistre-\u043a\u0438\u0457\u0432"):
        client.create_job(name, pipeline())
        info = client.get_job_info(name)
        assert info["name"] == name
        assert info["url"] == emu.url + "job/" + requests.utils.quote(name, safe="") + "/"
    # names resolve case-insensitively, as in Jenkins; python-jenkins then notices the other spelling
    assert session.get(emu.url + "job/MY%20JOB/api/json?tree=name", timeout=10).json()["name"] == "my job"
    with pytest.raises(jenkins.JenkinsException, match="unexpected job name"):
        client.job_exists("MY JOB")


def test_head_is_served_like_get(emu: JenkinsEmulator, session: requests.Session) -> None:
    emu.put_job("a", pipeline())
    r = session.head(emu.url + "job/a/config.xml", timeout=10)
    assert r.status_code == 200
    assert r.content == b""
    assert int(r.headers["Content-Length"]) == len(emu.get_config("a").encode())
