"""Building and serving a console from its inputs: repositories, files, an address (the I/O edge).

Everything is checked before the server starts: each repository has a checked-out branch and its
values.yaml at that branch, the token and access files are strict, the address parses.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from provisioner.console.auth import AccessMap, TokenBook, parse_access, parse_tokens
from provisioner.console.state import Facts, RegistrySource
from provisioner.errors import UsageError
from provisioner.gitsource import DEFAULT_VALUES_PATH, branch_head, read_values_from_git, upstream_of

LOG = logging.getLogger("provisioner")
MAX_FILE_BYTES = 1 << 20


class NoFacts:
    """Neither a store nor Jenkins was given: the page says so instead of guessing."""

    def fresh(self, source: RegistrySource) -> bool:
        return True

    def facts(self, source: RegistrySource) -> Facts:
        return Facts(None, None, ("no backup store or Jenkins given to the console: backups are not shown",))


def parse_push(text: str) -> tuple[str, str]:
    remote, sep, branch = text.partition("/")
    if not sep or not remote or not branch or remote.startswith("-") or branch.startswith("-"):
        raise UsageError(f"--push {text!r} must look like REMOTE/BRANCH, e.g. origin/main")
    if any(ch.isspace() or not ch.isprintable() for ch in text) or ".." in text:
        raise UsageError(f"--push {text!r} is not a remote and branch name")
    return remote, branch


def registry_source(
    name: str, repo: Path, values_path: str, ref: str, push: tuple[str, str] | None, job: Any
) -> RegistrySource:
    """A registry's repository, checked: a branch is checked out, values.yaml is there."""
    branch, head = branch_head(repo)
    if ref not in ("HEAD", branch, f"refs/heads/{branch}"):
        raise UsageError(
            f"{name}: the console commits to the checked-out branch ({branch} in {repo}), not to ref {ref!r}"
        )
    read_values_from_git(repo, head, values_path)  # UsageError when it is missing
    return RegistrySource(name, repo, values_path, branch, push or upstream_of(repo, branch), job)


def sources_from_fleet(fleet: Path, push: tuple[str, str] | None) -> dict[str, RegistrySource]:
    from provisioner.fleet.file import load_fleet

    return {
        e.name: registry_source(e.name, e.repo, e.values_path, e.ref, push, e.job) for e in load_fleet(fleet)
    }


def source_from_repo(
    repo: Path, name: str, values_path: str | None, push: tuple[str, str] | None
) -> dict[str, RegistrySource]:
    from provisioner.jenkins.target import job_path
    from provisioner.jobs.render import default_job_name

    job = job_path(default_job_name(name), None)
    return {name: registry_source(name, repo, values_path or DEFAULT_VALUES_PATH, "HEAD", push, job)}


def _read_text(path: Path, flag: str) -> str:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"cannot read {flag} {path}: {exc.strerror or exc}") from exc
    if len(data) > MAX_FILE_BYTES:
        raise UsageError(f"{flag} {path} is larger than {MAX_FILE_BYTES} bytes")
    return data.decode("utf-8", "surrogateescape")


def load_tokens(path: Path | None) -> TokenBook | None:
    return parse_tokens(_read_text(path, "--tokens"), str(path)) if path is not None else None


def load_access(path: Path | None, registries: Sequence[str]) -> AccessMap | None:
    return parse_access(_read_text(path, "--access"), str(path), registries) if path is not None else None


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    try:
        ipaddress.ip_address(host)
        number = int(port)
    except ValueError as exc:
        raise UsageError(f"--listen {text!r} must be ADDRESS:PORT, e.g. 127.0.0.1:8080") from exc
    if not sep or not 0 <= number <= 65535:
        raise UsageError(f"--listen {text!r} must be ADDRESS:PORT, e.g. 127.0.0.1:8080")
    return host, number


def serve(app: Any, host: str, port: int) -> None:
    """Serve with uvicorn in this process until interrupted."""
    import httptools  # noqa: F401  uvicorn's C HTTP parser: about twice the requests per second of h11
    import uvicorn
    import uvloop  # noqa: F401  uvicorn's event loop on libuv

    if not ipaddress.ip_address(host).is_loopback:
        LOG.warning("the console listens on %s, not loopback: put the sign-in proxy in front of it", host)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http="httptools",
        loop="uvloop",
        log_config=None,
        access_log=False,
        server_header=False,
        lifespan="off",
    )
    LOG.info("console on http://%s:%d/registries", host if ":" not in host else f"[{host}]", port)
    uvicorn.Server(config).run()
