"""The one error boundary of both CLIs (provisioner/error_handler.py).

A domain error exits with its code; Ctrl-C exits 130; anything unexpected prints one line (its
traceback only with -v) and exits 70, never 1. And no input at all, however hostile, reaches the
boundary as an unexpected exception: arbitrary argv, in-process, ends in a documented exit code.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import provisioner.backup.cli as backup_cli
import provisioner.cli as provisioner_cli
from provisioner.commands import validate as validate_command
from provisioner.errors import UsageError
from tests.helpers.cli import CliRun

PROVISIONER_CODES = {0, 1, 2, 3, 4, 5}  # the README's exit codes; 70 would be a bug
BACKUP_CODES = {0, 1, 2, 3}


def _run(main: Callable[..., int], capsys: pytest.CaptureFixture[str], argv: list[str]) -> CliRun:
    capsys.readouterr()
    code = main(argv, environ={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    out, err = capsys.readouterr()
    return CliRun(code, out, err)


def _boom(_args: argparse.Namespace) -> int:
    raise RuntimeError("boom\nsecond line\x1b[31m")


def _interrupt(_args: argparse.Namespace) -> int:
    raise KeyboardInterrupt


@pytest.fixture(params=["provisioner", "backup-registry"])
def cli(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> tuple[Callable[..., int], list[str]]:
    """A CLI with its command body replaced by ``monkeypatch``-able ``failure``, and argv to reach it."""
    if request.param == "provisioner":
        return provisioner_cli.main, ["validate", "--values", "v.yaml"]
    return backup_cli.main, ["list", "--registry", "alpha"]


def _fail_with(
    monkeypatch: pytest.MonkeyPatch, main: Callable[..., int], failure: Callable[..., int]
) -> None:
    if main is provisioner_cli.main:
        monkeypatch.setattr(validate_command, "run", failure)
    else:
        monkeypatch.setattr(backup_cli, "validate", lambda args, environ: failure(args))


def test_unexpected_error_is_one_line_and_70(
    cli: tuple[Callable[..., int], list[str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    main, argv = cli
    _fail_with(monkeypatch, main, _boom)
    done = _run(main, capsys, argv)
    assert done.code == 70
    assert done.err.count("\n") == 1 and "Traceback" not in done.err
    assert "internal error: RuntimeError: boom\\nsecond line\\x1b[31m" in done.err
    assert "-v" in done.err
    verbose = _run(main, capsys, ["-v", *argv])
    assert verbose.code == 70
    assert "Traceback (most recent call last)" in verbose.err and "RuntimeError: boom" in verbose.err


def test_interrupt_exits_130(
    cli: tuple[Callable[..., int], list[str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    main, argv = cli
    _fail_with(monkeypatch, main, _interrupt)
    done = _run(main, capsys, argv)
    assert done.code == 130 and done.err.endswith("interrupted\n") and "Traceback" not in done.err


def test_domain_error_keeps_its_code(
    cli: tuple[Callable[..., int], list[str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    main, argv = cli

    def usage(_args: argparse.Namespace) -> int:
        raise UsageError("no such thing")

    _fail_with(monkeypatch, main, usage)
    done = _run(main, capsys, argv)
    assert done.code == 2 and done.err.endswith("error: no such thing\n")


def test_usage_errors_and_help_return_instead_of_raising(
    cli: tuple[Callable[..., int], list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    main, _argv = cli
    assert _run(main, capsys, ["--no-such-flag"]).code == 2
    assert _run(main, capsys, []).code == 2
    helped = _run(main, capsys, ["--help"])
    assert helped.code == 0 and "70 internal error" in " ".join(helped.out.split())
    assert "130 interrupted" in " ".join(helped.out.split())


# ------------------------------------------------------------------------------------------------
# Arbitrary argv to every subcommand of both CLIs, in-process.


def _options(parser: argparse.ArgumentParser) -> dict[str, list[str]]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {name: sorted(p._option_string_actions) for name, p in sub.choices.items()}


_HOSTILE = st.sampled_from(
    [
        "",
        "-",
        "--",
        "a" * 100_000,
        "\x00",
        "\x1b[2J",
        "\u202e",
        "\udc80\udcff",  # undecodable bytes as the OS hands them over (surrogateescape)
        "../../etc/passwd",
        "2026-11-22T19:30:00Z",
        "30 19 * * *",
        "http://127.0.0.1:9/",
        "Europe/Kyiv",
        "9" * 400,
        "-1",
        "nan",
    ]
)
_TEXT = st.text(max_size=40) | st.text(st.characters(min_codepoint=0, max_codepoint=0x1F), max_size=5)


def _argv(options: dict[str, list[str]]) -> st.SearchStrategy[list[str]]:
    return st.sampled_from(sorted(options)).flatmap(
        lambda command: st.lists(st.sampled_from(options[command]) | _HOSTILE | _TEXT, max_size=8).map(
            lambda rest: [command, *rest]
        )
    )


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # whatever a command writes (a JENKINS_HOME, -o OUT) stays here
    return tmp_path


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(argv=_argv(_options(provisioner_cli.build_parser())))
def test_no_argv_makes_provisioner_crash(
    argv: list[str], sandbox: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    done = _run(provisioner_cli.main, capsys, argv)
    assert done.code in PROVISIONER_CODES, done
    assert "Traceback" not in done.err and "internal error" not in done.err


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(argv=_argv(_options(backup_cli.build_parser())))
def test_no_argv_makes_backup_registry_crash(
    argv: list[str], sandbox: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import provisioner.backup.commands as backup_commands

    # Everything up to the run is real (argparse, every input check); the run itself is not made:
    # a generated --source could name any directory on this machine.
    monkeypatch.setattr(backup_commands, "execute", lambda request, environ, stdout: 0)
    done = _run(backup_cli.main, capsys, argv)
    assert done.code in BACKUP_CODES, done
    assert "Traceback" not in done.err and "internal error" not in done.err


def test_argparse_errors_echo_argv_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    done = _run(
        provisioner_cli.main, capsys, ["validate", "--values", "v.yaml", "\x1b[2J\udc80" + "x" * 1000]
    )
    assert done.code == 2
    last = done.err.splitlines()[-1]
    assert "\x1b" not in done.err and "\\x1b[2J\\udc80" in last and len(last) < 400


def test_every_command_module_is_in_the_table() -> None:
    import pkgutil

    import provisioner.commands as package

    modules = {info.name for info in pkgutil.iter_modules(package.__path__) if not info.name.startswith("_")}
    assert {m.__name__.rpartition(".")[2] for m in provisioner_cli.COMMANDS} == modules
