"""`./dev demo`: run the main job on embedded defaults, all under ./demo/.

A git repository is built from examples/demo-registry, its values are validated, the job is
reconciled into a local JENKINS_HOME directory, and one backup is made into a local store.

It needs a source checkout: examples/ is not part of the wheel (an installed package says so and
exits 2 instead of failing on a missing file).

`./dev console` (``python -m provisioner.demo console [--listen ADDR:PORT]``) serves the admin
console for that repository and store; the demo plays the platform's sign-in proxy in-process, so
every request from this machine is signed in as "Demo Admin".
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

from provisioner.backup.cli import main as backup_main
from provisioner.cli import main as provisioner_main
from provisioner.gitsource import Author, init_with_files

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "demo"
EXAMPLE = ROOT / "examples" / "demo-registry"


def needs_checkout() -> str | None:
    """Why the demo cannot run here (None: it can)."""
    if (EXAMPLE / "deploy-templates").is_dir() and (EXAMPLE / "data").is_dir():
        return None
    return (
        f"demo: the demo needs a source checkout of registry-backup-provisioner ({EXAMPLE} is missing; "
        "an installed package does not ship examples/): run ./dev demo in a clone of the repository"
    )


def _step(title: str) -> None:
    print(f"\n=== {title}", flush=True)


def _repo() -> Path:
    repo = DEMO / "registry-repo"
    if not (repo / ".git").exists():
        repo.mkdir(parents=True, exist_ok=True)
        shutil.copytree(EXAMPLE / "deploy-templates", repo / "deploy-templates", dirs_exist_ok=True)
        init_with_files(repo, "Enable automatic backups\n", Author("Demo Admin", "admin@example.internal"))
    return repo


def _backup() -> int:
    return backup_main(
        [
            "run",
            "--registry",
            "demo-registry",
            "--expires-in-hours",
            "168",
            "--store",
            str(DEMO / "backups"),
            "--source",
            str(EXAMPLE / "data"),
        ]
    )


class _DemoSignIn:
    """Plays the sign-in proxy: requests get oauth2-proxy's headers for the demo admin."""

    HEADERS = (
        (b"x-forwarded-user", b"Demo Admin"),
        (b"x-forwarded-email", b"admin@example.internal"),
        (b"x-forwarded-groups", b"registry-admins"),
    )

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            kept = [(k, v) for k, v in scope["headers"] if not k.startswith(b"x-forwarded-")]
            scope = {**scope, "headers": [*kept, *self.HEADERS]}
        await self.app(scope, receive, send)


def console(argv: list[str]) -> int:
    from provisioner.console.app import create_app
    from provisioner.console.auth import parse_networks
    from provisioner.console.service import Console
    from provisioner.console.setup import parse_listen, serve, source_from_repo
    from provisioner.console.state import StoreFacts
    from provisioner.settings.policy import DEFAULT_POLICY

    listen = argv[argv.index("--listen") + 1] if "--listen" in argv[:-1] else "127.0.0.1:8080"
    host, port = parse_listen(listen)
    repo = _repo()
    if not (DEMO / "backups" / "demo-registry").is_dir() and _backup() != 0:
        return 1
    app = create_app(
        Console(
            registries=source_from_repo(repo, "demo-registry", None, None),
            policy=DEFAULT_POLICY,
            facts=StoreFacts(DEMO / "backups"),
            networks=parse_networks(["127.0.0.1/32", "::1/128"]),
            audit_log=DEMO / "console-audit.jsonl",
        )
    )
    print(f"Admin console: http://{host}:{port}/registries/demo-registry (saves to {repo})", flush=True)
    serve(_DemoSignIn(app), host, port)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    problem = needs_checkout()
    if problem is not None:
        print(problem, file=sys.stderr)
        return 2
    if argv[:1] == ["console"]:
        return console(argv[1:])
    repo = _repo()
    _step("provisioner validate (values.yaml at HEAD of demo/registry-repo)")
    code = provisioner_main(["validate", "--repo", str(repo)])
    if code != 0:
        return code
    _step("provisioner reconcile into demo/jenkins_home")
    code = provisioner_main(
        [
            "reconcile",
            "--repo",
            str(repo),
            "--registry",
            "demo-registry",
            "--jenkins-home",
            str(DEMO / "jenkins_home"),
            "--audit-log",
            str(DEMO / "audit.jsonl"),
        ]
    )
    if code != 0:
        return code
    _step("backup-registry run into demo/backups (what the Jenkins job runs)")
    code = _backup()
    if code != 0:
        return code
    _step("provisioner status (what the admin console shows)")
    return provisioner_main(
        ["status", "--repo", str(repo), "--registry", "demo-registry", "--store", str(DEMO / "backups")]
    )


if __name__ == "__main__":
    sys.exit(main())
