"""The console's pages: server-rendered (Jinja2, autoescaped, StrictUndefined), readable without JavaScript.

The registry page is a plain form that posts back to itself (with a CSRF token); the script only
adds the live preview (POST /api/v1/preview as the admin types) and disables Save while the values
are invalid. Everything the page shows is computed here; the templates only place it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote
from zoneinfo import ZoneInfo

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from provisioner.console.auth import Principal, csrf_ok, csrf_token
from provisioner.console.checks import FIELDS, check_settings, form_values
from provisioner.console.service import Console, Refused, loaded, registry_for, save_settings, signed_in
from provisioner.console.web import BodyTooLarge, cross_site_problem, read_body
from provisioner.status import format_when

if TYPE_CHECKING:
    import jinja2
    from fastapi import FastAPI

    from provisioner.console.state import RegistrySource

TEMPLATES = Path(__file__).resolve().parent / "templates"
_DAY_WORD = {True: "day", False: "days"}
_MAX_CACHED_PAGES = 512


@cache
def _environment() -> jinja2.Environment:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(
    name: str, status: int = 200, headers: Mapping[str, str] | None = None, **context: Any
) -> Response:
    html = _environment().get_template(name).render(**context)
    return HTMLResponse(html, status, headers=dict(headers or {}))


def error_page(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return render("error.html.j2", status, headers, code=status, message=message)


def _when(iso: object, zone: ZoneInfo) -> str:
    return format_when(datetime.fromisoformat(str(iso)), zone) if iso else "unknown"


def _backup_row(item: Mapping[str, Any], zone: ZoneInfo) -> dict[str, str]:
    days = item["daysUntilDeletion"]
    left = "unknown" if days is None else f"{days} {_DAY_WORD[days == 1]}"
    return {
        "id": str(item["id"]),
        "created": _when(item["createdAt"], zone),
        "deletes": _when(item["deletesAt"], zone),
        "left": left,
    }


def page_context(
    console: Console, who: Principal, view: Mapping[str, Any], form: Mapping[str, object] | None = None
) -> dict[str, Any]:
    """What the registry page shows: the committed settings, or the values the admin submitted."""
    settings = view["settings"]
    zone_name = settings["timeZone"] if settings else console.policy.default_time_zone
    zone = ZoneInfo(zone_name)
    if form is None and settings:
        form = {k: settings[k] for k in ("enabled", "schedule", "expiresInDays")}
    elif form is None:  # invalid in git: show what the file writes, with its errors
        written = view["written"]
        on = "true" if written.get("enabled", "").lower() == "true" else ""
        form = form_values({**written, "enabled": on})  # as if typed: "7" is the number 7
    checked = check_settings({**form, "timeZone": zone_name}, console.policy, console.clock())
    errors = dict.fromkeys(FIELDS, "")
    for error in checked.errors:
        errors[error.field] = error.message
    last = view["lastSuccessfulBackup"]
    backups = view["backups"]
    hours = checked.expires_in_hours
    return {
        "registry": view["registry"],
        "user": who.name,
        "csrf": csrf_token(console.secret, who),
        "base": view["commit"],
        "branch": view["branch"],
        "values": view["values"],
        "committed_enabled": bool(settings and settings["enabled"]),
        "committed_errors": [f"{e['field']}: {e['message']}" for e in view["errors"]],
        "enabled": form["enabled"] is True,
        "schedule": str(form["schedule"]),
        "expires": str(form["expiresInDays"]),
        "errors": errors,
        "valid": checked.settings is not None,
        "time_zone": zone_name,
        "min_days": console.policy.min_expires_in_days,
        "max_days": console.policy.max_expires_in_days,
        "kept_hours": f"kept {hours} hours" if hours is not None else "",
        "schedule_text": checked.schedule_text or "",
        "runs": checked.runs_text(),
        "warnings": list(checked.warnings),
        "notices": list(view["notices"]),
        "overdue": view["overdue"],
        "last": _backup_row(last, zone) if last else None,
        "backups": [_backup_row(b, zone) for b in backups] if backups is not None else None,
    }


def add_page_routes(app: FastAPI, console: Console) -> None:

    # The page of a registry per (registry, user, notice), while its document stays the same.
    pages: dict[tuple[str, Principal, str], tuple[object, bytes]] = {}

    @app.get("/")
    async def root() -> Response:
        return RedirectResponse("/registries", 303)

    @app.get("/registries")
    async def registries_page(request: Request) -> Response:
        who = signed_in(console, request)
        rows = []
        for name, source in sorted(console.registries.items()):
            if console.allows(who, name):
                settings = console.settings.committed(source).result.settings
                state = "invalid settings" if settings is None else ("on" if settings.enabled else "off")
                rows.append({"name": name, "href": f"/registries/{quote(name)}", "state": state})
        return render("registries.html.j2", user=who.name, rows=rows)

    @app.get("/registries/{name}")
    async def registry_page(name: str, request: Request) -> Response:
        who = signed_in(console, request)
        source = registry_for(console, who, name)
        await loaded(console, [source])
        saved = request.query_params.get("saved", "")
        flash = f"Saved as commit {saved[:12]}." if saved.isalnum() and len(saved) == 40 else ""
        view = console.view(source)
        key = (source.name, who, flash)
        hit = pages.get(key)
        if hit is None or hit[0] is not view:  # rendered again when the document is rebuilt
            context = page_context(console, who, view)
            html = (
                _environment()
                .get_template("registry.html.j2")
                .render(flash=flash, flash_kind="ok", **context)
            )
            if len(pages) >= _MAX_CACHED_PAGES:
                pages.clear()
            hit = pages[key] = (view, html.encode("utf-8"))
        return HTMLResponse(hit[1])

    @app.post("/registries/{name}")
    async def registry_form(name: str, request: Request) -> Response:
        who = signed_in(console, request)
        source = registry_for(console, who, name)
        form = await _form(request, console.forwarded_host(request))
        if not csrf_ok(console.secret, who, form.get("csrf")):
            raise Refused(403, "the form's security token is missing or stale: reload the page and try again")
        data = form_values(form)
        return await _save_from_form(console, who, source, data, form.get("baseCommit", ""))

    async def _save_from_form(
        console: Console, who: Principal, source: RegistrySource, data: dict[str, object], base: str
    ) -> Response:
        try:
            outcome = await run_in_threadpool(save_settings, console, source, data, base, who)
        except Refused as exc:
            if exc.status == 409:
                context = page_context(console, who, console.view(source))
                return render("registry.html.j2", 409, flash=exc.message, flash_kind="error", **context)
            if exc.status == 422:
                context = page_context(console, who, console.view(source), data)
                return render("registry.html.j2", 422, flash=exc.message, flash_kind="error", **context)
            raise
        return RedirectResponse(f"/registries/{quote(source.name)}?saved={outcome.commit}", 303)


async def _form(request: Request, forwarded_host: str | None) -> dict[str, str]:

    problem = cross_site_problem(request, forwarded_host)
    if problem is not None:
        raise Refused(403, problem)
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise Refused(415, "post the form as application/x-www-form-urlencoded")
    try:
        body = await read_body(request)
    except BodyTooLarge as exc:
        raise Refused(413, "form too large") from exc
    try:
        pairs = parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=10
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise Refused(400, "the form could not be read") from exc
    return dict(pairs)
