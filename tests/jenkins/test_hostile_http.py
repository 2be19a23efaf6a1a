"""HttpTarget against hostile servers: what Jenkins (or whatever answers in its place) returns is
untrusted. Every answer is bounded in size (also after decompression) and in time (an overall
deadline, not only a per-read timeout); redirects never leave the configured Jenkins; a crumb that is
not the crumb JSON is a Jenkins failure with a clear message."""

from __future__ import annotations

import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from provisioner.errors import JenkinsFailure
from provisioner.jenkins import RetryPolicy, job_path
from provisioner.jenkins.http import HttpTarget
from provisioner.jobs.render import render_folder_config
from tests.helpers.cli import TOKEN, USER, CliRun
from tests.helpers.hostile import (
    MiB,
    answer,
    chunked_body,
    deflate_bomb,
    drip,
    endless_body,
    gzip_bomb,
    hostile_server,
    html_page,
    redirect,
)

NO_WAIT = RetryPolicy(attempts=2, base_delay=0.0, timeout=5)
JOB = job_path("j", None)
CONFIG = "/job/j/config.xml"
CRUMB = "/crumbIssuer/api/json"
MEMORY_BOUND = 64 * MiB  # well above the 16 MiB body cap, far below what the hostile bodies hold


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's Jenkins credentials, from the environment (as in a Jenkins job)."""
    monkeypatch.setenv("JENKINS_USER", USER)
    monkeypatch.setenv("JENKINS_TOKEN", TOKEN)


def target(url: str, retry: RetryPolicy = NO_WAIT) -> HttpTarget:
    return HttpTarget(url, folder_config=render_folder_config, username=USER, token=TOKEN, retry=retry)


def peak_memory(call: Callable[[], object]) -> tuple[int, BaseException | None]:
    """Peak of Python allocations (bytes) while ``call`` runs, and what it raised."""
    tracemalloc.start()
    try:
        call()
        error = None
    except BaseException as exc:
        error = exc
    finally:
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak, error


# -- crumb ---------------------------------------------------------------------------------------
def test_crumb_that_is_html_is_a_jenkins_failure() -> None:
    with hostile_server({CRUMB: html_page()}) as server:
        with pytest.raises(JenkinsFailure, match=r"crumb.*not.*JSON"):
            target(server.url).update_job(JOB, "<project/>")
        assert server.paths("POST") == []  # nothing sent without a crumb


def test_crumb_that_is_html_exits_3_with_a_clear_message(
    run_cli: Callable[..., CliRun], repo: Path, credentials: None
) -> None:
    with hostile_server({CRUMB: html_page()}) as server:
        result = run_cli("reconcile", "--repo", str(repo), "--registry", "reg-a", "--jenkins-url", server.url)
    assert result.code == 3, result.err
    assert "crumb" in result.err and "Traceback" not in result.err and TOKEN not in result.err


WRONG_CRUMBS = [
    b'{"crumb": 7, "crumbRequestField": "Jenkins-Crumb"}',
    b'{"crumb": "c", "crumbRequestField": "a\\nb"}',
    b"[]",
]


@pytest.mark.parametrize("body", WRONG_CRUMBS)
def test_crumb_json_of_the_wrong_shape_is_refused(body: bytes) -> None:
    json_crumb = answer(200, body, ("Content-Type", "application/json"))
    with hostile_server({CRUMB: json_crumb}) as server, pytest.raises(JenkinsFailure, match="crumb"):
        target(server.url).update_job(JOB, "<project/>")


# -- redirects -----------------------------------------------------------------------------------
def test_crumb_redirect_to_another_host_is_not_followed() -> None:
    stolen = answer(200, b'{"crumb":"stolen","crumbRequestField":"Jenkins-Crumb"}')
    with hostile_server({"/": stolen}) as other:
        with (
            hostile_server({CRUMB: redirect(other.url + "crumbIssuer/api/json")}) as server,
            pytest.raises(JenkinsFailure, match="redirect"),
        ):
            target(server.url).update_job(JOB, "<project/>")
        assert other.requests == []


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_get_redirect_to_another_host_is_not_followed(status: int) -> None:
    with hostile_server({"/": answer(200, b"<project/>")}) as other:
        with (
            hostile_server({CONFIG: redirect(other.url + "job/j/config.xml", status)}) as server,
            pytest.raises(JenkinsFailure, match=r"redirect.*127\.0\.0\.1"),
        ):
            target(server.url).read_job(JOB)
        assert other.requests == []


