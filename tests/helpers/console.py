"""A real console for tests: a registry checkout whose upstream is a bare repository, a real archive
store, and uvicorn serving the app on a loopback port in a thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import uvicorn

from provisioner.console.app import create_app
from provisioner.console.service import Console
from provisioner.console.setup import source_from_repo
from provisioner.console.state import StoreFacts
from provisioner.settings.policy import DEFAULT_POLICY
from tests.helpers.backups import make_backup
from tests.helpers.gitrepo import git, make_repo

VALUES_PATH = "deploy-templates/values.yaml"
REGISTRY = "demo"
NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
EXAMPLE_VALUES = (
    Path(__file__).resolve().parents[2] / "examples/demo-registry/deploy-templates/values.yaml"
).read_text()
OWNER = ("Olena Koval", "olena@example.com")


@dataclass
class Site:
    tmp: Path
    work: Path  # the console's checkout
    bare: Path  # its upstream
    store: Path
    audit: Path


def make_site(tmp: Path, values: str = EXAMPLE_VALUES, backups: int = 2) -> Site:
    work, bare, store = tmp / "work", tmp / "upstream.git", tmp / "store"
    make_repo(work, {VALUES_PATH: values}, author=OWNER, message="registry values")
    git(tmp, "init", "-q", "--bare", "-b", "main", str(bare))
    git(work, "remote", "add", "origin", str(bare))
    git(work, "push", "-q", "-u", "origin", "main")
    store.mkdir()
    for index in range(backups):
        make_backup(store, tmp / "data", NOW - timedelta(days=index + 1), registry=REGISTRY)
    return Site(tmp, work, bare, store, tmp / "audit.jsonl")


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def site_console(site: Site, **kwargs: object) -> Console:
    defaults: dict[str, object] = {
        "registries": source_from_repo(site.work, REGISTRY, None, None),
        "policy": DEFAULT_POLICY,
        "facts": StoreFacts(site.store),
        "audit_log": site.audit,
        "clock": lambda: NOW,
    }
    defaults.update(kwargs)
    return Console(**defaults)  # type: ignore[arg-type]


@contextmanager
def serving(console: Console) -> Iterator[str]:
    """Serve the console on 127.0.0.1:<free port>; yields the base URL."""
    sock = free_socket()
    config = uvicorn.Config(
        create_app(console), log_config=None, access_log=False, lifespan="off", server_header=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the console did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
