"""Jenkins-shaped HTTP responses (status, content type, headers, body) and URL constants."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from . import xmlconfig
from .model import Build

JSON_TYPE = "application/json;charset=utf-8"
HTML_TYPE = "text/html;charset=utf-8"
XML_TYPE = "application/xml"
PERMALINKS: dict[str, Callable[[Build], bool]] = {
    "lastBuild": lambda b: True,
    "lastCompletedBuild": lambda b: b.result is not None,
    "lastSuccessfulBuild": lambda b: b.result in ("SUCCESS", "UNSTABLE"),
    "lastStableBuild": lambda b: b.result == "SUCCESS",
    "lastFailedBuild": lambda b: b.result == "FAILURE",
    "lastUnstableBuild": lambda b: b.result == "UNSTABLE",
    "lastUnsuccessfulBuild": lambda b: b.result is not None and b.result != "SUCCESS",
}
REASONS = {
    200: "OK",
    201: "Created",
    302: "Found",
    303: "See Other",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    500: "Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


NEW_ITEM_XML = {
    xmlconfig.ROOT_CLASSES[xmlconfig.FOLDER]: xmlconfig.DEFAULT_FOLDER_XML,
    xmlconfig.ROOT_CLASSES[xmlconfig.WORKFLOW_JOB]: "<flow-definition><actions/><description></description>"
    "<keepDependencies>false</keepDependencies><properties/><triggers/><disabled>false</disabled>"
    "</flow-definition>",
    xmlconfig.ROOT_CLASSES[xmlconfig.FREESTYLE]: "<project><actions/><description></description>"
    '<keepDependencies>false</keepDependencies><properties/><scm class="hudson.scm.NullSCM"/>'
    "<canRoam>true</canRoam><disabled>false</disabled><triggers/><concurrentBuild>false</concurrentBuild>"
    "<builders/><publishers/><buildWrappers/></project>",
}


class Response:
    __slots__ = ("body", "content_type", "headers", "status")

    def __init__(
        self,
        status: int,
        body: bytes | str = b"",
        content_type: str | None = None,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        self.status = status
        self.body = body.encode("utf-8") if isinstance(body, str) else body
        self.content_type = content_type
        self.headers = headers or []


def html(status: int, title: str, message: str, headers: list[tuple[str, str]] | None = None) -> Response:
    esc = message.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    body = (
        f"<!DOCTYPE html><html><head><title>{title} [Jenkins]</title></head>"
        f"<body><h1>{title}</h1><p>{esc}</p></body></html>"
    )
    return Response(status, body, HTML_TYPE, headers)


def failure(message: str) -> Response:
    """hudson.model.Failure rendered by AbstractModelObject/error.jelly."""
    return html(400, "Error", message, [("X-Error", message)])


def not_found() -> Response:
    return html(404, "Not Found", "Not Found")


def oops(message: str) -> Response:
    return html(500, "Oops!", f"A problem occurred while processing the request: {message}")


def requires_post() -> Response:
    return html(405, "Method Not Allowed", "This URL requires POST")


def json_response(data: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(data, separators=(",", ":")), JSON_TYPE)