def test_post_redirect_to_another_host_is_a_failure() -> None:
    with hostile_server({"/": answer(200, b"")}) as other:
        with (
            hostile_server({CRUMB: answer(404), CONFIG: redirect(other.url + "login")}) as server,
            pytest.raises(JenkinsFailure, match="redirect"),
        ):
            target(server.url).update_job(JOB, "<project/>")
        assert other.requests == []


def test_same_host_redirects_are_followed_a_bounded_number_of_times() -> None:
    routes = {CONFIG: redirect("/moved/config.xml"), "/moved/": answer(200, b"<project/>")}
    with hostile_server(routes) as server:
        assert target(server.url).read_job(JOB) == "<project/>"
    with hostile_server({CONFIG: redirect(CONFIG)}) as server:
        with pytest.raises(JenkinsFailure, match="redirect"):
            target(server.url).read_job(JOB)
        assert len(server.requests) <= 2 * 4  # a few hops per attempt, not a loop


# -- size ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("declared", [True, False])
def test_huge_body_is_cut_off(declared: bool) -> None:
    with hostile_server({CONFIG: endless_body(200 * MiB, declared=declared)}) as server:
        peak, error = peak_memory(lambda: target(server.url).read_job(JOB))
    assert peak < MEMORY_BOUND, f"peak {peak / MiB:.0f} MiB"
    assert isinstance(error, JenkinsFailure) and "larger than" in error.message, error


def test_chunked_body_with_a_lying_length_is_cut_off() -> None:
    with hostile_server({CONFIG: chunked_body(200 * MiB)}) as server:
        peak, error = peak_memory(lambda: target(server.url).read_job(JOB))
    assert peak < MEMORY_BOUND, f"peak {peak / MiB:.0f} MiB"
    assert isinstance(error, JenkinsFailure) and "larger than" in error.message, error


def test_gzip_bomb_is_cut_off_after_decompression() -> None:
    route, size = gzip_bomb(1024 * MiB)
    assert size < 2 * MiB
    with hostile_server({CONFIG: route}) as server:
        peak, error = peak_memory(lambda: target(server.url).read_job(JOB))
    assert peak < MEMORY_BOUND, f"peak {peak / MiB:.0f} MiB"
    assert isinstance(error, JenkinsFailure) and "larger than" in error.message, error


def test_deflate_bomb_in_json_is_cut_off() -> None:
    with hostile_server({"/api/json": deflate_bomb(256 * MiB)}) as server:
        peak, error = peak_memory(lambda: target(server.url).list_items(1))
    assert peak < MEMORY_BOUND, f"peak {peak / MiB:.0f} MiB"
    assert isinstance(error, JenkinsFailure) and "larger than" in error.message, error


# -- time ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("in_headers", [False, True], ids=["body", "headers"])
def test_a_dripping_server_hits_the_overall_deadline(in_headers: bool) -> None:
    """One byte every 0.2 s never trips a 1 s read timeout; the request's deadline still ends it."""
    policy = RetryPolicy(attempts=2, base_delay=0.0, timeout=1.0)
    outcome: list[BaseException | None] = []

    def call() -> None:
        try:
            target(server.url, policy).read_job(JOB)
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    with hostile_server({CONFIG: drip(0.2, in_headers=in_headers)}) as server:
        started = time.monotonic()
        worker = threading.Thread(target=call, daemon=True)
        worker.start()
        worker.join(15)
        elapsed = time.monotonic() - started
        assert not worker.is_alive(), "still reading after 15 s"
    assert elapsed < 2 * 1.0 + 1.5, elapsed  # two attempts of at most 1 s each, plus slack
    assert len(outcome) == 1 and isinstance(outcome[0], JenkinsFailure), outcome
    assert "within 1" in outcome[0].message


def test_reconcile_timeout_bounds_the_whole_run_against_a_dripping_server(
    run_cli: Callable[..., CliRun], repo: Path, credentials: None
) -> None:
    """`reconcile --timeout 1`: four attempts of at most a second each, then exit 3 (not hours)."""
    with hostile_server({"/job/": drip(0.2)}) as server:
        started = time.monotonic()
        result = run_cli(
            "reconcile", "--repo", str(repo), "--registry", "reg-a", "--jenkins-url", server.url,
            "--timeout", "1",
        )  # fmt: skip
        elapsed = time.monotonic() - started
    assert result.code == 3, result.err
    assert "after 4 attempts" in result.err and "no complete answer within 1 s" in result.err
    assert elapsed < 4 * 1.0 + (0.5 + 1 + 2) + 2.0, elapsed  # attempts, backoff, slack
