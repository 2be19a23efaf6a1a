"""The admin console's application: the JSON API under /api/v1, health and metrics, and the page.

``create_app(Console(...))`` builds a FastAPI app; ``provisioner console`` serves it with uvicorn.
Every route but /healthz, /metrics and /static needs a signed-in user (401), and the registry routes
need one who administers that registry (403). Handlers are ``async`` and do their small CPU work
inline (a thread hop costs more than a cached read); saving runs in a worker thread.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.staticfiles import StaticFiles

from provisioner.console import health
from provisioner.console.models import PreviewRequest, SaveRequest, request_errors
from provisioner.console.page import add_page_routes, error_page
from provisioner.console.service import (
    SAVE_FIELDS,
    Console,
    Refused,
    field_errors,
    json_body,
    json_bytes,
    loaded,
    preview_answer,
    registry_for,
    save_settings,
    signed_in,
)
from provisioner.console.views import summary_json
from provisioner.console.web import (
    SecurityHeaders,
    json_response,
)
from provisioner.errors import ProvisionerError

STATIC = Path(__file__).resolve().parent / "static"


def _body_schema(model: type[PreviewRequest] | type[SaveRequest]) -> dict[str, Any]:
    """The request body in the OpenAPI document (the handlers read and check bodies themselves)."""
    schema = {"application/json": {"schema": model.model_json_schema()}}
    return {"requestBody": {"required": True, "content": schema}}


def create_app(console: Console) -> SecurityHeaders:
    app = FastAPI(
        title="Registry backup console", docs_url=None, redoc_url=None, openapi_url="/api/v1/openapi.json"
    )

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> Response:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 and console.tokens is not None else {}
        if request.url.path.startswith("/api/"):
            return json_response({"error": exc.message, **exc.extra}, exc.status, headers)
        return error_page(exc.status, exc.message, headers)

    @app.exception_handler(ProvisionerError)
    async def unavailable(request: Request, exc: ProvisionerError) -> Response:
        # a repository or store that cannot be read (moved, branch switched, permissions)
        return await refused(request, Refused(503, exc.message))

    @app.get("/api/v1/registries")
    async def list_registries(request: Request) -> Response:
        who = signed_in(console, request)
        await loaded(console, console.registries.values())
        now = console.clock()
        items = [
            summary_json(source, console.settings.committed(source), console.facts.facts(source), now)
            for name, source in sorted(console.registries.items())
            if console.allows(who, name)
        ]
        return json_response({"registries": items, "user": who.to_json()})

    @app.get("/api/v1/registries/{name}")
    async def get_registry(name: str, request: Request) -> Response:
        who = signed_in(console, request)
        source = registry_for(console, who, name)
        await loaded(console, [source])
        encoded = console.view_bytes(source)
        return Response(encoded, media_type="application/json")

    @app.post("/api/v1/preview", openapi_extra=_body_schema(PreviewRequest))
    async def preview(request: Request) -> Response:
        signed_in(console, request)
        body = await json_bytes(console, request)
        minute = console.clock().replace(second=0, microsecond=0)
        status, answer = preview_answer(body, console.policy, minute)
        return Response(answer, status, media_type="application/json")

    @app.put("/api/v1/registries/{name}/backup-settings", openapi_extra=_body_schema(SaveRequest))
    async def put_settings(name: str, request: Request) -> Response:
        who = signed_in(console, request)
        source = registry_for(console, who, name)
        data = await json_body(console, request)
        try:
            body = SaveRequest.model_validate(data)
        except ValidationError as exc:
            raise field_errors(request_errors(exc, SAVE_FIELDS)) from exc
        settings = {k: v for k, v in data.items() if k != "baseCommit"}
        outcome = await run_in_threadpool(save_settings, console, source, settings, body.baseCommit, who)
        return json_response(outcome.to_json())

    @app.get("/healthz")
    async def healthz() -> Response:
        await loaded(console, console.registries.values())
        now = console.clock()
        report = health.report(
            health.health_rows(console.registries.values(), console.settings, console.facts, now)
        )
        return json_response(report, 503 if report["status"] == "fail" else 200)

    @app.get("/metrics")
    async def metrics() -> Response:
        await loaded(console, console.registries.values())
        now = console.clock()
        rows = health.health_rows(console.registries.values(), console.settings, console.facts, now)
        text = health.metrics_text(rows, now)
        return Response(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    add_page_routes(app, console)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return SecurityHeaders(app)
