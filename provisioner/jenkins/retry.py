"""Bounded retries with exponential backoff for transient Jenkins failures.

Transient: connection errors, timeouts (also a request's passed deadline), HTTP 5xx. Everything else
(4xx, TLS verification, an answer too large, a redirect off the Jenkins) fails at once. urllib3's
errors are translated here into :class:`JenkinsFailure` with messages that never carry credentials.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from provisioner.errors import JenkinsFailure

LOG = logging.getLogger("provisioner")
T = TypeVar("T")
_MAX_DETAIL = 200


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4  # total tries per call
    base_delay: float = 0.5  # seconds before the 2nd try; doubles each time
    max_delay: float = 8.0
    timeout: float = 30.0  # per request: its whole time (connect, headers, body), not only each read

    def delay(self, attempt: int) -> float:
        return float(min(self.max_delay, self.base_delay * (2 ** (attempt - 1))))


class NotFound(Exception):
    """HTTP 404 (the caller decides what a missing item means)."""


class HttpStatusError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status
        self.detail = detail


class Transient(Exception):
    """A failure worth another try: connection errors, timeouts, a passed deadline, HTTP 5xx."""


def _short(text: str) -> str:
    first = " ".join(text.split())
    return first[:_MAX_DETAIL] + ("..." if len(first) > _MAX_DETAIL else "")


def status_error(status: int, detail: str) -> Exception:
    """The exception for an HTTP error status: NotFound (404), transient (5xx), HttpStatusError."""
    if status >= 500:
        return Transient(f"HTTP {status} {_short(detail)}")
    if status == 404:
        return NotFound(detail)
    return HttpStatusError(status, _short(detail))


def classify(exc: BaseException) -> BaseException:
    """Map a urllib3 exception to Transient or JenkinsFailure; anything else is returned unchanged."""
    if isinstance(exc, HttpStatusError | NotFound | Transient | JenkinsFailure):
        return exc  # ours already (status_error, the transport): no need to import urllib3 to say so
    import urllib3

    if isinstance(exc, urllib3.exceptions.SSLError):
        return JenkinsFailure(
            f"TLS verification failed ({_short(str(exc))}); give the CA with --ca-bundle FILE"
        )
    if isinstance(exc, urllib3.exceptions.NewConnectionError):  # a subclass of the timeout errors
        return Transient(f"connection failed: {_short(str(exc))}")
    if isinstance(exc, urllib3.exceptions.TimeoutError):
        return Transient(f"timed out: {_short(str(exc))}")
    if isinstance(exc, urllib3.exceptions.HTTPError):
        return Transient(f"connection failed: {_short(str(exc))}")
    return exc


def status_failure(what: str, label: str, err: HttpStatusError) -> JenkinsFailure:
    if err.status == 401:
        return JenkinsFailure(
            f"{what}: authentication failed at {label} (HTTP 401): check JENKINS_USER and JENKINS_TOKEN "
            "(or --user/--token-file)"
        )
    if err.status == 403:
        return JenkinsFailure(
            f"{what}: permission denied at {label} (HTTP 403): the user needs Job/Read, Job/Configure "
            "and Job/Create (and a crumb for password logins)"
        )
    return JenkinsFailure(f"{what}: Jenkins at {label} answered HTTP {err.status}: {err.detail}")


def with_retries(
    call: Callable[[], T],
    *,
    what: str,
    label: str,
    policy: RetryPolicy,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``call``, retrying transient failures with backoff.

    Raises NotFound, HttpStatusError or JenkinsFailure.
    """
    last = ""
    for attempt in range(1, policy.attempts + 1):
        try:
            return call()
        except Exception as exc:  # translated below; anything unknown is re-raised
            mapped = classify(exc)
            if not isinstance(mapped, Transient):
                if mapped is exc:
                    raise
                raise mapped from exc
            last = str(mapped)
        if attempt < policy.attempts:
            delay = policy.delay(attempt)
            LOG.warning(
                "%s: %s; retrying in %.1fs (attempt %d of %d)",
                what,
                last,
                delay,
                attempt + 1,
                policy.attempts,
            )
            sleep(delay)
    raise JenkinsFailure(f"{what}: Jenkins at {label} failed after {policy.attempts} attempts: {last}")
