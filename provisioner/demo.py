"""`./dev demo`: run the main job on embedded defaults, all under ./demo/.

A git repository is built from examples/demo-registry, its values are validated, the job is
reconciled into a local JENKINS_HOME directory, and one backup is made into a local store.

It needs a source checkout: examples/ is not part of the wheel (an installed package says so and
exits 2 instead of failing on a missing file).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

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


def main() -> int:
    problem = needs_checkout()
    if problem is not None:
        print(problem, file=sys.stderr)
        return 2
    repo = DEMO / "registry-repo"
    if not (repo / ".git").exists():
        repo.mkdir(parents=True, exist_ok=True)
        shutil.copytree(EXAMPLE / "deploy-templates", repo / "deploy-templates", dirs_exist_ok=True)
        init_with_files(repo, "Enable automatic backups\n", Author("Demo Admin", "admin@example.internal"))
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
    code = backup_main(
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
    if code != 0:
        return code
    _step("provisioner status (what the admin console shows)")
    return provisioner_main(
        ["status", "--repo", str(repo), "--registry", "demo-registry", "--store", str(DEMO / "backups")]
    )


if __name__ == "__main__":
    sys.exit(main())
