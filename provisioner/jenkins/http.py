"""The REST target: python-jenkins fetches the crumb; requests go out through one urllib3 pool.

Request budget (jenkins-facts.md §3.2): GETs are sent without a crumb (Jenkins checks crumbs only on
POST), so an unchanged job costs one GET of config.xml. The crumb (with the session cookie it is
bound to) is fetched once by python-jenkins, before the first POST, and shared by every thread using
this target. The requests themselves go through urllib3 directly (keep-alive, one connection per
thread, TLS verification always on): requests + python-jenkins per call cost about 0.3 ms of CPU
more, a second for the 3000 requests of a fleet run. Our own retries and error messages.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from provisioner.errors import JenkinsFailure
from provisioner.jenkins.retry import (
    HttpStatusError,
    NotFound,
    RetryPolicy,
    status_error,
    status_failure,
    with_retries,
)
from provisioner.jenkins.target import FOLDER_CLASS_SUFFIXES, JobPath, LiveIndex, LiveItem

XML_HEADERS = {"Content-Type": "text/xml; charset=utf-8"}


class _Response:
    """What callers read from an answer: the body."""

    def __init__(self, content: bytes) -> None:
        self.content = content

    def json(self) -> Any:
        return json.loads(self.content)


def _folder_url(folders: tuple[str, ...]) -> str:
    return "".join(f"job/{quote(part, safe='')}/" for part in folders)


class HttpTarget:
    """A Jenkins reached over HTTP(S). Safe to share between threads."""

    def __init__(
        self,
        url: str,
        *,
        folder_config: Callable[[str], str],
        username: str | None = None,
        token: str | None = None,
        ca_bundle: Path | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        pool_size: int = 10,
    ) -> None:
        self._folder_config = folder_config  # config.xml of a folder to create, by its full name
        import jenkins
        import requests.utils
        import urllib3

        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._url = url if url.endswith("/") else url + "/"
        parts = urlsplit(self._url)
        self._label = f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}{parts.path}"
        client: Any = jenkins.Jenkins(self._url, username, token, timeout=self._retry.timeout)
        session = client._session
        # The environment (proxies, CA bundle variables) is read once here, for the crumb request
        # (python-jenkins' session) and for the urllib3 pool below alike.
        session.proxies.update(requests.utils.get_environ_proxies(self._url))
        env_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        # python-jenkins turns verification off when PYTHONHTTPSVERIFY=0; we never do.
        if parts.scheme != "https":
            session.verify = True
        else:
            session.verify = str(ca_bundle) if ca_bundle is not None else env_bundle or True
        session.trust_env = False
        client._auths = client._auths[:1]  # no kerberos probing: one auth, no extra request
        self._client = client
        self._crumb_lock = threading.Lock()
        self._crumb_headers: dict[str, str] | None = None
        # The requests themselves go through urllib3 directly, one keep-alive connection per worker
        # thread: requests + python-jenkins cost about 0.3 ms of CPU per request on top of it (a
        # second per 3000 requests of a fleet run). python-jenkins still fetches the crumb.
        self._headers = dict(urllib3.make_headers(basic_auth=f"{username}:{token}")) if username else {}
        options: dict[str, Any] = {
            "num_pools": 2,
            "maxsize": max(pool_size, 1),
            "block": False,
            "retries": False,
            "timeout": urllib3.Timeout(connect=self._retry.timeout, read=self._retry.timeout),
        }
        if parts.scheme == "https":
            import certifi

            verify = session.verify
            options.update(
                cert_reqs="CERT_REQUIRED", ca_certs=verify if isinstance(verify, str) else certifi.where()
            )
        proxy = session.proxies.get(parts.scheme)
        self._pool: Any = urllib3.ProxyManager(proxy, **options) if proxy else urllib3.PoolManager(**options)

    @property
    def label(self) -> str:
        return self._label

    # -- low level -------------------------------------------------------------------------------
    def _crumb(self) -> dict[str, str]:
        """The crumb header (and the session cookie it is bound to), fetched once for all threads."""
        import requests

        with self._crumb_lock:
            if self._crumb_headers is None:
                probe = requests.Request("POST", self._url)
                self._client.maybe_add_crumb(probe)  # python-jenkins: GET crumbIssuer/api/json once
                headers = {str(k): str(v) for k, v in probe.headers.items()}
                cookies = "; ".join(f"{c.name}={c.value}" for c in self._client._session.cookies)
                if cookies:
                    headers["Cookie"] = cookies
                self._crumb_headers = headers
            return self._crumb_headers

    def _send(self, method: str, path: str, *, body: bytes | None = None, post: bool = False) -> _Response:
        def call() -> _Response:
            headers = dict(self._headers)
            if body is not None:
                headers.update(XML_HEADERS)
            if post:
                headers.update(self._crumb())
            response = self._pool.request(
                method, self._url + path, body=body, headers=headers, redirect=False, retries=False
            )
            if response.status >= 400:
                raise status_error(response.status, response.headers.get("X-Error") or response.reason or "")
            return _Response(response.data)

        return with_retries(
            call, what=f"{method} {path}", label=self._label, policy=self._retry, sleep=self._sleep
        )

    def job_url(self, path: JobPath) -> str:
        """The job's URL path relative to the base URL (``job/a/job/b/``), each name percent-encoded."""
        return _folder_url(path.folders) + f"job/{quote(path.name, safe='')}/"

    # -- JobTarget -------------------------------------------------------------------------------
    def read_job(self, path: JobPath) -> str | None:
        try:
            response = self._send("GET", self.job_url(path) + "config.xml")
        except NotFound:
            return None
        except HttpStatusError as err:
            raise status_failure(f"reading job {path.full_name}", self._label, err) from err
        text: str = response.content.decode("utf-8", "replace")
        return text

    def update_job(self, path: JobPath, config_xml: str) -> None:
        try:
            self._send("POST", self.job_url(path) + "config.xml", body=config_xml.encode(), post=True)
        except NotFound as exc:
            raise JenkinsFailure(f"updating job {path.full_name}: it disappeared (HTTP 404)") from exc
        except HttpStatusError as err:
            raise status_failure(f"updating job {path.full_name}", self._label, err) from err

    def create_job(self, path: JobPath, config_xml: str) -> None:
        what = f"creating job {path.full_name}"
        try:
            self._create_item(path.folders, path.name, config_xml)
        except NotFound:
            # A missing folder: createItem under it is 404. Create the chain, then try once more.
            self.ensure_folders(path)
            try:
                self._create_item(path.folders, path.name, config_xml)
            except NotFound as exc:
                raise JenkinsFailure(f"{what}: its folder still does not exist (HTTP 404)") from exc
            except HttpStatusError as err:
                raise status_failure(what, self._label, err) from err
        except HttpStatusError as err:
            if err.status == 400 and "already exists" in err.detail:
                raise JenkinsFailure(
                    f"{what}: someone else created it meanwhile ({err.detail}); run the reconcile again"
                ) from err
            raise status_failure(what, self._label, err) from err

    def _create_item(self, folders: tuple[str, ...], name: str, config_xml: str) -> None:
        query = f"createItem?name={quote(name, safe='')}"
        self._send("POST", _folder_url(folders) + query, body=config_xml.encode(), post=True)

    def ensure_folders(self, path: JobPath, folders: list[tuple[str, ...]] | None = None) -> None:
        """Create the job's ancestor folders (or just ``folders``), outermost first; existing are fine."""
        for folder in folders if folders is not None else path.folder_paths():
            full = "/".join(folder)
            try:
                self._create_item(folder[:-1], folder[-1], self._folder_config(full))
            except HttpStatusError as err:
                if err.status == 400 and "already exists" in err.detail:
                    continue  # there already: fine (Jenkins checks the item kind on createItem below)
                raise status_failure(f"creating folder {full}", self._label, err) from err
            except NotFound as exc:
                raise JenkinsFailure(f"creating folder {full}: parent folder missing (HTTP 404)") from exc

    # -- read-only JSON API (status, fleet) -------------------------------------------------------
    def get_json(self, path: str, *, what: str) -> Any | None:
        """GET ``path`` (relative to the base URL, e.g. ``job/x/lastSuccessfulBuild/api/json?tree=...``).

        Returns the decoded JSON, or None on HTTP 404. ``what`` names the request in error messages.
        """
        try:
            response = self._send("GET", path)
        except NotFound:
            return None
        except HttpStatusError as err:
            raise status_failure(what, self._label, err) from err
        try:
            return response.json()
        except ValueError as exc:
            raise JenkinsFailure(f"{what}: Jenkins at {self._label} answered with invalid JSON") from exc

    def disable_job(self, path: JobPath) -> None:
        """Disable the job (Jenkins's own disable action: the config and the builds are kept)."""
        try:
            self._send("POST", self.job_url(path) + "disable", post=True)
        except NotFound as exc:
            raise JenkinsFailure(f"disabling job {path.full_name}: it does not exist (HTTP 404)") from exc
        except HttpStatusError as err:
            raise status_failure(f"disabling job {path.full_name}", self._label, err) from err

    def list_items(self, depth: int, *, descriptions: bool = False) -> LiveIndex:
        """Every item down to ``depth`` levels with ONE request (``api/json?tree=jobs[...]`` nested)."""
        fields = "_class,name,color" + (",description" if descriptions else "")
        tree = f"jobs[{fields}]"
        for _ in range(depth - 1):
            tree = f"jobs[{fields},{tree}]"
        data = self.get_json(f"api/json?tree={quote(tree, safe=',')}", what="listing jobs")
        if not isinstance(data, dict):
            raise JenkinsFailure(f"listing jobs: Jenkins at {self._label} answered without a jobs list")
        items: dict[str, LiveItem] = {}
        stack: list[tuple[str, object]] = [("", data.get("jobs"))]
        while stack:
            prefix, jobs = stack.pop()
            if not isinstance(jobs, list):
                continue
            for job in jobs:
                if not isinstance(job, dict) or not isinstance(job.get("name"), str):
                    continue
                full = prefix + job["name"]
                cls = str(job.get("_class", ""))
                folder = "jobs" in job or cls.endswith(FOLDER_CLASS_SUFFIXES)
                description = job.get("description")
                items[full] = LiveItem(
                    full_name=full,
                    folder=folder,
                    disabled=job.get("color") == "disabled",
                    description=description if isinstance(description, str) else None,
                )
                if folder:
                    stack.append((full + "/", job.get("jobs")))
        return LiveIndex(items=items, depth=depth)
