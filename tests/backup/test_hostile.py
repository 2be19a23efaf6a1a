"""The injection corpus: every hostile value, in every input position, exits 1 before anything runs.

Each case runs the real CLI entry point in-process with process creation trapped (subprocess,
os.fork/exec*/posix_spawn/system) and compares a listing of the whole test directory (which is
also the working directory, so the default ./backups store would appear there) before and after.
The cases per position are the corpus values that break that position's rule, decided by an
independent statement of the rule here (a value like ``true`` is a valid registry name, and
``1e3`` a valid directory name: those are not hostile there and are exercised as valid elsewhere).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from provisioner.backup.cli import main
from tests.backup.conftest import base_env, run_script
from tests.backup.restore_helpers import listing

HOSTILE = [
    "$(touch x)",
    "`touch x`",
    "a;touch x",
    "a|touch x",
    "a && touch x",
    "a\ntouch x",
    "a\rb",
    "../x",
    "../../etc",
    "a\x00b",
    "x" * 5000,
    "\u0667",
    "\u0661\u0666\u0668",
    "\uff11\uff16\uff18",
    "7.0",
    "1e3",
    "+168",
    "-168",
    " 168",
    "168 ",
    "1_68",
    "0x10",
    "true",
    "",
    "\u200b168",
    "168\n",
    "</spec>",
    "!!python/object/apply:os.system",
    "${IFS}",
    "*",
    "'; DROP TABLE x; --",
    "%s%n",
    "-h",
    "--help",
    "Reg",
    "reg-",
    "a" * 64,
    "\u0661\u0666\u0668\u0668",
]


def _re(pattern: str) -> Callable[[str], bool]:
    return lambda v: re.fullmatch(pattern, v, re.ASCII) is not None


_label = _re(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_hours = lambda v: _re(r"[1-9][0-9]{0,4}")(v) and 168 <= int(v) <= 87600  # noqa: E731
_path = lambda v: _re(r"[A-Za-z0-9 ._+/@,:=%~_-]{1,4096}")(v) and not v.startswith("-")  # noqa: E731
_source = lambda v: v == "src"  # noqa: E731  (the only directory in the sandbox)
_pgdb = _re(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,62}")
_now = _re(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2})"
)
_seconds = _re(r"[0-9]{1,5}")
_jobs = lambda v: _re(r"[1-9][0-9]?")(v) and int(v) <= 16  # noqa: E731
_backup_id = _re(r"[0-9]{8}T[0-9]{6}Z(-[0-9]{2})?")

FLAG_RULES: dict[str, Callable[[str], bool]] = {
    "--registry": _label,
    "--expires-in-hours": _hours,
    "--source": _source,
    "--store": _path,
    "--pg-database": _pgdb,
    "--now": _now,
    "--lock-timeout": _seconds,
    "--jobs": _jobs,
}
VALID_RUN = {"--registry": "demo", "--expires-in-hours": "168", "--source": "src"}


def _cases(rules: dict[str, Callable[[str], bool]]) -> list[tuple[str, str]]:
    return [(flag, v) for flag, ok in rules.items() for v in HOSTILE if not ok(v)]


class SpawnTrap(Exception):
    pass


@pytest.fixture
def no_spawn(monkeypatch: pytest.MonkeyPatch) -> None:
    def trap(*args: object, **kwargs: object) -> None:
        raise SpawnTrap(f"process started: {args!r}")

    monkeypatch.setattr(subprocess.Popen, "__init__", trap)
    for name in ("fork", "system", "posix_spawn", "posix_spawnp", "execv", "execve", "execvp", "execvpe"):
        if hasattr(os, name):
            monkeypatch.setattr(os, name, trap)


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_spawn: None) -> Iterator[Path]:
    work = tmp_path / "work"
    (work / "src").mkdir(parents=True)
    (work / "src" / "f.txt").write_text("data")
    monkeypatch.chdir(work)
    for var in (
        "REGISTRY_NAME",
        "EXPIRES_IN_HOURS",
        "RESTIC_REPOSITORY",
        "RESTIC_PASSWORD",
        "RESTIC_PASSWORD_FILE",
    ):
        monkeypatch.delenv(var, raising=False)
    before = listing(tmp_path)
    yield work
    assert listing(tmp_path) == before, "invalid input created or removed files"


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().err


def _argv(flag: str, value: str) -> list[str]:
    """A valid `run` with ``flag`` set to ``value`` (``--flag=value``: a leading '-' stays a value)."""
    argv = ["run"]
    for name, default in VALID_RUN.items():
        if name != flag:
            argv += [name, default]
    return [*argv, f"{flag}={value}"]


def test_corpus_covers_every_position() -> None:
    counts = {flag: sum(1 for f, _ in _cases(FLAG_RULES) if f == flag) for flag in FLAG_RULES}
    assert all(n >= 20 for n in counts.values()), counts


@pytest.mark.parametrize(("flag", "value"), _cases(FLAG_RULES))
def test_hostile_flag_values(
    flag: str, value: str, sandbox: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _run(_argv(flag, value), capsys)
    assert code == 1, err
    assert f"error: invalid {flag}" in err


@pytest.mark.parametrize(("var", "value"), _cases({"REGISTRY_NAME": _label, "EXPIRES_IN_HOURS": _hours}))
def test_hostile_environment(
    var: str, value: str, sandbox: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    if "\x00" in value:  # an environment cannot hold NUL; the flag tests cover it
        value = value.replace("\x00", "\x01")
    monkeypatch.setenv("REGISTRY_NAME", "demo")
    monkeypatch.setenv("EXPIRES_IN_HOURS", "168")
    monkeypatch.setenv(var, value)
    code, err = _run(["run", "--source", "src"], capsys)
    assert code == 1, err
    assert f"error: invalid {var}" in err


_ENV_RULES: dict[str, Callable[[str], bool]] = {
    "BACKUP_BACKEND": lambda v: v in ("", "archive", "restic", "velero"),
    "BACKUP_STORE": lambda v: v == "" or _path(v),
    "BACKUP_SOURCES": lambda v: v == "" or all(_source(p) for p in v.split(":")),
    "BACKUP_PG_DATABASES": lambda v: v == "" or all(_pgdb(p) for p in v.split(",")),
}


@pytest.mark.parametrize(("var", "value"), _cases(_ENV_RULES))
def test_hostile_agent_environment(
    var: str, value: str, sandbox: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """What the Jenkins agent configures (what to back up, where) is validated the same way."""
    value = value.replace("\x00", "\x01")  # an environment cannot hold NUL
    monkeypatch.setenv("REGISTRY_NAME", "demo")
    monkeypatch.setenv("EXPIRES_IN_HOURS", "168")
    monkeypatch.setenv("BACKUP_SOURCES", "src")
    monkeypatch.setenv(var, value)
    code, err = _run(["run"], capsys)
    assert code == 1, err
    assert f"error: invalid {var}" in err


@pytest.mark.parametrize("value", [v for v in HOSTILE if not _backup_id(v)])
def test_hostile_verify_id(value: str, sandbox: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run(["verify", "--registry", "demo", f"--id={value}"], capsys)
    assert code == 1, err


@pytest.mark.parametrize("value", [v for v in HOSTILE if not _now(v)])
def test_hostile_prune_now(value: str, sandbox: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run(["prune", "--registry", "demo", f"--now={value}"], capsys)
    assert code == 1, err


@pytest.mark.parametrize("value", [v for v in HOSTILE if not _path(v)])
def test_hostile_restic_repo(
    value: str, sandbox: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RESTIC_PASSWORD", "pw")  # so the repository is the only thing wrong
    code, err = _run(["list", "--registry", "demo", "--backend", "restic", f"--restic-repo={value}"], capsys)
    assert code == 1, err
    assert "error: invalid --restic-repo" in err


@pytest.mark.parametrize("value", [v for v in HOSTILE if not _label(v)])
def test_hostile_velero_namespace(value: str, sandbox: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run(
        ["list", "--registry", "demo", "--backend", "velero", f"--k8s-namespace={value}"], capsys
    )
    assert code == 1, err


def test_jobs_refused_for_velero(sandbox: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """velero dumps no database: a --jobs there is a mistake, refused before anything runs."""
    argv = ["run", "--registry", "demo", "--expires-in-hours", "168", "--backend", "velero", "--jobs", "2"]
    code, err = _run(argv, capsys)
    assert code == 1, err
    assert "error: invalid --jobs" in err


def test_restic_password_required(sandbox: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run(["list", "--registry", "demo", "--backend", "restic", "--restic-repo", "repo"], capsys)
    assert code == 1
    assert "RESTIC_PASSWORD_FILE" in err


def test_usage_errors_exit_2(sandbox: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["bogus"], ["run", "--backend", "tape"], ["list", "--format", "xml"], []):
        assert main(argv) == 2  # main returns argparse's exit code instead of raising SystemExit
        assert "usage: backup-registry" in capsys.readouterr().err


def test_legal_odd_names_are_not_rejected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Corpus values that are legal where they are used: a registry named `true`, a store named `1e3`."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "f").write_text("x")
    store = tmp_path / "1e3 %s%n"
    code = main(["run", "--registry", "true", "--expires-in-hours", "168", "--source", str(tmp_path / "src"),
                 "--store", str(store), "--no-prune"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert [p.suffix for p in sorted((store / "true").glob("2*"))] == [".json", ".zst"]


def test_script_with_hostile_environment_runs_nothing(tmp_path: Path) -> None:
    """End to end through scripts/backup-registry: the classic payloads create no file anywhere."""
    (tmp_path / "src").mkdir()
    payloads = [
        ("$(touch x)", "168"),
        ("demo", "168; touch x"),
        ("demo`touch x`", "168"),
        ("demo", "$(touch x)"),
        ("demo\ntouch x", "168"),
        ("demo", "\u0667\u0660\u0660"),
    ]
    for registry, hours in payloads:
        before = listing(tmp_path)
        result = run_script(
            "run",
            "--source",
            "src",
            cwd=tmp_path,
            env=base_env(REGISTRY_NAME=registry, EXPIRES_IN_HOURS=hours),
        )
        assert result.code == 1, result.stderr
        assert listing(tmp_path) == before
        assert not (tmp_path / "x").exists()
        assert not (tmp_path / "backups").exists()


_SECRET = "s3cr3t-Pa55w0rd"
_REPOS_WITH_A_PASSWORD = [
    f"rest:https://backup:{_SECRET}@backup.example:8000/demo!",  # '!' is not allowed
    f"rest:https://backup:{_SECRET}@backup.example/$(id)",
    f"s3:https://backup:{_SECRET}@s3.example/bucket\ntouch x",
    f"sftp:backup:{_SECRET}@host.example:/srv/\u0667",
    f"-o=rest:https://backup:{_SECRET}@backup.example/",  # starts with '-'
    f"rest:https://backup:{_SECRET}@backup.example/{'x' * 5000}",  # too long
]


@pytest.mark.parametrize("value", _REPOS_WITH_A_PASSWORD, ids=range(len(_REPOS_WITH_A_PASSWORD)))
@pytest.mark.parametrize("via", ["--restic-repo", "RESTIC_REPOSITORY"])
def test_rejected_restic_repo_is_masked_and_named_by_where_it_came_from(
    value: str, via: str, sandbox: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A repository URL may hold a password: a rejected one is never echoed, in the message or the log."""
    monkeypatch.setenv("RESTIC_PASSWORD", "pw")
    argv = ["list", "--registry", "demo", "--backend", "restic"]
    if via == "--restic-repo":
        argv.append(f"--restic-repo={value}")
    else:
        monkeypatch.setenv("RESTIC_REPOSITORY", value)
    code, err = _run(argv, capsys)
    assert code == 1, err
    assert f"error: invalid {via}: " in err
    for part in (_SECRET, "Pa55", "backup.example", "s3.example", "host.example"):
        assert part not in err, err


