"""HTTP side of the emulator: one handler class, Jenkins's filters in Jenkins's order, then routing.

Order per request (as in Jenkins): fault injection (test hook) -> Basic auth (401) -> CrumbFilter on
POST (403) -> permission (403) -> routing (Stapler-like URL walk over ``/job/<name>/`` segments).
"""

from __future__ import annotations

import base64
import binascii
import json
import socket
import time
import traceback
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote

from . import export
from .model import Build, ConfigError, Failure, Item, NotFound, resolve_parameters
from .responses import (
    HTML_TYPE,
    NEW_ITEM_XML,
    PERMALINKS,
    REASONS,
    XML_TYPE,
    Response,
    failure,
    html,
    json_response,
    not_found,
    oops,
    requires_post,
)

if TYPE_CHECKING:
    from .server import JenkinsEmulator


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Jetty(12.0.16)"
    sys_version = ""
    timeout = 120  # idle keep-alive connections are closed after this
    disable_nagle_algorithm = True

    # -------------------------------------------------------------------------------------- plumbing
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self.emu.count_connection()

    @property
    def emu(self) -> JenkinsEmulator:
        return self.server.emulator  # type: ignore[attr-defined, no-any-return]

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_HEAD(self) -> None:
        self._handle("HEAD")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_OPTIONS(self) -> None:
        self._handle("OPTIONS")

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, resp: Response, head_only: bool = False) -> None:
        emu = self.emu
        parts = [f"HTTP/1.1 {resp.status} {REASONS.get(resp.status, 'Status')}\r\n", emu.common_headers]
        if resp.content_type:
            parts.append(f"Content-Type: {resp.content_type}\r\n")
        for name, value in resp.headers:
            parts.append(f"{name}: {value}\r\n")
        parts.append(f"Content-Length: {len(resp.body)}\r\n")
        if self.close_connection:
            parts.append("Connection: close\r\n")
        parts.append("\r\n")
        data = "".join(parts).encode("utf-8")
        if not head_only:
            data += resp.body
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        raw_path, _, query = self.path.partition("?")
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return
        emu = self.emu
        if raw_path.startswith("/_emulator/"):
            self._send(emu.control(method, raw_path, query))
            return
        if emu.latency:
            time.sleep(emu.latency)
        # Requests are recorded *before* the response is written, so a client that has its answer
        # always sees it counted.
        injected = emu.take_injection(raw_path) if emu.has_injections else None
        resp: Response | None = None
        if injected is not None:
            delay, inj_status = injected
            if delay:
                time.sleep(delay)
            if inj_status == 0:
                emu.record(method, raw_path, query, 0)
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if inj_status is not None:
                resp = html(inj_status, REASONS.get(inj_status, "Error"), "Injected failure")
        if resp is None:
            try:
                resp = self._dispatch(method, raw_path, query, body)
            except Exception as exc:  # an emulator bug: answer 500 and keep it in emu.internal_errors
                emu.internal_errors.append(traceback.format_exc())
                resp = oops(f"{type(exc).__name__}: {exc}")
        emu.record(method, raw_path, query, resp.status)
        self._send(resp, head_only=method == "HEAD")

    # ----------------------------------------------------------------------------------- security
    def _authenticate(self) -> tuple[str | None, bool, Response | None]:
        """(user, via_api_token, error response)."""
        header = self.headers.get("Authorization")
        if not header or header[:6].lower() != "basic ":
            return None, False, None
        emu = self.emu
        try:
            user, _, secret = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            user, secret = "", ""
        if user and emu.users.get(user) == secret:
            return user, False, None
        if user and emu.api_tokens.get(user) == secret:
            return user, True, None
        return (
            None,
            False,
            html(
                401,
                "Unauthorized",
                f"Invalid password/token for user: {user}",
                [("WWW-Authenticate", 'Basic realm="Jenkins"')],
            ),
        )

    def _session(self) -> str | None:
        cookies = self.headers.get("Cookie")
        if not cookies:
            return None
        name = self.emu.cookie_name
        for part in cookies.split(";"):
            key, _, value = part.strip().partition("=")
            if key == name and self.emu.session_known(value):
                return value
        return None

    def _forbidden_anonymous(self, path: str) -> Response:
        target = path.replace("/", "%2F")
        body = (
            f"<html><head><meta http-equiv='refresh' content='1;url=/login?from={target}'/>"
            f"<script>window.location.replace('/login?from={target}');</script></head>"
            "<body style='background-color:white; color:white;'>\n\nAuthentication required\n"
            "<!--\n-->\n\n</body></html>"
        )
        return Response(
            403,
            body,
            HTML_TYPE,
            [
                ("X-You-Are-Authenticated-As", "anonymous"),
                ("X-Required-Permission", "hudson.model.Hudson.Read"),
            ],
        )

    # ------------------------------------------------------------------------------------- routing
    def _dispatch(self, method: str, raw_path: str, query: str, body: bytes) -> Response:
        emu = self.emu
        user, via_token, error = self._authenticate()
        if error is not None:
            return error
        session = self._session()
        segments = [unquote(s) for s in raw_path.split("/") if s]
        if method == "POST" and emu.csrf and not (via_token and emu.token_crumb_exempt):
            params = parse_qs(query)
            if body and (self.headers.get("Content-Type") or "").startswith(
                "application/x-www-form-urlencoded"
            ):
                params.update(parse_qs(body.decode("utf-8", "replace")))
            crumb = self.headers.get("Jenkins-Crumb") or next(iter(params.get("Jenkins-Crumb", [])), None)
            if crumb is None or session is None or crumb != emu.crumb_for(user, session):
                return html(403, "Error", "No valid crumb was included in the request")
        if emu.security and user is None and not emu.anonymous_read:
            return self._forbidden_anonymous(raw_path)
        if method == "POST" and emu.security and (user is None or user in emu.read_only_users):
            who = user or "anonymous"
            return html(
                403,
                "Access Denied",
                f"{who} is missing the Job/Configure permission",
                [("X-You-Are-Authenticated-As", who)],
            )
        get = method in ("GET", "HEAD")
        names: list[str] = []
        while len(segments) >= 2 and segments[0] == "job":
            names.append(segments[1])
            segments = segments[2:]
        if not names:
            root = self._root_routes(method, segments, query, body, user, session)
            if root is not None:
                return root
        with emu.tree.lock:
            try:
                item = emu.tree.resolve(names)
            except NotFound:
                return not_found()
            return self._item_routes(method, get, item, segments, query, body)

    def _root_routes(
        self, method: str, segments: list[str], query: str, body: bytes, user: str | None, session: str | None
    ) -> Response | None:
        emu = self.emu
        get = method in ("GET", "HEAD")
        if not segments:
            if get:
                return html(200, "Dashboard", "Welcome to Jenkins!")
            return None
        if segments == ["crumbIssuer", "api", "json"]:
            if not emu.csrf:
                return not_found()
            if not get:
                return requires_post() if method == "POST" else html(405, "Error", "GET only")
            headers: list[tuple[str, str]] = []
            if session is None:
                session = emu.new_session()
                headers.append(("Set-Cookie", f"{emu.cookie_name}={session}; Path=/; HttpOnly"))
            resp = json_response(
                {
                    "_class": "hudson.security.csrf.DefaultCrumbIssuer",
                    "crumb": emu.crumb_for(user, session),
                    "crumbRequestField": "Jenkins-Crumb",
                }
            )
            resp.headers = headers
            return resp
        if segments == ["pluginManager", "api", "json"] and get:
            return json_response(export.plugins_json())
        if segments == ["whoAmI", "api", "json"] and get:
            return json_response(
                {
                    "_class": "hudson.security.WhoAmI",
                    "anonymous": user is None,
                    "authenticated": user is not None,
                    "authorities": [] if user is None else ["authenticated"],
                    "name": user or "anonymous",
                    "toString": user or "anonymous",
                }
            )
        if segments == ["me", "api", "json"] and get:
            if user is None:
                return self._forbidden_anonymous("/me/api/json")
            return json_response(
                {
                    "_class": "hudson.model.User",
                    "absoluteUrl": f"{emu.url}user/{user}",
                    "description": None,
                    "fullName": user,
                    "id": user,
                    "property": [],
                }
            )
        if len(segments) >= 3 and segments[:2] == ["queue", "item"] and segments[3:] == ["api", "json"]:
            try:
                q = emu.tree.queue_item(int(segments[2]))
            except ValueError:
                q = None
            if q is None:
                return not_found()
            with emu.tree.lock:
                return json_response(export.queue_item_json(q, emu.url))
        return None

    def _item_routes(
        self, method: str, get: bool, item: Item, rest: list[str], query: str, body: bytes
    ) -> Response:
        emu = self.emu
        tree = emu.tree
        if method not in ("GET", "HEAD", "POST"):
            if rest == ["config.xml"]:
                return html(400, "Error", f"Unexpected method {method}")
            return html(405, "Method Not Allowed", f"Method {method} not allowed")
        is_root = item is tree.root
        if not rest:
            if get:
                title = "Dashboard" if is_root else item.full_name
                return html(200, title, f"{title} [Jenkins]")
            return not_found()
        if rest == ["configure"] and get and not is_root:
            return html(200, "Configure", f"{item.full_name} Config [Jenkins]")
        if rest == ["api", "json"]:
            if not get:
                return html(405, "Method Not Allowed", "This URL requires GET")
            return self._api_json(item, query)
        if rest == ["createItem"]:
            if not get and (is_root or item.is_folder):
                return self._create_item(item, query, body)
            return requires_post() if (is_root or item.is_folder) else not_found()
        if is_root:
            return not_found()
        if rest == ["config.xml"]:
            if get:
                return Response(200, item.config_text, XML_TYPE)
            try:
                tree.update(item, body)
            except ConfigError as exc:
                return oops(f"java.io.IOException: {exc}")
            return Response(200)
        if rest == ["doDelete"]:
            if get:
                return requires_post()
            parent = item.parent
            tree.delete(item)
            assert parent is not None
            return Response(302, headers=[("Location", emu.url + parent.url_path)])
        if item.is_folder:
            return not_found()
        if rest in (["disable"], ["enable"]):
            if get:
                return requires_post()
            tree.set_disabled(item, rest[0] == "disable")
            return Response(302, headers=[("Location", emu.url + item.url_path)])
        if rest in (["build"], ["buildWithParameters"]):
            if get:
                return requires_post()
            return self._build(item, rest[0], query, body)
        return self._build_routes(get, item, rest, query)

    def _api_json(self, item: Item, query: str) -> Response:
        emu = self.emu
        params = parse_qs(query)
        spec = None
        if "tree" in params:
            try:
                spec = export.parse_tree(params["tree"][0])
            except export.TreeError as exc:
                return html(400, "Error", str(exc))
        if item is emu.tree.root:
            data = export.root_json(item, emu.url, spec, use_security=emu.security, use_crumbs=emu.csrf)
        else:
            data = export.item_json(item, emu.url, spec)
        if spec is not None:
            data = export.apply_tree(data, spec)
        return json_response(data)

    def _create_item(self, parent: Item, query: str, body: bytes) -> Response:
        emu = self.emu
        params = parse_qs(query, keep_blank_values=True)
        content_type = self.headers.get("Content-Type")
        if body and (content_type or "").startswith("application/x-www-form-urlencoded"):
            for key, values in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items():
                params.setdefault(key, []).extend(values)
        mode = next(iter(params.get("mode", [])), None)
        if content_type is None and mode != "copy":
            return failure("No Content-Type header set")
        is_xml = content_type is not None and content_type.startswith(("application/xml", "text/xml"))
        names = params.get("name")
        if not names:
            return failure("Query parameter 'name' is required")
        if mode == "copy":
            source = (params.get("from") or [""])[0]
            try:
                src = emu.tree.resolve_full_name(source)
            except NotFound:
                return failure(f"No such job: {source}")
            data: bytes | str = src.config_text
        elif is_xml:
            data = body
        else:
            if mode is None:
                return failure("No mode given")
            if mode not in NEW_ITEM_XML:
                return failure(f"No item type \u2018{mode}\u2019 is known")
            data = NEW_ITEM_XML[mode]
        try:
            item = emu.tree.create(parent, names[0], data)
        except Failure as exc:
            return failure(str(exc))
        except ConfigError as exc:
            return oops(f"java.io.IOException: Failed to persist config.xml: {exc}")
        if mode is not None and mode != "copy" and not is_xml:
            return Response(302, headers=[("Location", f"{emu.url}{item.url_path}configure")])
        return Response(200)

    def _build(self, item: Item, action: str, query: str, body: bytes) -> Response:
        emu = self.emu
        facts = item.facts
        if facts.disabled:
            return html(409, "Error", f"{item.full_name} is not buildable")
        form = parse_qs(query, keep_blank_values=True)
        if body and (self.headers.get("Content-Type") or "").startswith("application/x-www-form-urlencoded"):
            for key, values in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items():
                form.setdefault(key, []).extend(values)
        given: dict[str, str] = {}
        if action == "buildWithParameters":
            if not facts.params:
                return html(400, "Error", f"{item.full_name} is not parameterized")
            given = {k: v[0] for k, v in form.items()}
        elif facts.params:
            if "json" not in form:
                return html(400, "Error", "Nothing is submitted")
            try:
                submitted = json.loads(form["json"][0]).get("parameter", [])
            except (ValueError, AttributeError):
                return html(400, "Error", "This page expects a form submission")
            if isinstance(submitted, dict):
                submitted = [submitted]
            given = {str(p.get("name")): str(p.get("value")) for p in submitted if isinstance(p, dict)}
        try:
            resolved = resolve_parameters(facts.params, given)
        except ValueError as exc:
            return oops(f"java.lang.IllegalArgumentException: {exc}")
        queued = emu.tree.enqueue(item, resolved)
        return Response(201, headers=[("Location", f"{emu.url}queue/item/{queued.id}/")])

    def _build_routes(self, get: bool, item: Item, rest: list[str], query: str) -> Response:
        emu = self.emu
        if not get or not rest or rest[1:] not in ([], ["api", "json"]):
            return not_found()
        key = rest[0]
        build: Build | None = None
        if key.isdigit():
            build = next((b for b in item.builds if b.number == int(key)), None)
        elif key == "firstBuild":
            build = item.builds[0] if item.builds else None
        elif key in PERMALINKS:
            pred = PERMALINKS[key]
            build = next((b for b in reversed(item.builds) if pred(b)), None)
        if build is None:
            return not_found()
        if rest[1:] == []:
            return html(200, f"#{build.number}", f"{item.full_name} #{build.number}")
        data = export.build_json(item, build, emu.url)
        params = parse_qs(query)
        if "tree" in params:
            try:
                data = export.apply_tree(data, export.parse_tree(params["tree"][0]))
            except export.TreeError as exc:
                return html(400, "Error", str(exc))
        return json_response(data)
