"""The backup script's error tree; the CLI alone turns these into exit codes."""

from __future__ import annotations

from provisioner.errors import ExitCode, ProvisionerError

__all__ = ["BackupFailed", "InvalidInput", "LockTimeout", "VerifyFailed"]


class InvalidInput(ProvisionerError):
    """An argument or environment value failed validation (exit 1); nothing has run yet."""

    exit_code = ExitCode.INVALID_SETTINGS

    def __init__(self, argument: str, reason: str) -> None:
        super().__init__(f"invalid {argument}: {reason}")
        self.argument = argument
        self.reason = reason


class BackupFailed(ProvisionerError):
    """Making, verifying or pruning a backup failed (exit 3); nothing partial is left behind."""

    exit_code = ExitCode.JENKINS_FAILURE  # 3: the "backup/verify failed"


class LockTimeout(BackupFailed):
    """Another run holds the registry's lock for longer than the bounded wait."""


class VerifyFailed(BackupFailed):
    """A backup does not verify: checksum, zstd frame, tar member or dump (exit 3); it is not restored."""
