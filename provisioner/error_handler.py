"""The one error boundary of both CLIs (`provisioner` and `backup-registry`).

- a :class:`~provisioner.errors.ProvisionerError` prints its one-line message and exits with its code;
- Ctrl-C exits 130;
- anything else is a bug: one line naming the exception (its traceback only with ``-v``), exit 70.
  Never 1: CI reads 1 as "invalid settings".

argparse's own exits (2 for usage, 0 for ``--help``) come back as return values, so ``main(argv)``
always returns an exit code when driven in-process.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import NoReturn

from provisioner.errors import ExitCode, ProvisionerError

__all__ = ["ArgumentParser", "guarded", "one_line"]

_MAX_MESSAGE = 300


def one_line(text: str) -> str:
    """``text`` as one bounded line: control characters (newlines too) escaped, long texts cut."""
    shown = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text[:_MAX_MESSAGE])
    return shown + ("..." if len(text) > _MAX_MESSAGE else "")


class ArgumentParser(argparse.ArgumentParser):
    """argparse, with its error line escaped and bounded: it echoes argv back, and argv is untrusted
    (a terminal escape sequence, undecodable bytes or a megabyte of text stay one harmless line).
    Subcommand parsers are made of the same class."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {one_line(message)}\n")


def wants_traceback(argv: Sequence[str] | None) -> bool:
    """``-v``/``--verbose`` among the global options (before the subcommand): read even when parsing fails."""
    args = sys.argv[1:] if argv is None else argv
    for arg in args:
        if arg in ("-v", "--verbose"):
            return True
        if not arg.startswith("-"):
            return False
    return False


def guarded(prog: str, argv: Sequence[str] | None, body: Callable[[], int]) -> int:
    """Run ``body`` (parse, validate, execute) and turn whatever it ends with into an exit code."""
    try:
        return body()
    except SystemExit as exc:  # argparse: 2 on usage errors, 0 after --help/--version
        code = exc.code
        if code is None or isinstance(code, int):
            return int(code or 0)
        print(f"{prog}: error: {one_line(str(code))}", file=sys.stderr)
        return int(ExitCode.USAGE)
    except ProvisionerError as exc:  # our own message (the fleet file's lists every problem on a line)
        print(f"{prog}: error: {exc.message}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return int(ExitCode.INTERRUPTED)
    except Exception as exc:
        if wants_traceback(argv):
            traceback.print_exc(file=sys.stderr)
        hint = "" if wants_traceback(argv) else " (run with -v for the traceback)"
        print(
            f"{prog}: internal error: {type(exc).__name__}: {one_line(str(exc))}{hint}; please report it",
            file=sys.stderr,
        )
        return int(ExitCode.INTERNAL_ERROR)
