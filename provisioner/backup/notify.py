"""Tell someone: a JSON webhook post ($BACKUP_NOTIFY_URL) and dead man's switch pings ($BACKUP_PING_URL).

Both URLs are secrets (a token lives in the path or the query), so they come only from the environment
(Jenkins binds them with ``withCredentials``) and are never logged, printed or put in an error message:
what is logged is the HTTP status or the exception's class name.

Delivery is bounded and can never fail the backup: attempts are retried with backoff on a connection
error, a timeout, HTTP 429 or 5xx, all within ``deadline`` seconds measured from the first attempt;
the attempts run in a daemon thread that the caller stops waiting for when the deadline passes, so a
server that accepts the connection and then trickles bytes cannot hold the run either. Redirects are
not followed (a webhook has no reason to move; following one could send the payload elsewhere), and
at most 64 KiB of an answer is read.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from provisioner.backup.logs import LOG

__all__ = [
    "DEFAULT_DEADLINE",
    "NOTIFY_ENV",
    "PING_ENV",
    "Delivery",
    "deliver",
    "failure_payload",
    "notify_from_env",
    "ping_from_env",
    "ping_url",
]

NOTIFY_ENV = "BACKUP_NOTIFY_URL"
PING_ENV = "BACKUP_PING_URL"
DEFAULT_DEADLINE = 30.0
MAX_ATTEMPTS = 4
ATTEMPT_TIMEOUT = 10.0
BACKOFF = (1.0, 2.0, 4.0)
MAX_ANSWER = 64 * 1024
MAX_URL = 2048
PING_EVENTS = {"start": "/start", "success": "", "failure": "/fail"}  # healthchecks.io-style endpoints


@dataclass(frozen=True)
class Delivery:
    """How a delivery went: ``ok``, the attempts made and the last problem (never the URL)."""

    ok: bool
    attempts: int
    problem: str | None = None


class _Unsendable(Exception):
    """The URL cannot be used at all (no retry)."""


def _split(url: str) -> tuple[str, str, int | None, str]:
    if len(url) > MAX_URL or any(c.isspace() or ord(c) < 0x20 for c in url):
        raise _Unsendable("the URL is too long or has blanks or control characters")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise _Unsendable("the URL does not parse") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _Unsendable("the URL is not http(s)://host/...")
    try:
        port = parts.port
    except ValueError:
        raise _Unsendable("the URL has an invalid port") from None
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port, target


def _attempt(url: str, body: bytes, timeout: float, content_type: str) -> int:
    """One POST; returns the HTTP status. Raises OSError/HTTPException on transport problems."""
    scheme, host, port, target = _split(url)
    conn: http.client.HTTPConnection
    if scheme == "https":
        conn = http.client.HTTPSConnection(host, port, timeout=timeout)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        headers = {"Content-Type": content_type, "User-Agent": "backup-registry"}
        conn.request("POST", target, body=body, headers=headers)
        response = conn.getresponse()
        response.read(MAX_ANSWER)
        return response.status
    finally:
        conn.close()


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


def _send(
    url: str,
    body: bytes,
    content_type: str,
    deadline: float,
    clock: Callable[[], float],
    result: list[Delivery],
) -> None:
    start = clock()
    problem: str | None = None
    for attempt in range(1, MAX_ATTEMPTS + 1):
        remaining = deadline - (clock() - start)
        if remaining <= 0:
            break
        try:
            status = _attempt(url, body, min(ATTEMPT_TIMEOUT, remaining), content_type)
        except _Unsendable as exc:
            result.append(Delivery(False, attempt, str(exc)))
            return
        except (OSError, http.client.HTTPException) as exc:
            problem = type(exc).__name__  # never str(exc): it may carry the host or the URL
        else:
            if 200 <= status < 300:
                result.append(Delivery(True, attempt))
                return
            problem = f"HTTP {status}"
            if not _retryable(status):
                result.append(Delivery(False, attempt, problem + " (not retried)"))
                return
        if attempt < MAX_ATTEMPTS:
            pause = BACKOFF[min(attempt - 1, len(BACKOFF) - 1)]
            if clock() - start + pause >= deadline:
                result.append(Delivery(False, attempt, problem))
                return
            time.sleep(pause)
    result.append(Delivery(False, MAX_ATTEMPTS, problem))


def deliver(
    url: str,
    body: bytes,
    *,
    what: str,
    deadline: float | None = None,
    content_type: str = "application/json",
    clock: Callable[[], float] = time.monotonic,
) -> Delivery:
    """POST ``body`` to ``url`` within ``deadline`` seconds in all; never raises, never logs the URL."""
    if deadline is None:
        deadline = DEFAULT_DEADLINE
    result: list[Delivery] = []
    worker = threading.Thread(
        target=_send, args=(url, body, content_type, deadline, clock, result), daemon=True
    )
    worker.start()
    worker.join(deadline + 0.5)
    delivery = result[0] if result else Delivery(False, 0, f"no answer within {deadline:g} s")
    if delivery.ok:
        LOG.info(f"{what} sent", extra={"attempts": delivery.attempts})
    else:
        LOG.warning(f"{what} not sent", extra={"attempts": delivery.attempts, "problem": delivery.problem})
    return delivery


def failure_payload(
    registry: str, result: str, *, backup_id: str | None = None, error_class: str | None = None
) -> bytes:
    """The webhook's JSON: what happened to which registry, without secrets or free-text errors."""
    data = {
        "source": "backup-registry",
        "registry": registry,
        "result": result,
        "backupId": backup_id,
        "errorClass": error_class,
    }
    return json.dumps(data, sort_keys=True, ensure_ascii=True).encode()


def ping_url(base: str, event: str) -> str:
    """healthchecks-style: ``<url>/start``, ``<url>`` (success), ``<url>/fail``; the query is kept last."""
    try:
        parts = urlsplit(base)
    except ValueError:
        return base  # deliver() refuses it without saying what it was
    path = parts.path.rstrip("/") + PING_EVENTS[event]
    return parts._replace(path=path or "/").geturl()


def notify_from_env(
    environ: Mapping[str, str],
    registry: str,
    result: str,
    *,
    backup_id: str | None = None,
    error_class: str | None = None,
    deadline: float | None = None,
) -> Delivery | None:
    """Post the payload when $BACKUP_NOTIFY_URL is set (None when it is not)."""
    url = environ.get(NOTIFY_ENV)
    if not url:
        return None
    body = failure_payload(registry, result, backup_id=backup_id, error_class=error_class)
    return deliver(url, body, what="notification", deadline=deadline)


def ping_from_env(
    environ: Mapping[str, str], event: str, *, deadline: float | None = None
) -> Delivery | None:
    """Ping the dead man's switch when $BACKUP_PING_URL is set (None when it is not)."""
    url = environ.get(PING_ENV)
    if not url:
        return None
    return deliver(ping_url(url, event), b"", what=f"ping {event}", deadline=deadline)
