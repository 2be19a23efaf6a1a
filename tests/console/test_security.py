"""Sign-in, access, cross-site requests, headers and escaping of the console, against a real server."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
import requests

from provisioner.console.auth import parse_access, parse_networks, parse_tokens
from provisioner.errors import UsageError
from tests.console.conftest import ADMIN, Served
from tests.helpers.console import Site, serving, site_console
from tests.helpers.gitrepo import commit

TOKEN = "tok-" + "7" * 40
TOKENS = f"""tokens:
  - name: CI robot
    email: robot@example.com
    sha256: {hashlib.sha256(TOKEN.encode()).hexdigest()}
    groups: [registry-admins]
"""
GOOD = {"enabled": True, "schedule": "30 3 * * *", "expiresInDays": 14}


def put(url: str, body: object, headers: dict[str, str]) -> requests.Response:
    return requests.put(
        url + "/api/v1/registries/demo/backup-settings",
        data=json.dumps(body),
        headers={"Content-Type": "application/json", **headers},
        timeout=30,
    )


def test_anonymous_gets_401_everywhere_but_health(served: Served) -> None:
    for path in ("/api/v1/registries", "/api/v1/registries/demo", "/registries", "/registries/demo"):
        assert requests.get(served.url + path, timeout=10).status_code == 401
    assert put(served.url, {**GOOD, "baseCommit": "0" * 40}, {}).status_code == 401
    preview = requests.post(served.url + "/api/v1/preview", json={}, timeout=10)
    assert preview.status_code == 401


def test_proxy_headers_from_an_untrusted_address_are_ignored(site: Site) -> None:
    console = site_console(site, networks=parse_networks(["10.0.0.0/8"]))  # the proxy is elsewhere
    with serving(console) as url:
        assert requests.get(url + "/api/v1/registries/demo", headers=ADMIN, timeout=10).status_code == 401
        head = requests.get(url + "/healthz", timeout=10)
        assert head.status_code == 200
        response = put(url, {**GOOD, "baseCommit": "0" * 40}, ADMIN)
        assert response.status_code == 401


def test_bearer_tokens_are_stored_hashed(site: Site) -> None:
    console = site_console(site, tokens=parse_tokens(TOKENS, "tokens.yaml"))
    with serving(console) as url:
        ok = requests.get(
            url + "/api/v1/registries/demo", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        )
        assert ok.status_code == 200
        for wrong in (f"Bearer {TOKEN}x", "Bearer " + hashlib.sha256(TOKEN.encode()).hexdigest(), TOKEN):
            response = requests.get(
                url + "/api/v1/registries/demo", headers={"Authorization": wrong}, timeout=10
            )
            assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
        base = ok.json()["commit"]
        saved = put(url, {**GOOD, "baseCommit": base}, {"Authorization": f"Bearer {TOKEN}"})
        assert saved.status_code == 200
    line = site.audit.read_text()
    assert TOKEN not in line and '"via":"token"' in line and "robot@example.com" in line


def test_access_file_limits_registries(site: Site) -> None:
    access = parse_access(
        "demo:\n  users: [carol@example.com]\n  groups: [registry-admins]\n", "access", ["demo"]
    )
    console = site_console(site, networks=parse_networks(["127.0.0.1"]), access=access)
    with serving(console) as url:
        assert requests.get(url + "/api/v1/registries/demo", headers=ADMIN, timeout=10).status_code == 403
        assert put(url, {**GOOD, "baseCommit": "0" * 40}, ADMIN).status_code == 403
        assert requests.get(url + "/api/v1/registries", headers=ADMIN, timeout=10).json()["registries"] == []
        carol = {"X-Forwarded-User": "carol", "X-Forwarded-Email": "carol@example.com"}
        assert requests.get(url + "/api/v1/registries/demo", headers=carol, timeout=10).status_code == 200
        group = {"X-Forwarded-User": "dave", "X-Forwarded-Groups": "devs, registry-admins"}
        assert requests.get(url + "/registries/demo", headers=group, timeout=10).status_code == 200


@pytest.mark.parametrize(
    "text",
    [
        "tokens: []\n",
        "tokens:\n  - name: x\n    email: x@example.com\n    sha256: abc\n",
        "tokens:\n  - name: x\n    email: nope\n    sha256: " + "a" * 64 + "\n",
        "tokens:\n  - name: x\n    email: x@example.com\n    sha256: " + "a" * 64 + "\n    token: plain\n",
        "other: 1\n",
    ],
)
def test_bad_token_files(text: str) -> None:
    with pytest.raises(UsageError):
        parse_tokens(text, "tokens.yaml")


def test_access_file_names_only_served_registries() -> None:
    with pytest.raises(UsageError, match="not a registry this console serves"):
        parse_access("other:\n  users: [x]\n", "access", ["demo"])
    with pytest.raises(UsageError):
        parse_access("demo:\n  users: x\n", "access", ["demo"])


@pytest.mark.parametrize(
    "extra",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
    ],
)
def test_cross_site_put_is_refused(served: Served, extra: dict[str, str]) -> None:
    before = served.heads()
    response = put(served.url, {**GOOD, "baseCommit": before[0]}, {**ADMIN, **extra})
    assert response.status_code == 403 and "cross" in response.json()["error"]
    assert served.heads() == before


def test_same_origin_put_and_non_json_put(served: Served) -> None:
    base = served.heads()[0]
    text = requests.put(
        served.url + "/api/v1/registries/demo/backup-settings",
        data=json.dumps({**GOOD, "baseCommit": base}),
        headers={"Content-Type": "text/plain", **ADMIN},
        timeout=10,
    )
    assert text.status_code == 415  # a cross-site "simple" request cannot be JSON
    host = served.url.removeprefix("http://")
    ok = put(served.url, {**GOOD, "baseCommit": base}, {**ADMIN, "Origin": f"http://{host}"})
    assert ok.status_code == 200


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
    assert match is not None
    return match.group(1)


def test_form_post_needs_the_token(served: Served) -> None:
    page = requests.get(served.url + "/registries/demo", headers=ADMIN, timeout=10).text
    base = served.heads()[0]
    form = {"enabled": "true", "schedule": "30 3 * * *", "expiresInDays": "14", "baseCommit": base}
    for token in (None, "0" * 64):
        data = form if token is None else {**form, "csrf": token}
        response = requests.post(served.url + "/registries/demo", data=data, headers=ADMIN, timeout=10)
        assert response.status_code == 403
    bob = {"X-Forwarded-User": "bob"}
    stolen = requests.post(
        served.url + "/registries/demo", data={**form, "csrf": _csrf(page)}, headers=bob, timeout=10
    )
    assert stolen.status_code == 403  # bound to the user
    assert served.heads() == (base, base)
    response = requests.post(
        served.url + "/registries/demo",
        data={**form, "csrf": _csrf(page)},
        headers=ADMIN,
        timeout=30,
        allow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/registries/demo?saved={served.heads()[0]}"


def test_security_headers(served: Served) -> None:
    for path in ("/registries/demo", "/api/v1/registries/demo", "/static/console.js"):
        headers = requests.get(served.url + path, headers=ADMIN, timeout=10).headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"
    page = requests.get(served.url + "/registries/demo", headers=ADMIN, timeout=10).text
    assert "<script>" not in page and " on" + "click=" not in page  # no inline script


XSS = "<script>alert(1)</script>"


def test_values_are_escaped_in_the_page(served: Served) -> None:
    page = requests.get(served.url + "/registries/demo", headers=ADMIN, timeout=10).text
    base = served.heads()[0]
    form = {"enabled": "true", "schedule": XSS, "expiresInDays": XSS, "baseCommit": base, "csrf": _csrf(page)}
    response = requests.post(served.url + "/registries/demo", data=form, headers=ADMIN, timeout=10)
    assert response.status_code == 422
    assert XSS not in response.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
    assert served.heads() == (base, base)
    user = {"X-Forwarded-User": '"><img src=x>', "X-Forwarded-Email": "x@example.com"}
    assert requests.get(served.url + "/registries/demo", headers=user, timeout=10).status_code == 401


def test_committed_hostile_values_are_escaped(site: Site, tmp_path: Path) -> None:
    text = 'global:\n  registryBackup:\n    schedule: "<script>alert(1)</script>"\n'
    commit(site.work, {"deploy-templates/values.yaml": text}, message="hostile")
    console = site_console(site, networks=parse_networks(["127.0.0.1/32"]))
    with serving(console) as url:
        page = requests.get(url + "/registries/demo", headers=ADMIN, timeout=10)
        assert page.status_code == 200
        assert XSS not in page.text and "&lt;script&gt;" in page.text
        data = requests.get(url + "/api/v1/registries/demo", headers=ADMIN, timeout=10).json()
        assert data["settings"] is None and data["errors"][0]["field"] == "global.registryBackup.schedule"
