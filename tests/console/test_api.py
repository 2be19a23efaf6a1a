"""The console's JSON API against a real server, a real checkout and its bare upstream."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
import requests

from tests.console.conftest import ADMIN, OTHER, Served
from tests.helpers.console import VALUES_PATH
from tests.helpers.gitrepo import git

GOOD = {"enabled": True, "schedule": "30 3 * * *", "expiresInDays": 14}


def get(served: Served, path: str, headers: dict[str, str] | None = None) -> requests.Response:
    return requests.get(served.url + path, headers=ADMIN if headers is None else headers, timeout=10)


def put(served: Served, body: object, headers: dict[str, str] | None = None) -> requests.Response:
    return requests.put(
        served.url + "/api/v1/registries/demo/backup-settings",
        data=json.dumps(body),
        headers={"Content-Type": "application/json", **(ADMIN if headers is None else headers)},
        timeout=30,
    )


def base(served: Served) -> str:
    commit = get(served, "/api/v1/registries/demo").json()["commit"]
    assert isinstance(commit, str)
    return commit


def test_registry_document(served: Served) -> None:
    data = get(served, "/api/v1/registries/demo").json()
    assert data["commit"] == served.heads()[0]
    assert data["values"]["author"] == {"name": "Olena Koval", "email": "olena@example.com"}
    assert data["settings"] == {
        "enabled": True,
        "schedule": "30 19 * * *",
        "expiresInDays": 7,
        "expiresInHours": 168,
        "timeZone": "Europe/Kiev",
    }
    assert data["scheduleText"] == "At 19:30, every day"
    assert data["nextRuns"] == [
        "2026-11-22T19:30:00+02:00",
        "2026-11-23T19:30:00+02:00",
        "2026-11-24T19:30:00+02:00",
    ]
    assert data["lastSuccessfulBackup"]["createdAt"] == "2026-11-21T12:00:00+02:00"
    assert [(b["id"], b["daysUntilDeletion"]) for b in data["backups"]] == [
        ("20261121T100000Z", 6),
        ("20261120T100000Z", 5),
    ]
    assert data["overdue"] is False
    listing = get(served, "/api/v1/registries").json()
    assert listing["registries"] == [
        {
            "registry": "demo",
            "valid": True,
            "enabled": True,
            "schedule": "30 19 * * *",
            "timeZone": "Europe/Kiev",
            "lastSuccessfulBackup": data["lastSuccessfulBackup"],
            "overdue": False,
        }
    ]
    assert get(served, "/api/v1/registries/nope").status_code == 404


def test_preview_runs_dst_and_errors(served: Served) -> None:
    body = {**GOOD, "timeZone": "Europe/Kiev"}
    data = requests.post(served.url + "/api/v1/preview", json=body, headers=ADMIN, timeout=10).json()
    assert data["valid"] is True and data["expiresInHours"] == 336
    assert data["nextRunsText"] == ["2026-11-23 03:30 EET", "2026-11-24 03:30 EET", "2026-11-25 03:30 EET"]
    assert any("skip 03:00-04:00" in w for w in data["warnings"])
    body = {"enabled": True, "schedule": "*/30 * * * *", "expiresInDays": 7, "timeZone": "Mars/Base"}
    data = requests.post(served.url + "/api/v1/preview", json=body, headers=ADMIN, timeout=10).json()
    assert data["valid"] is False and data["nextRuns"] == []
    messages = {e["field"]: e["message"] for e in data["errors"]}
    assert "every 30 minutes" in messages["schedule"] and "IANA" in messages["timeZone"]


# The values corpus of tests/settings/test_values.py, as JSON: each is refused with the validator's message.
INVALID = [
    ("enabled", "true", "is a string"),
    ("enabled", 1, "is an integer"),
    ("enabled", 0, "is an integer"),
    ("enabled", 1.0, "is a float"),
    ("enabled", None, "null"),
    ("enabled", [True], "a list"),
    ("enabled", {"a": 1}, "a mapping"),
    ("enabled", "yes", "is a string"),
    ("expiresInDays", "7", "'7' is a string"),
    ("expiresInDays", 7.0, "7.0 is a float"),
    ("expiresInDays", True, "true is a boolean"),
    ("expiresInDays", 1e300, "is a float"),
    ("expiresInDays", "7d", "'7d' is a string"),
    ("expiresInDays", 6, "6 is below the minimum retention of 7 days"),
    ("expiresInDays", 0, "below the minimum"),
    ("expiresInDays", -7, "below the minimum"),
    ("expiresInDays", 3651, "above the maximum of 3650"),
    ("expiresInDays", 10**29, "out of range"),
    ("expiresInDays", None, "null"),
    ("expiresInDays", [7], "a list"),
    ("expiresInDays", "$(rm -rf /)", "is a string"),
    ("schedule", "*/30 * * * *", "every 30 minutes"),
    ("schedule", "0,30 * * * *", "every 30 minutes"),
    ("schedule", "H H * * *", "hash"),
    ("schedule", "0 0 30 2 *", "never fires"),
    ("schedule", "@reboot", "@reboot"),
    ("schedule", 5, "5 is an integer"),
    ("schedule", None, "null"),
    ("schedule", [0, 0], "a list"),
    ("schedule", "0 0 * * *\n0 1 * * *", "line break"),
    ("schedule", "$(id) * * * *", "'$'"),
    ("schedule", "1" * 101, "longer than 100"),
    ("schedule", "0 0 * * * </spec>", "'<'"),
]


@pytest.mark.parametrize(("field", "value", "needle"), INVALID)
def test_put_refuses_the_values_corpus(served: Served, field: str, value: object, needle: str) -> None:
    before = served.heads()
    response = put(served, {**GOOD, field: value, "baseCommit": before[0]})
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert [e["field"] for e in errors] == [field]
    assert needle in errors[0]["message"]
    assert served.heads() == before  # nothing committed, nothing pushed
    assert git(served.site.work, "status", "--porcelain") == ""
    assert not served.site.audit.exists()


@pytest.mark.parametrize(
    ("body", "field", "needle"),
    [
        ({**GOOD, "timeZone": "UTC"}, "timeZone", "unknown field"),
        ({**GOOD, "expireInDays": 7}, "expireInDays", "unknown field"),
        ({"enabled": True, "schedule": "0 3 * * *"}, "expiresInDays", "required"),
        ({**GOOD, "baseCommit": "HEAD"}, "baseCommit", "40-hex"),
        ({**GOOD, "baseCommit": 7}, "baseCommit", "40-hex"),
    ],
)
def test_put_refuses_unknown_missing_and_malformed_fields(
    served: Served, body: dict[str, Any], field: str, needle: str
) -> None:
    before = served.heads()
    body = {"baseCommit": before[0], **body}
    response = put(served, body)
    assert response.status_code == 422
    assert any(e["field"] == field and needle in e["message"] for e in response.json()["errors"])
    assert served.heads() == before


@pytest.mark.parametrize(
    ("raw", "status"),
    [(b"{", 400), (b"[1]", 400), (b'{"enabled": NaN}', 400), (b'{"a":1,"a":2}', 400), (b"[" * 5000, 400)],
)
def test_put_refuses_bad_json(served: Served, raw: bytes, status: int) -> None:
    response = requests.put(
        served.url + "/api/v1/registries/demo/backup-settings",
        data=raw,
        headers={"Content-Type": "application/json", **ADMIN},
        timeout=10,
    )
    assert response.status_code == status


def test_save_commits_only_the_settings_as_the_admin_and_pushes(served: Served) -> None:
    old = base(served)
    response = put(served, {**GOOD, "baseCommit": old})
    assert response.status_code == 200, response.text
    outcome = response.json()
    assert outcome["pushedTo"] == "origin/main" and outcome["unchanged"] is False
    assert outcome["changes"] == {"schedule": ["30 19 * * *", "30 3 * * *"], "expiresInDays": [7, 14]}
    assert served.heads() == (outcome["commit"], outcome["commit"])
    bare = served.site.bare
    assert git(bare, "log", "-1", "--format=%an <%ae>|%cn", "main") == "alice <alice@example.com>|alice"
    assert git(bare, "show", "--format=", "--name-only", "main") == VALUES_PATH
    diff = git(bare, "diff", "-U0", f"{old}..main").splitlines()
    changed = [line for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert changed == [
        '-    schedule: "30 19 * * *"   # unix cron, 5 fields, in global.timeZone',
        "-    expiresInDays: 7          # retention; the backup system works in hours (168)",
        '+    schedule: "30 3 * * *"   # unix cron, 5 fields, in global.timeZone',
        "+    expiresInDays: 14          # retention; the backup system works in hours (168)",
    ]
    record = json.loads(served.site.audit.read_text())
    assert record["actor"] == {"name": "alice", "email": "alice@example.com"}
    assert record["changes"] == outcome["changes"] and record["commit"] == outcome["commit"]
    assert record["base"] == old and record["ts"].endswith("Z")
    after = get(served, "/api/v1/registries/demo").json()
    assert after["commit"] == outcome["commit"] and after["settings"]["expiresInDays"] == 14
    # the same settings again: nothing to commit
    again = put(served, {**GOOD, "baseCommit": outcome["commit"]}).json()
    assert again == {"commit": outcome["commit"], "changes": {}, "unchanged": True, "pushedTo": None}


def test_two_admins_from_the_same_base_one_conflict_no_lost_update(served: Served) -> None:
    start = base(served)
    results: dict[str, requests.Response] = {}
    bodies = {
        "alice": ({**GOOD, "expiresInDays": 10, "baseCommit": start}, ADMIN),
        "bob": ({**GOOD, "expiresInDays": 20, "baseCommit": start}, OTHER),
    }
    threads = [
        threading.Thread(target=lambda n=n, b=b, h=h: results.__setitem__(n, put(served, b, h)))
        for n, (b, h) in bodies.items()
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    codes = sorted(r.status_code for r in results.values())
    assert codes == [200, 409]
    winner = next(n for n, r in results.items() if r.status_code == 200)
    loser = results["bob" if winner == "alice" else "alice"].json()
    kept = 10 if winner == "alice" else 20
    assert loser["current"]["settings"]["expiresInDays"] == kept  # the 409 shows what is there now
    assert git(served.site.bare, "rev-list", "--count", f"{start}..main") == "1"
    assert len(served.site.audit.read_text().splitlines()) == 1


def test_rejected_push_takes_the_commit_back(served: Served) -> None:
    other = served.site.tmp / "elsewhere"
    git(served.site.tmp, "clone", "-q", str(served.site.bare), str(other))
    git(other, "commit", "-q", "--allow-empty", "-m", "someone pushed first")
    git(other, "push", "-q", "origin", "main")
    before = served.heads()
    response = put(served, {**GOOD, "baseCommit": before[0]})
    assert response.status_code == 502 and "nothing was saved" in response.json()["error"]
    assert served.heads() == before
    assert git(served.site.work, "status", "--porcelain") == ""
    assert json.loads(served.site.audit.read_text())["result"] == "error"


def test_health_and_metrics_need_no_sign_in(served: Served) -> None:
    health = requests.get(served.url + "/healthz", timeout=10)
    assert health.status_code == 200 and health.json()["status"] == "pass"
    metrics = requests.get(served.url + "/metrics", timeout=10)
    assert metrics.headers["content-type"].startswith("text/plain")
    assert 'registry_backup_last_success_age_seconds{registry="demo"} 86400.0' in metrics.text
    assert 'registry_backup_overdue{registry="demo"} 0.0' in metrics.text
    assert 'registry_backup_failing{registry="demo"} 0.0' in metrics.text
    assert 'registry_backup_next_run_timestamp_seconds{registry="demo"}' in metrics.text


def test_body_cap(served: Served) -> None:
    response = requests.put(
        served.url + "/api/v1/registries/demo/backup-settings",
        data=b'{"x": "' + b"a" * 20000 + b'"}',
        headers={"Content-Type": "application/json", **ADMIN},
        timeout=10,
    )
    assert response.status_code == 413


def test_commits_made_outside_the_console_are_seen(served: Served) -> None:
    first = base(served)
    git(served.site.work, "commit", "-q", "--allow-empty", "-m", "pipeline bump")
    second = git(served.site.work, "rev-parse", "HEAD")
    assert second != first and base(served) == second
    git(served.site.work, "pack-refs", "--all")  # the loose ref moves into packed-refs
    assert base(served) == second
    stale = put(served, {**GOOD, "baseCommit": first})
    assert stale.status_code == 409 and stale.json()["current"]["commit"] == second


def test_openapi_describes_the_request_bodies(served: Served) -> None:
    spec = requests.get(served.url + "/api/v1/openapi.json", timeout=10).json()
    put_body = spec["paths"]["/api/v1/registries/{name}/backup-settings"]["put"]["requestBody"]
    schema = put_body["content"]["application/json"]["schema"]
    assert set(schema["required"]) == {"enabled", "schedule", "expiresInDays", "baseCommit"}
    assert schema["additionalProperties"] is False


def test_an_unreadable_repository_is_503_not_a_crash(served: Served) -> None:
    git(served.site.work, "checkout", "-q", "-b", "elsewhere")
    response = get(served, "/api/v1/registries/demo")
    assert response.status_code == 503 and "checked-out branch is now elsewhere" in response.json()["error"]
    page = get(served, "/registries/demo")
    assert page.status_code == 503 and "checked-out branch" in page.text
    assert requests.get(served.url + "/healthz", timeout=10).json()["status"] == "fail"


def test_preview_refuses_unknown_fields_and_bad_json(served: Served) -> None:
    url = served.url + "/api/v1/preview"
    body = {"enabled": True, "schedule": "0 1 * * *", "expiresInDays": 7, "timeZone": "UTC", "x": 1}
    for _ in range(2):  # the second answer comes from the cache and must be the same
        response = requests.post(url, json=body, headers=ADMIN, timeout=10)
        assert response.status_code == 422 and response.json()["errors"][0]["field"] == "x"
    headers = {"Content-Type": "application/json", **ADMIN}
    assert requests.post(url, data=b"{nope", headers=headers, timeout=10).status_code == 400
    assert (
        requests.post(
            url, data=b"{}", headers={**headers, "Origin": "http://evil.example"}, timeout=10
        ).status_code
        == 403
    )
