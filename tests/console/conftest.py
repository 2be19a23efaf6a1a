from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from provisioner.console.auth import parse_networks
from provisioner.console.service import Console
from tests.helpers.console import Site, make_site, serving, site_console
from tests.helpers.gitrepo import git

ADMIN = {"X-Forwarded-User": "alice", "X-Forwarded-Email": "alice@example.com"}
OTHER = {"X-Forwarded-User": "bob", "X-Forwarded-Email": "bob@example.com"}


@dataclass
class Served:
    url: str
    site: Site
    console: Console

    def heads(self) -> tuple[str, str]:
        """(the checkout's HEAD, the bare upstream's main)."""
        return git(self.site.work, "rev-parse", "HEAD"), git(self.site.bare, "rev-parse", "main")


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return make_site(tmp_path)


@pytest.fixture
def served(site: Site) -> Iterator[Served]:
    console = site_console(site, networks=parse_networks(["127.0.0.1/32"]))
    with serving(console) as url:
        yield Served(url, site, console)
