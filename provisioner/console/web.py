"""HTTP plumbing for the console: security headers, capped bodies, strict JSON, cross-site checks.

A plain ASGI middleware (not Starlette's BaseHTTPMiddleware, which costs a task per request) adds
the headers to every response and refuses a declared body above the cap before it is read;
:func:`read_body` enforces the cap on the bytes that actually arrive.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 16 * 1024
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        b"form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),  # no-referrer would make form posts send "Origin: null"
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
)
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class BodyTooLarge(Exception):
    pass


class BadJson(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SecurityHeaders:
    """Adds the security headers; answers 413 to a declared Content-Length above the cap."""

    def __init__(self, app: ASGIApp, max_body: int = MAX_BODY_BYTES) -> None:
        self.app, self.max_body = app, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and (not value.isdigit() or int(value) > self.max_body):
                await _too_large(self.max_body)(scope, receive, self._send_with_headers(send))
                return

        await self.app(scope, receive, self._send_with_headers(send))

    def _send_with_headers(self, send: Send) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in SECURITY_HEADERS if n not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        return wrapped


def _too_large(limit: int) -> Response:
    return json_response({"error": f"request body larger than {limit} bytes"}, 413)


def json_response(data: object, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(body, status, headers=dict(headers or {}), media_type="application/json")


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json_object(body: bytes) -> dict[str, Any]:
    """Strict JSON (no NaN/Infinity, no duplicate keys) whose top level is an object."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out:
                raise ValueError(f"duplicate key {key!r}")
            out[key] = value
        return out

    try:
        data = json.loads(body.decode("utf-8"), parse_constant=_no_constants, object_pairs_hook=pairs)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BadJson(f"the request body is not valid JSON: {str(exc)[:200]}") from exc
    if not isinstance(data, dict):
        raise BadJson("the request body must be a JSON object")
    return data


def cross_site_problem(request: Request, forwarded_host: str | None = None) -> str | None:
    """Why an unsafe request looks cross-site (Origin or Sec-Fetch-Site), or None.

    ``forwarded_host``: the X-Forwarded-Host of a trusted proxy, which may rewrite Host.
    """
    if request.method not in UNSAFE_METHODS:
        return None
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return f"cross-site request refused (Sec-Fetch-Site: {site})"
    origin = request.headers.get("origin")
    if origin is not None:
        hosts = {request.headers.get("host", "").lower()}
        if forwarded_host:
            hosts.add(forwarded_host.lower())
        if origin == "null" or urlsplit(origin).netloc.lower() not in hosts:
            return "cross-origin request refused (Origin does not match this console)"
    return None


def is_json(request: Request) -> bool:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return kind == "application/json"