# -- restore ----------------------------------------------------------------------------------------
# A valid --to is a new or empty directory whose parent exists: in the sandbox, any path-safe name
# but the non-empty "src" and "." (the sandbox itself); "../x" is a legal new directory.
_target = lambda v: _path(v) and v.rstrip("/") not in ("src", ".")  # noqa: E731
_db_map = lambda v: v.count("=") == 1 and all(_pgdb(p) for p in v.split("="))  # noqa: E731
RESTORE_RULES: dict[str, Callable[[str], bool]] = {
    "--id": _backup_id,
    "--before": _now,
    "--to": _target,
    "--pg-database-map": _db_map,
    "--registry": _label,
    "--store": _path,
    "--lock-timeout": _seconds,
}


def _restore_argv(flag: str, value: str) -> list[str]:
    argv = ["restore", "--registry", "demo"] if flag != "--registry" else ["restore"]
    if flag not in ("--id", "--before"):
        argv.append("--latest")
    if flag != "--to":
        argv += ["--to", "new-target"]
    return [*argv, f"{flag}={value}"]


def test_restore_corpus_covers_every_position() -> None:
    counts = {flag: sum(1 for f, _ in _cases(RESTORE_RULES) if f == flag) for flag in RESTORE_RULES}
    assert all(n >= 20 for n in counts.values()), counts


