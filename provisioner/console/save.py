"""Saving backup settings: one commit of values.yaml, by the admin, on the branch head they saw.

Under a lock per registry: the branch head must still be the base the admin edited (else
:class:`Conflict`: two admins never overwrite each other silently), values.yaml must be committed as
it stands, only global.registryBackup changes (:mod:`provisioner.upgrade.edit`), the commit names
the admin as author, and it is pushed to the branch's upstream when there is one. A rejected push
takes the commit back (nothing is left half-saved). One audit line per save.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from provisioner._fs import write_text_atomically
from provisioner.console.auth import Principal
from provisioner.console.state import Committed, RegistrySource, Settings
from provisioner.errors import UsageError
from provisioner.gitsource import Author, clean_values_file, commit_file, push, undo_commit
from provisioner.jobs.audit import audit_timestamp, emit_audit
from provisioner.upgrade.edit import NewSettings, set_backup_settings

EVENT = "backup-settings-saved"


class Conflict(Exception):
    """The branch moved on since the admin loaded the page."""

    def __init__(self, current: Committed) -> None:
        super().__init__("the branch has moved on")
        self.current = current


class PushRejected(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class SaveOutcome:
    commit: str
    changes: dict[str, list[object]]  # field -> [old, new]
    unchanged: bool
    pushed_to: str | None

    def to_json(self) -> dict[str, object]:
        return {
            "commit": self.commit,
            "changes": self.changes,
            "unchanged": self.unchanged,
            "pushedTo": self.pushed_to,
        }


def changes_between(committed: Committed, new: NewSettings) -> dict[str, list[object]]:
    old = committed.result.settings
    pairs: dict[str, tuple[object, object]] = {
        "enabled": (old.enabled if old else None, new.enabled),
        "schedule": (old.schedule if old else None, new.schedule),
        "expiresInDays": (old.expires_in_days if old else None, new.expires_in_days),
    }
    return {key: [a, b] for key, (a, b) in pairs.items() if a != b}


def commit_message(registry: str, changes: dict[str, list[object]], who: Principal) -> str:
    summary = ", ".join(f"{key} {old!r} -> {new!r}" for key, (old, new) in changes.items())
    return (
        f"Backup settings of {registry}: {summary}\n\n"
        f"Saved in the admin console by {who.name} <{who.email}>; only global.registryBackup changed.\n"
    )


class Saver:
    def __init__(self, settings: Settings, audit_log: Path | None, clock: Callable[[], datetime]) -> None:
        self.settings, self.audit_log, self.clock = settings, audit_log, clock
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, repo: Path) -> threading.Lock:
        """One lock per repository: registries sharing a checkout commit one at a time."""
        with self._guard:
            return self._locks.setdefault(str(repo.resolve()), threading.Lock())

    def save(self, source: RegistrySource, base: str, new: NewSettings, who: Principal) -> SaveOutcome:
        """Commit (and push) the new settings; Conflict, EditError, PushRejected or UsageError."""
        with self._lock(source.repo):
            committed = self.settings.committed(source)
            if committed.head != base:
                raise Conflict(committed)
            target = clean_values_file(source.repo, source.values_path)
            from provisioner.gitsource import read_values_from_git

            old_text = read_values_from_git(source.repo, base, source.values_path).text
            new_text = set_backup_settings(old_text, new, self.settings.policy)
            changes = changes_between(committed, new)
            if new_text == old_text:
                return SaveOutcome(base, {}, True, None)
            write_text_atomically(target, new_text)
            try:
                commit = commit_file(
                    source.repo,
                    source.values_path,
                    commit_message(source.name, changes, who),
                    Author(who.name, who.email),
                )
            except BaseException:
                write_text_atomically(target, old_text)
                raise
            pushed = None
            if source.push_to is not None:
                remote, branch = source.push_to
                try:
                    push(source.repo, remote, branch)
                except UsageError as exc:
                    undo_commit(source.repo, base)
                    self._audit(source, who, base, None, changes, error=f"push to {remote}/{branch} rejected")
                    raise PushRejected(
                        f"pushing to {remote}/{branch} was rejected, so nothing was saved: {exc.message}"
                    ) from exc
                pushed = f"{remote}/{branch}"
            self._audit(source, who, base, commit, changes)
            return SaveOutcome(commit, changes, False, pushed)

    def _audit(
        self,
        source: RegistrySource,
        who: Principal,
        base: str,
        commit: str | None,
        changes: dict[str, list[object]],
        error: str | None = None,
    ) -> None:
        emit_audit(
            {
                "ts": audit_timestamp(self.clock()),
                "event": EVENT,
                "registry": source.name,
                "actor": who.to_json(),
                "via": who.via,
                "base": base,
                "commit": commit,
                "changes": changes,
                "result": "ok" if error is None else "error",
                "error": error,
            },
            self.audit_log,
        )
