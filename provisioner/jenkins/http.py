"""The REST target: Jenkins's REST API through one bounded urllib3 pool (:mod:`.transport`).

Request budget (jenkins-facts.md §3.2): GETs are sent without a crumb (Jenkins checks crumbs only on
POST), so an unchanged job costs one GET of config.xml. The crumb (with the session cookie it is
bound to) is fetched once, before the first POST, through the same pool and under the same bounds as
every other request, and shared by every thread using this target. Our own retries and messages.
"""

from __future__ import annotations

import json
import re
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
from provisioner.jenkins.target import (
    FOLDER_CLASS_SUFFIXES,
    JobAlreadyExists,
    JobPath,
    LiveIndex,
    LiveItem,
)
from provisioner.jenkins.transport import FRAMING_HEADERS, Answer, MiB, Transport

XML_HEADERS = {"Content-Type": "text/xml; charset=utf-8"}
USER_AGENT = "registry-backup-provisioner"
CRUMB_PATH = "crumbIssuer/api/json"
# Caps on what one answer may hold, after decompression. config.xml: Jenkins's own limits are far
# smaller (and parse_config refuses 5 MB). JSON: the one-request job listing of a 10,000-registry
# fleet with descriptions is about 9 MB.
MAX_CONFIG_BYTES = 16 * MiB
MAX_JSON_BYTES = 32 * MiB
MAX_CRUMB_BYTES = 64 * 1024
_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}")  # an HTTP token
_HEADER_VALUE = re.compile(r"[\x21-\x7e]{1,1000}")  # visible ASCII, no blanks
# Headers a crumb must not replace: ours (credentials, body type, session) and the framing.
_NOT_CRUMBS = frozenset({"authorization", "cookie", "content-type", "user-agent"}) | FRAMING_HEADERS
_COOKIE = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}=[\x21-\x2b\x2d-\x3a\x3c-\x7e]{0,4000}")


def _folder_url(folders: tuple[str, ...]) -> str:
    return "".join(f"job/{quote(part, safe='')}/" for part in folders)


def crumb_headers(body: bytes, set_cookies: tuple[str, ...]) -> dict[str, str] | None:
    """The crumb header and the session cookie it is bound to; None when ``body`` is not crumb JSON."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    field, crumb = data.get("crumbRequestField"), data.get("crumb")
    if not (isinstance(field, str) and _HEADER_NAME.fullmatch(field)) or field.lower() in _NOT_CRUMBS:
        return None
    if not (isinstance(crumb, str) and _HEADER_VALUE.fullmatch(crumb)):
        return None
    headers = {field: crumb}
    cookies = [c.split(";", 1)[0].strip() for c in set_cookies]
    cookies = [c for c in cookies if _COOKIE.fullmatch(c)]
    if cookies:
        headers["Cookie"] = "; ".join(cookies)
    return headers


def _already_exists(err: HttpStatusError) -> bool:
    return err.status == 400 and "already exists" in err.detail


def _decode_header(value: str) -> str:
    """http.client reads header bytes as Latin-1; Jenkins writes X-Error in UTF-8 (curly quotes)."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


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
        import urllib3

        self._folder_config = folder_config  # config.xml of a folder to create, by its full name
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._url = url if url.endswith("/") else url + "/"
        parts = urlsplit(self._url)
        self._label = f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}{parts.path}"
        # The headers of every request, built once: GETs send these as they are.
        self._headers = {"User-Agent": USER_AGENT}
        if username:
            self._headers.update(urllib3.make_headers(basic_auth=f"{username}:{token}"))
        self._xml_headers = {**self._headers, **XML_HEADERS}
        self._signed: dict[bool, dict[str, str]] = {}  # with a body or not -> POST headers with the crumb
        self._transport = Transport(
            self._url,
            label=self._label,
            timeout=self._retry.timeout,
            ca_bundle=ca_bundle,
            pool_size=pool_size,
        )
        self._crumb_lock = threading.Lock()
        self._crumb_headers: dict[str, str] | None = None

    @property
    def label(self) -> str:
        return self._label

    # -- low level -------------------------------------------------------------------------------
    def _crumb(self) -> dict[str, str]:
        """The crumb header (and the session cookie it is bound to), fetched once for all threads."""
        with self._crumb_lock:
            if self._crumb_headers is None:
                self._crumb_headers = self._fetch_crumb()
            return self._crumb_headers

    def _signed_headers(self, xml: bool) -> dict[str, str]:
        """The headers of a POST: the crumb's added (``xml``: and the body's Content-Type)."""
        headers = self._signed.get(xml)
        if headers is None:
            headers = {**(self._xml_headers if xml else self._headers), **self._crumb()}
            self._signed[xml] = headers  # the same dict whichever thread wins: the crumb is fetched once
        return headers

    def _fetch_crumb(self) -> dict[str, str]:
        what = "fetching the CSRF crumb"
        try:
            answer = self._call("GET", CRUMB_PATH, cap=MAX_CRUMB_BYTES, cookies=True)
        except NotFound:
            return {}  # CSRF protection is off
        except HttpStatusError as err:
            raise status_failure(what, self._label, err) from err
        headers = crumb_headers(answer.body, answer.set_cookies)
        if headers is None:
            kind = answer.headers.get("Content-Type") or "no Content-Type"
            raise JenkinsFailure(
                f"{what}: Jenkins at {self._label} answered {CRUMB_PATH} with something that is not the "
                f"crumb JSON ({kind[:60]}): is the URL a Jenkins, or a login page or proxy in front of it?"
            )
        return headers

    def _call(
        self,
        method: str,
        path: str,
        *,
        cap: int,
        body: bytes | None = None,
        crumb: bool = False,
        cookies: bool = False,
    ) -> Answer:
        """One request with retries; NotFound / HttpStatusError for 4xx, JenkinsFailure otherwise."""

        def call() -> Answer:
            if crumb:
                headers = self._signed_headers(body is not None)
            else:
                headers = self._headers if body is None else self._xml_headers
            answer = self._transport.request(
                method, path, cap=cap, body=body, headers=headers, cookies=cookies
            )
            if answer.status >= 400:
                detail = answer.headers.get("X-Error") or answer.reason
                raise status_error(answer.status, _decode_header(detail))
            return answer

        return with_retries(
            call, what=f"{method} {path}", label=self._label, policy=self._retry, sleep=self._sleep
        )

    def _send(self, method: str, path: str, *, body: bytes | None = None, post: bool = False) -> bytes:
        cap = MAX_CONFIG_BYTES if path.endswith("config.xml") else MAX_JSON_BYTES
        return self._call(method, path, cap=cap, body=body, crumb=post).body

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
        return response.decode("utf-8", "replace")

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
            try:
                self._create_item(path.folders, path.name, config_xml)
            except NotFound:
                # A missing folder: createItem under it is 404. Create the chain, then try once more.
                self.ensure_folders(path)
                self._create_item(path.folders, path.name, config_xml)
        except NotFound as exc:
            raise JenkinsFailure(f"{what}: its folder still does not exist (HTTP 404)") from exc
        except HttpStatusError as err:
            if _already_exists(err):
                raise JobAlreadyExists(f"{what}: someone else created it meanwhile ({err.detail})") from err
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
                if _already_exists(err):
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
            return json.loads(response)
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
