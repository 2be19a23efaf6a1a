"""The `velero` backend: a Velero Backup of the registry's namespace with a TTL; Velero's GC expires it.

Runs ``velero backup create <name> --include-namespaces <ns> --ttl <hours>h0m0s --labels
registry=<registry> --wait``; ``--wait`` returns 0 whatever the outcome, so the phase is then
read with ``velero backup get <name> -o json`` and only ``Completed`` counts as success.

Restores run ``velero restore create <restore> --from-backup <backup> --namespace-mappings
<ns>:<new-ns> --wait`` into a new namespace (``<ns>-restored-<stamp>`` unless ``--to-namespace``);
Velero never replaces existing resources. Again only phase ``Completed`` (read with ``velero
restore get <restore> -o json``) is success.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from provisioner.backup.errors import BackupFailed, VerifyFailed
from provisioner.backup.logs import LOG
from provisioner.backup.outcome import ListedBackup, RunOutcome, VerifyOutcome
from provisioner.backup.procs import Tool, child_env
from provisioner.backup.restore import RestoreResult
from provisioner.backup.retention import PruneResult

__all__ = ["VELERO_ENV", "VeleroBackend", "restored_namespace", "velero_backup_name"]

VELERO_ENV = ("KUBECONFIG", "VELERO_NAMESPACE")
_TIMEOUT = 6 * 3600.0


def velero_backup_name(registry: str, backup_id: str) -> str:
    """``<registry>-<id in lowercase>``, at most 63 characters (a label value in Velero)."""
    suffix = "-" + backup_id.lower()
    return registry[: 63 - len(suffix)].rstrip("-") + suffix


def restored_namespace(namespace: str, now: datetime) -> str:
    """``<ns>-restored-<UTC stamp>``, a DNS-1123 label of at most 63 characters."""
    suffix = "-restored-" + now.astimezone(UTC).strftime("%Y%m%d%H%M%S")
    return namespace[: 63 - len(suffix)].rstrip("-") + suffix


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

    def restore(
        self,
        *,
        backup_id: str | None,
        before: datetime | None,
        to_namespace: str | None,
        dry_run: bool,
        now: datetime,
    ) -> RestoreResult:
        """Restore the chosen backup (``backup_id``, else the newest Completed, at or before ``before``)."""
        started = time.monotonic()
        items = self._get("-l", f"registry={self.registry}")
        listed = [(b, _field(i, "status", "phase")) for i in items if (b := self._listed(i)) is not None]
        listed.sort(key=lambda x: (x[0].created_at, x[0].id), reverse=True)
        good = [b for b, phase in listed if phase == "Completed"]
        skipped: list[tuple[str, str]] = []
        if backup_id is not None:
            chosen = next(((b, p) for b, p in listed if b.id == backup_id), None)
            if chosen is None:
                raise BackupFailed(f"no velero backup {backup_id!r} for registry {self.registry!r}")
            if chosen[1] != "Completed":
                hint = f"the newest backup that passes is {good[0].id}" if good else "no backup passes"
                raise VerifyFailed(
                    f"velero backup {backup_id} is in phase {chosen[1]!r}, not 'Completed'; {hint}"
                )
            backup = chosen[0]
        else:
            window = [(b, p) for b, p in listed if before is None or b.created_at <= before]
            if not window:
                raise BackupFailed(f"registry {self.registry!r} has no velero backup to restore")
            for b, phase in window:
                if phase == "Completed":
                    break
                skipped.append((b.id, f"phase {phase!r}, not 'Completed'"))
                LOG.warning("velero backup is not Completed, trying the next older one", extra={"id": b.id})
            else:
                raise VerifyFailed(f"no velero backup of registry {self.registry!r} is Completed")
            backup = b
        target = to_namespace or restored_namespace(self.namespace, now)
        name = velero_backup_name(f"{self.registry}-restore", now.strftime("%Y%m%dT%H%M%SZ"))
        plan: dict[str, str | int | None] = {
            "backup": backup.id, "restore": name, "namespace": self.namespace, "target": target,
        }  # fmt: skip
        if not dry_run:
            self._run(
                "restore", "create", name,
                "--from-backup", backup.id,
                "--namespace-mappings", f"{self.namespace}:{target}",
                "--wait",
            )  # fmt: skip
            out = self._run("restore", "get", name, "-o", "json")
            try:
                doc = json.loads(out)
            except json.JSONDecodeError as exc:
                raise BackupFailed("velero restore get printed invalid JSON") from exc
            phase = _field(doc, "status", "phase") if isinstance(doc, dict) else None
            if phase != "Completed":
                raise BackupFailed(f"velero restore {name} ended in phase {phase!r}, not 'Completed'")
            LOG.info("namespace restored", extra=plan)
        result = RestoreResult(backup.id, dry_run, None, {}, [], time.monotonic() - started, skipped)
        result.namespace = plan
        return result

    def prune(self, now: datetime) -> PruneResult:
        LOG.info("velero expires backups itself (TTL); nothing to prune", extra={"registry": self.registry})
        return PruneResult()
