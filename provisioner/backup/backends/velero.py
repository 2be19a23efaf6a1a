"""The `velero` backend: a Velero Backup of the registry's namespace with a TTL; Velero's GC expires it.

Runs ``velero backup create <name> --include-namespaces <ns> --ttl <hours>h0m0s --labels
registry=<registry> --wait``; ``--wait`` returns 0 whatever the outcome, so the phase is then
read with ``velero backup get <name> -o json`` and only ``Completed`` counts as success.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from provisioner.backup.errors import BackupFailed
from provisioner.backup.logs import LOG
from provisioner.backup.outcome import ListedBackup, RunOutcome, VerifyOutcome
from provisioner.backup.procs import Tool, child_env
from provisioner.backup.retention import PruneResult

__all__ = ["VELERO_ENV", "VeleroBackend", "velero_backup_name"]

VELERO_ENV = ("KUBECONFIG", "VELERO_NAMESPACE")
_TIMEOUT = 6 * 3600.0


def velero_backup_name(registry: str, backup_id: str) -> str:
    """``<registry>-<id in lowercase>``, at most 63 characters (a label value in Velero)."""
    suffix = "-" + backup_id.lower()
    return registry[: 63 - len(suffix)].rstrip("-") + suffix


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else None


def _items(doc: object) -> list[dict[str, object]]:
    """`velero backup get -o json` prints a single Backup for one match and a BackupList otherwise."""
    if isinstance(doc, dict) and doc.get("kind") == "Backup":
        return [doc]
    if isinstance(doc, dict) and isinstance(doc.get("items"), list):
        return [i for i in doc["items"] if isinstance(i, dict)]
    raise BackupFailed("velero printed JSON that is neither a Backup nor a BackupList")


def _field(obj: Mapping[str, object], *path: str) -> object:
    cur: object = obj
    for key in path:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(key)
    return cur


@dataclass(frozen=True)
class VeleroBackend:
    velero: Tool
    registry: str
    namespace: str
    environ: Mapping[str, str]

    def _run(self, *args: str) -> bytes:
        proc = self.velero.run(args, env=child_env(self.environ, VELERO_ENV), timeout=_TIMEOUT)
        if proc.returncode != 0:
            tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
            raise BackupFailed(
                f"velero {' '.join(args[:2])} failed (exit {proc.returncode}): " + " / ".join(tail)
            )
        return proc.stdout

    def _get(self, *selector: str) -> list[dict[str, object]]:
        out = self._run("backup", "get", *selector, "-o", "json")
        try:
            return _items(json.loads(out))
        except json.JSONDecodeError as exc:
            raise BackupFailed("velero backup get printed invalid JSON") from exc

    def _listed(self, item: Mapping[str, object]) -> ListedBackup | None:
        name = _field(item, "metadata", "name")
        labels = _field(item, "metadata", "labels")
        if (
            not isinstance(name, str)
            or not isinstance(labels, dict)
            or labels.get("registry") != self.registry
        ):
            return None
        created = _parse_time(_field(item, "status", "startTimestamp")) or _parse_time(
            _field(item, "metadata", "creationTimestamp")
        )
        expires = _parse_time(_field(item, "status", "expiration"))
        if created is None or expires is None:
            return None
        return ListedBackup(name, created, expires, None, None)

    def run(self, *, hours: int, now: datetime, backup_id: str) -> RunOutcome:
        name = velero_backup_name(self.registry, backup_id)
        LOG.info("backup started", extra={"registry": self.registry, "id": name, "backend": "velero"})
        self._run(
            "backup", "create", name,
            "--include-namespaces", self.namespace,
            "--ttl", f"{hours}h0m0s",
            "--labels", f"registry={self.registry}",
            "--wait",
        )  # fmt: skip
        items = self._get(name)
        phase = _field(items[0], "status", "phase") if len(items) == 1 else None
        if phase != "Completed":
            raise BackupFailed(f"velero backup {name} ended in phase {phase!r}, not 'Completed'")
        listed = self._listed(items[0]) or ListedBackup(name, now, now + timedelta(hours=hours), None, None)
        LOG.info("backup written", extra={"registry": self.registry, "id": name, "phase": phase})
        return RunOutcome(self.registry, "velero", listed, ())

    def list(self) -> list[ListedBackup]:
        found = [b for b in (self._listed(i) for i in self._get("-l", f"registry={self.registry}")) if b]
        return sorted(found, key=lambda b: (b.created_at, b.id), reverse=True)

    def verify(self, backup_id: str | None) -> VerifyOutcome:
        items = self._get("-l", f"registry={self.registry}")
        checked = []
        for item in items:
            listed = self._listed(item)
            if listed is None or (backup_id is not None and listed.id != backup_id):
                continue
            checked.append((listed.id, _field(item, "status", "phase") == "Completed"))
        if backup_id is not None and not checked:
            raise BackupFailed(f"no velero backup {backup_id!r} for registry {self.registry!r}")
        return VerifyOutcome(tuple(checked))

    def prune(self, now: datetime) -> PruneResult:
        LOG.info("velero expires backups itself (TTL); nothing to prune", extra={"registry": self.registry})
        return PruneResult()