@pytest.mark.parametrize(("flag", "value"), _cases(RESTORE_RULES))
def test_hostile_restore_values(
    flag: str, value: str, sandbox: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _run(_restore_argv(flag, value), capsys)
    assert code == 1, err
    assert f"error: invalid {flag}" in err


@pytest.mark.parametrize("extra", [["--dry-run"], ["--force"], ["--force", "--dry-run"]])
def test_hostile_restore_values_with_switches(
    extra: list[str], sandbox: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--force and --dry-run loosen nothing at the door."""
    for flag, value in [
        ("--to", "$(touch x)"),
        ("--to", "/"),
        ("--pg-database-map", "a=b;c"),
        ("--id", "$(x)"),
    ]:
        code, err = _run([*_restore_argv(flag, value), *extra], capsys)
        assert code == 1, (flag, value, err)


def test_restore_into_a_file_or_the_store_is_refused(
    sandbox: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (sandbox / "afile").write_text("x")
    for target in ("afile", "backups", "backups/demo", "."):
        code, err = _run(["restore", "--registry", "demo", "--latest", "--force", f"--to={target}"], capsys)
        assert code == 1, (target, err)
        assert "error: invalid --to" in err
    (sandbox / "afile").unlink()


def test_restore_selection_is_required_and_exclusive(
    sandbox: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv in (
        ["restore", "--registry", "demo"],
        ["restore", "--registry", "demo", "--latest", "--id", "20261101T000000Z"],
    ):
        assert main(argv) == 2
        assert "usage: backup-registry restore" in capsys.readouterr().err


@pytest.mark.parametrize("value", [v for v in HOSTILE if not _backup_id(v)])
def test_hostile_drill_id(value: str, sandbox: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run(["drill", "--registry", "demo", f"--id={value}"], capsys)
    assert code == 1, err
    assert "error: invalid --id" in err


@pytest.mark.parametrize("command", ["drill"])
def test_velero_restore_and_drill_not_yet(
    command: str, sandbox: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _run([command, "--registry", "demo", "--backend", "velero", "--latest"], capsys)
    assert code == 1, err
    assert "velero: not yet" in err


@pytest.mark.parametrize(("flag", "value"), _cases({"--to-namespace": _label, "--id": _label}))
def test_hostile_velero_restore_values(
    flag: str, value: str, sandbox: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["restore", "--registry", "demo", "--backend", "velero"]
    argv += [f"{flag}={value}"] if flag == "--id" else ["--latest", f"{flag}={value}"]
    code, err = _run(argv, capsys)
    assert code == 1, err
    assert f"error: invalid {flag}" in err


@pytest.mark.parametrize("extra", [["--to", "x"], ["--pg-database-map", "a=b"], ["--force"]])
def test_velero_restore_refuses_directory_and_database_options(
    extra: list[str], sandbox: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _run(["restore", "--registry", "demo", "--backend", "velero", "--latest", *extra], capsys)
    assert code == 1, err
