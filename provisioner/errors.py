"""Process exit codes shared by both CLIs (the README documents them), and the error tree."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    INVALID_SETTINGS = 1
    USAGE = 2
    JENKINS_FAILURE = 3
    PARTIAL_FAILURE = 4
    UNHEALTHY = 5  # status --fleet: some registry's backups are overdue or failing
    INTERNAL_ERROR = 70  # EX_SOFTWARE: a bug, never 1 (1 means "invalid settings" to CI)
    INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C


class ProvisionerError(Exception):
    """An error that ends a command with a specific exit code and a one-line message."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(ProvisionerError):
    """Bad flags, a missing file, not a git repository, an unknown ref (exit 2)."""

    exit_code = ExitCode.USAGE


class JenkinsFailure(ProvisionerError):
    """Auth, network after retries, a server error, or config that did not read back (exit 3)."""

    exit_code = ExitCode.JENKINS_FAILURE
