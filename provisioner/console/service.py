"""The console's core, below its routes: the Console (its inputs and caches), sign-in and access
checks, reading JSON bodies, the preview and the save. ``app`` (the API) and ``page`` (the HTML) both
build on it.
"""

from __future__ import annotations

import functools
import json
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from provisioner.console.auth import AccessMap, Network, Principal, TokenBook, forwarded_host, from_proxy
from provisioner.console.checks import ApiError, check_settings
from provisioner.console.models import PreviewRequest, request_errors
from provisioner.console.save import Conflict, PushRejected, Saver
from provisioner.console.state import FactsSource, RegistrySource, Settings
from provisioner.console.views import registry_json
from provisioner.console.web import (
    BadJson,
    BodyTooLarge,
    cross_site_problem,
    is_json,
    parse_json_object,
    read_body,
)
from provisioner.errors import UsageError
from provisioner.settings.policy import Policy
from provisioner.upgrade.edit import EditError, NewSettings

PREVIEW_FIELDS = ("enabled", "schedule", "expiresInDays", "timeZone")
SAVE_FIELDS = ("enabled", "schedule", "expiresInDays", "baseCommit")


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Console:
    registries: dict[str, RegistrySource]
    policy: Policy
    facts: FactsSource
    networks: tuple[Network, ...] = ()
    tokens: TokenBook | None = None
    access: AccessMap | None = None
    audit_log: Path | None = None
    clock: Callable[[], datetime] = _now
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)  # CSRF HMAC key
    settings: Settings = field(init=False)
    saver: Saver = field(init=False)
    _views: dict[str, tuple[object, object, datetime, dict[str, object], bytes]] = field(
        init=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        self.settings = Settings(self.policy, self.clock)
        self.saver = Saver(self.settings, self.audit_log, self.clock)

    def principal(self, request: Request) -> Principal | None:
        if self.tokens is not None:
            found = self.tokens.lookup(request.headers.get("authorization"))
            if found is not None:
                return found
        client = request.client.host if request.client is not None else None
        return from_proxy(client, request.headers, self.networks)

    def forwarded_host(self, request: Request) -> str | None:
        """X-Forwarded-Host, believed only from the sign-in proxy's addresses."""
        client = request.client.host if request.client is not None else None
        return forwarded_host(client, request.headers, self.networks)

    def allows(self, who: Principal, registry: str) -> bool:
        return self.access is None or self.access.allows(who, registry)

    def view(self, source: RegistrySource) -> dict[str, object]:
        """The registry document; rebuilt when the commit, the backups or the minute change."""
        return self._cached_view(source)[0]

    def view_bytes(self, source: RegistrySource) -> bytes:
        """The registry document as JSON, encoded once per rebuild."""
        return self._cached_view(source)[1]

    def _cached_view(self, source: RegistrySource) -> tuple[dict[str, object], bytes]:
        committed, facts = self.settings.committed(source), self.facts.facts(source)
        minute = self.clock().replace(second=0, microsecond=0)
        hit = self._views.get(source.name)
        if hit is not None and hit[0] is committed and hit[1] is facts and hit[2] == minute:
            return hit[3], hit[4]
        view = registry_json(source, committed, facts, minute)
        data = encoded(view)
        self._views[source.name] = (committed, facts, minute, view, data)
        return view, data


async def loaded(console: Console, sources: Iterable[RegistrySource]) -> None:
    """Load stale backup facts in a worker thread; the handler's own reads then hit the cache."""
    for source in sources:
        if not console.facts.fresh(source):
            await run_in_threadpool(console.facts.facts, source)


class Refused(Exception):
    def __init__(self, status: int, message: str, extra: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra or {}


def signed_in(console: Console, request: Request) -> Principal:
    who = console.principal(request)
    if who is None:
        raise Refused(401, "sign in: this console needs the platform's sign-in proxy or a bearer token")
    return who


def registry_for(console: Console, who: Principal, name: str) -> RegistrySource:
    source = console.registries.get(name)
    if source is None:
        raise Refused(404, f"no registry {name!r} in this console")
    if not console.allows(who, name):
        raise Refused(403, f"{who.name} does not administer registry {name!r}")
    return source


def field_errors(errors: list[ApiError] | tuple[ApiError, ...]) -> Refused:
    return Refused(422, "invalid settings", {"errors": [e.to_json() for e in errors]})


async def json_bytes(console: Console, request: Request) -> bytes:
    """The body of a same-site JSON request, capped; Refused (403, 415, 413) otherwise."""
    problem = cross_site_problem(request, console.forwarded_host(request))
    if problem is not None:
        raise Refused(403, problem)
    if not is_json(request):
        raise Refused(415, "send the body as application/json")
    try:
        return await read_body(request)
    except BodyTooLarge as exc:
        raise Refused(413, "request body too large") from exc


async def json_body(console: Console, request: Request) -> dict[str, Any]:
    body = await json_bytes(console, request)
    try:
        return parse_json_object(body)
    except BadJson as exc:
        raise Refused(400, exc.message) from exc


def encoded(data: object) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@functools.lru_cache(maxsize=1024)  # bodies are capped at 16 KiB: at most 16 MiB held
def preview_answer(body: bytes, policy: Policy, minute: datetime) -> tuple[int, bytes]:
    """(status, JSON) of a preview: a pure function of the body and the minute, so cached whole."""
    try:
        data = parse_json_object(body)
    except BadJson as exc:
        return 400, encoded({"error": exc.message})
    try:
        PreviewRequest.model_validate(data)
    except ValidationError as exc:
        errors = request_errors(exc, PREVIEW_FIELDS)
        return 422, encoded({"error": "invalid settings", "errors": [e.to_json() for e in errors]})
    return 200, check_settings(data, policy, minute).json_bytes


def save_settings(
    console: Console, source: RegistrySource, data: dict[str, Any], base: str, who: Principal
) -> Any:
    """Validate like values.yaml, then commit; the outcome, or Refused (422, 409, 502)."""
    committed = console.settings.committed(source)
    zone = committed.result.time_zone or console.policy.default_time_zone
    checked = check_settings({**data, "timeZone": zone}, console.policy, console.clock())
    if checked.settings is None:
        raise field_errors(checked.errors)
    s = checked.settings
    try:
        return console.saver.save(source, base, NewSettings(s.enabled, s.schedule, s.expires_in_days), who)
    except Conflict as exc:
        raise Refused(
            409,
            "the settings were changed since you loaded them (the branch head moved on): "
            "nothing was saved; here are the current settings",
            {"current": console.view(source)},
        ) from exc
    except EditError as exc:
        errors = [{"field": e.field, "message": e.message, "line": e.line} for e in exc.errors]
        raise Refused(422, exc.message, {"errors": errors}) from exc
    except PushRejected as exc:
        raise Refused(502, exc.message) from exc
    except UsageError as exc:
        raise Refused(503, exc.message) from exc
