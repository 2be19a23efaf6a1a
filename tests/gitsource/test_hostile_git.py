"""A hostile or damaged registry repository: a huge values.yaml blob is refused before it is loaded;
a corrupt object is a usage error (exit 2) with a clear message, and in reconcile-all it fails that
registry alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from provisioner.errors import ExitCode, UsageError
from provisioner.gitsource import read_values_from_git
from tests.helpers.cli import VALUES_PATH, CliRun, values_yaml
from tests.helpers.fleet import write_fleet
from tests.helpers.gitrepo import git, make_repo
from tests.jenkins_emulator import JenkinsEmulator

MiB = 1024 * 1024
ROOT = Path(__file__).resolve().parents[2]


def _object_file(repo: Path, ref: str) -> Path:
    sha = git(repo, "rev-parse", ref)
    path = repo / ".git" / "objects" / sha[:2] / sha[2:]
    assert path.is_file(), "expected a loose object"
    path.chmod(0o644)
    return path


def _corrupt(repo: Path, how: str) -> None:
    """Damage the values.yaml blob at HEAD the way a bad disk or a hostile repository would."""
    path = _object_file(repo, f"HEAD:{VALUES_PATH}")
    if how == "garbage":
        path.write_bytes(b"\x00not zlib at all\xff" * 4)
    elif how == "truncated":  # a valid header that promises more data than the object holds
        path.write_bytes(zlib.compress(b"blob 4000\x00global:\n  timeZone: Europe/Kyiv\n"))
    else:  # the header parses, the stream breaks in the middle
        path.write_bytes(zlib.compress(b"blob 60\x00" + b"g" * 60)[:-12])


@pytest.mark.parametrize("how", ["garbage", "truncated", "broken-stream"])
def test_corrupt_values_blob_is_a_usage_error(tmp_path: Path, how: str) -> None:
    repo = tmp_path / "registry"
    make_repo(repo, {VALUES_PATH: values_yaml()})
    _corrupt(repo, how)
    with pytest.raises(UsageError, match=r"cannot read deploy-templates/values.yaml at HEAD.*corrupt"):
        read_values_from_git(repo)


def test_corrupt_values_blob_exits_2(run_cli: Callable[..., CliRun], tmp_path: Path) -> None:
    repo = tmp_path / "registry"
    make_repo(repo, {VALUES_PATH: values_yaml()})
    _corrupt(repo, "garbage")
    result = run_cli("validate", "--repo", str(repo))
    assert result.code == ExitCode.USAGE, result.err
    assert "corrupt" in result.err and "Traceback" not in result.err


@pytest.mark.parametrize("processes", ["0", "2"])
def test_corrupt_blob_fails_that_registry_alone_in_reconcile_all(
    run_cli: Callable[..., CliRun], jenkins: JenkinsEmulator, tmp_path: Path, processes: str
) -> None:
    registries: dict[str, str | None] = {
        "ok-a": values_yaml(),
        "broken": values_yaml(days=9),
        "ok-b": values_yaml(),
    }
    fleet = write_fleet(tmp_path, registries)
    _corrupt(tmp_path / "repos" / "broken", "garbage")
    run = run_cli(
        "reconcile-all", "--fleet", str(fleet), "--jenkins-url", jenkins.url, "--format", "json",
        "--processes", processes,
    )  # fmt: skip
    assert run.code == ExitCode.PARTIAL_FAILURE, run.err
    by = {r["registry"]: r for r in json.loads(run.out)["results"]}
    assert by["ok-a"]["action"] == by["ok-b"]["action"] == "created"
    assert by["broken"]["action"] == "failed" and "corrupt" in by["broken"]["error"]


# VmHWM, not ru_maxrss: a child's ru_maxrss starts at its parent's high-water mark (kept across exec).
_MEASURE = """
import sys
from pathlib import Path
from provisioner.errors import ProvisionerError
from provisioner.gitsource import read_values_from_git
import pygit2

def peak_kib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))

before = peak_kib()
try:
    read_values_from_git(Path(sys.argv[1]))
    outcome = "read"
except ProvisionerError as exc:
    outcome = f"{type(exc).__name__} {exc.exit_code} {exc.message}"
print((peak_kib() - before) // 1024)
print(outcome)
"""


def test_huge_values_blob_is_refused_before_it_is_loaded(tmp_path: Path) -> None:
    repo = tmp_path / "registry"
    make_repo(repo, {"README.md": "registry\n"})
    (repo / VALUES_PATH).parent.mkdir(parents=True)
    with (repo / VALUES_PATH).open("w", encoding="ascii") as big:  # 300 MiB, never held in memory here
        big.write("# ")
        for _ in range(300):
            big.write("x" * MiB)
        big.write("\n")
    git(repo, "add", "--", VALUES_PATH)
    git(repo, "commit", "-q", "-m", "a 300 MiB values.yaml")
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(repo)],
        capture_output=True, text=True, timeout=120, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    grown_mib, outcome = done.stdout.splitlines()
    assert int(grown_mib) < 32, f"reading the values grew the process by {grown_mib} MiB ({outcome})"
    assert outcome.startswith("ValuesTooLarge 1 ") and "larger than the 1 MiB limit" in outcome, outcome
    assert "314572803 bytes" in outcome
