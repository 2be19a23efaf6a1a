"""`backup-registry restore`: get a registry's data back from a backup, into new targets, safely.

The order of events for one backup:

1. Targets are checked before anything is read: ``--to`` is new or empty (non-empty only with
   ``--force``, and then no restored name may already exist in it); each database's target
   (``<db>_restored_<id>`` or as mapped) does not exist (``--force``: the existing one is kept,
   renamed to ``<name>_replaced_<stamp>``, never dropped).
2. The check pass (:func:`~provisioner.backup.restorewalk.walk`, nothing written) when the backup
   holds databases or for ``--dry-run``: checksum, zstd frames, every tar member, ``pg_restore
   --list`` of every dump. The database targets of step 1 are looked up (``psql``, read only)
   while it runs; a refusal of the check pass is reported first.
3. The restore pass: directories into a temp directory beside the target (locked with ``flock``
   while in use, so the next restore can tell a dead restore's leftovers from a live one and
   removes them), dumps into temp databases; all of it checked again while read.
4. Only when the stream verified to its end: databases renamed into place (one transaction
   each), then the temp directory renamed into place. A crash before that leaves nothing that
   looks restored; any failure removes the temp directory and drops the temp databases.

``--latest`` and ``--before`` take the newest backup that passes (a backup that fails is skipped
with a warning); ``--id`` refuses a backup that fails and names the newest one that passes.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from provisioner._fs import TEMP_PREFIX, fsync_dir
from provisioner.backup.errors import BackupFailed, InvalidInput, VerifyFailed
from provisioner.backup.logs import LOG
from provisioner.backup.pgrestore import PgServer
from provisioner.backup.restorewalk import Inventory, walk
from provisioner.backup.tarsource import TarSource
from provisioner.backup.untar import TreeWriter

__all__ = [
    "Candidate",
    "RestoreOptions",
    "RestoreResult",
    "restore",
    "restore_one",
    "sweep_stale",
    "target_database",
]

RESTORE_TEMP_PREFIX = TEMP_PREFIX + "restore-"
_Plan = dict[str, tuple[str, str | None]]  # database -> (target, name the existing target gets)


@dataclass(frozen=True)
class RestoreOptions:
    backup_id: str | None = None  # --id
    before: datetime | None = None  # --before (None with backup_id None: --latest)
    to: Path | None = None
    db_map: tuple[tuple[str, str], ...] = ()
    dry_run: bool = False
    force: bool = False
    # for drills: scratch database names instead of <db>_restored_<id>, and per-file SHA-256 digests
    db_target: Callable[[str], str] | None = None
    digests: bool = False


@dataclass(frozen=True)
class Candidate:
    """A backup that may be restored: ``open()`` streams its tar; ``sources`` as recorded, if known."""

    id: str
    created_at: datetime
    open: Callable[[], AbstractContextManager[TarSource]]
    sources: tuple[dict[str, str], ...] | None = None

    def databases(self) -> list[str] | None:
        if self.sources is None:
            return None
        return [s["database"] for s in self.sources if s.get("type") == "postgres" and "database" in s]

    def tree_names(self) -> list[str] | None:
        if self.sources is None:
            return None
        names = [s.get("member", "") for s in self.sources if s.get("type") == "directory"]
        return [n.removeprefix("dirs/") for n in names if n.startswith("dirs/")]


@dataclass
class RestoreResult:
    backup_id: str
    dry_run: bool
    to: Path | None
    trees: dict[str, list[int]]
    databases: list[dict[str, str | int | None]]
    seconds: float
    skipped: list[tuple[str, str]] = field(default_factory=list)
    digests: dict[bytes, tuple[int, str]] = field(default_factory=dict)  # with RestoreOptions.digests
    manifest: object | None = None
    namespace: dict[str, str | int | None] | None = None  # velero: backup, restore, namespace, target

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.backup_id,
            "dryRun": self.dry_run,
            "to": None if self.to is None else str(self.to),
            "directories": [
                {"name": name, "entries": n, "bytes": size} for name, (n, size) in sorted(self.trees.items())
            ],
            "databases": self.databases,
            "seconds": round(self.seconds, 3),
            "skipped": [{"id": i, "reason": why} for i, why in self.skipped],
            "namespace": self.namespace,
        }


def target_database(database: str, backup_id: str, db_map: dict[str, str]) -> str:
    name = db_map.get(database, f"{database}_restored_{backup_id.lower()}")
    if len(name) > 63:
        raise InvalidInput(
            "--pg-database-map", f"{name!r} is longer than 63 characters: map {database}=NEWNAME"
        )
    return name


def sweep_stale(folder: Path) -> None:
    """Remove temp directories of restores that died (their ``flock`` is free); keep live ones."""
    try:
        names = [n for n in os.listdir(folder) if n.startswith(RESTORE_TEMP_PREFIX)]
    except FileNotFoundError:
        return
    for name in names:
        path = folder / name
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue  # a restore in progress
        try:
            LOG.warning("removing an interrupted restore's temp directory", extra={"path": str(path)})
            shutil.rmtree(path, ignore_errors=True)
        finally:
            os.close(fd)


@dataclass
class _TreeTarget:
    """Where restored directories go: a locked temp directory, renamed into place at the end."""

    to: Path
    names: list[str]
    force: bool
    temp: Path | None = None
    fd: int = -1

    def check(self) -> None:
        if self.to.exists() and any(self.to.iterdir()):
            if not self.force:
                raise InvalidInput("--to", f"{str(self.to)!a} is not empty (add --force to restore into it)")
            taken = [n for n in self.names if os.path.lexists(self.to / n)]
            if taken:
                raise InvalidInput(
                    "--to", f"{str(self.to / taken[0])!a} exists: --force never replaces what is there"
                )

    def open(self) -> int:
        self.check()
        beside = self.to if self.force and self.to.exists() and any(self.to.iterdir()) else self.to.parent
        sweep_stale(beside)
        self.temp = beside / f"{RESTORE_TEMP_PREFIX}{self.to.name[:40]}.{secrets.token_hex(6)}"
        os.mkdir(self.temp, 0o700)
        self.fd = os.open(self.temp, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return self.fd

    def commit(self) -> None:
        assert self.temp is not None
        fsync_dir(self.temp)
        if self.temp.parent == self.to:  # --force into a non-empty directory: one rename per source
            for name in sorted(os.listdir(self.temp)):
                if os.path.lexists(self.to / name):
                    raise BackupFailed(f"{str(self.to / name)!a} appeared during the restore; not replaced")
                os.rename(self.temp / name, self.to / name)
            os.rmdir(self.temp)
            fsync_dir(self.to)
        else:
            if self.to.exists():
                os.chmod(self.temp, self.to.stat().st_mode & 0o7777)
            else:  # a new directory, as mkdir would have made it
                umask = os.umask(0o022)
                os.umask(umask)
                os.chmod(self.temp, 0o777 & ~umask)
            os.rename(self.temp, self.to)  # replaces an empty directory atomically, never a full one
            fsync_dir(self.to.parent)
        self.temp = None

    def close(self) -> None:
        if self.temp is not None:
            shutil.rmtree(self.temp, ignore_errors=True)
            self.temp = None
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _plan_databases(
    cand: Candidate, databases: list[str], opts: RestoreOptions, pg: Callable[[], PgServer]
) -> _Plan:
    """database -> (target, name the existing target is renamed to, if any); refusals raise."""
    db_map = dict(opts.db_map)
    unknown = sorted(set(db_map) - set(databases))
    if unknown:
        raise InvalidInput("--pg-database-map", f"backup {cand.id} has no database {unknown[0]!r}")
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    plan: _Plan = {}
    for database in databases:
        final = opts.db_target(database) if opts.db_target else target_database(database, cand.id, db_map)
        replaced = None
        if pg().exists(final):
            if not opts.force:
                raise InvalidInput(
                    "--pg-database-map", f"database {final!r} exists (add --force, or map {database}=NEWNAME)"
                )
            replaced = f"{final[:34]}_replaced_{stamp}"
        plan[database] = (final, replaced)
    return plan


def _plan_ahead(
    cand: Candidate, databases: list[str], opts: RestoreOptions, pg: Callable[[], PgServer]
) -> _Plan:
    """:func:`_plan_databases` during the check pass; then the psql that will create the first temp
    database is started (it logs in meanwhile; nothing is sent to it before the check passed)."""
    plan = _plan_databases(cand, databases, opts, pg)
    if not opts.dry_run:
        pg().prestart(pg().maintenance_db)
    return plan


def restore_one(cand: Candidate, opts: RestoreOptions, pg: Callable[[], PgServer]) -> RestoreResult:
    made: list[PgServer] = []

    def server() -> PgServer:
        if not made:
            made.append(pg())
        return made[0]

    try:
        return _restore_one(cand, opts, server)
    finally:
        for used in made:
            used.discard_ready()  # psql sessions started ahead that a refusal or failure left unused


def _restore_one(cand: Candidate, opts: RestoreOptions, pg: Callable[[], PgServer]) -> RestoreResult:
    started = time.monotonic()
    databases, names = cand.databases(), cand.tree_names()
    checked: Inventory | None = None
    early: Future[_Plan] | None = None
    if opts.dry_run or databases is None or databases:
        with ThreadPoolExecutor(1) as pool:
            if databases:  # the targets (psql queries, nothing written) are looked up meanwhile
                early = pool.submit(_plan_ahead, cand, sorted(databases), opts, pg)
            with cand.open() as source:
                checked = walk(source, pg=pg)  # its refusal comes first, as if run alone
        databases, names = sorted(checked.dumps), sorted(checked.trees)
    assert databases is not None and names is not None
    if names and opts.to is None:
        raise InvalidInput("--to", f"backup {cand.id} holds directories ({', '.join(names)}): give --to DIR")
    tree = _TreeTarget(opts.to, names, opts.force) if names and opts.to is not None else None
    if tree is not None:
        tree.check()
    if early is not None and sorted(cand.databases() or ()) == databases:
        plan = early.result()
    else:
        plan = _plan_databases(cand, databases, opts, pg) if databases else {}
    if opts.dry_run:
        assert checked is not None
        rows: list[dict[str, str | int | None]] = [
            {"database": db, "target": final, "replaces": replaced, "tocEntries": checked.dumps[db]}
            for db, (final, replaced) in sorted(plan.items())
        ]
        return RestoreResult(cand.id, True, opts.to, checked.trees, rows, time.monotonic() - started)
    inventory: Inventory | None = None
    try:
        writer = TreeWriter(tree.open()) if tree is not None else None
        try:
            with cand.open() as source:
                inventory = Inventory()
                walk(
                    source,
                    writer=writer,
                    pg=pg if plan else None,
                    restore_dbs=True,
                    digests=opts.digests,
                    inventory=inventory,
                )
        finally:
            if writer is not None:
                writer.close()
        changed = tree is not None and set(inventory.trees) != set(names)
        if changed or set(inventory.restored_dbs) != set(plan):
            raise VerifyFailed(f"backup {cand.id} changed between the check and the restore")
        rows = []
        for db, (final, replaced) in sorted(plan.items()):
            pg().rename_into_place(inventory.restored_dbs.pop(db), final, replaced)
            size = inventory.dumps[db]
            rows.append({"database": db, "target": final, "replaces": replaced, "dumpBytes": size})
            LOG.info("database restored", extra={"database": db, "target": final, "replaced": replaced})
        if tree is not None:
            tree.commit()
    finally:
        if tree is not None:
            tree.close()
        if inventory is not None:
            for temp in inventory.restored_dbs.values():
                pg().drop_quietly(temp)
    result = RestoreResult(cand.id, False, opts.to, inventory.trees, rows, time.monotonic() - started)
    result.digests, result.manifest = inventory.digests, inventory.manifest
    return result


def restore(
    candidates: Sequence[Candidate], opts: RestoreOptions, pg: Callable[[], PgServer], registry: str
) -> RestoreResult:
    """Restore the selected backup (candidates newest first); see the module docstring."""
    if opts.backup_id is not None:
        chosen = [c for c in candidates if c.id == opts.backup_id]
        if not chosen:
            raise BackupFailed(f"no backup {opts.backup_id!r} for registry {registry!r}")
        try:
            return restore_one(chosen[0], opts, pg)
        except VerifyFailed as exc:
            good = _newest_passing([c for c in candidates if c.id != opts.backup_id], pg)
            hint = f"the newest backup that passes is {good}" if good else "no other backup passes"
            raise VerifyFailed(f"backup {opts.backup_id} is refused: {exc}; {hint}") from exc
    if opts.before is not None:
        candidates = [c for c in candidates if c.created_at <= opts.before]
    skipped: list[tuple[str, str]] = []
    for cand in candidates:
        try:
            result = restore_one(cand, opts, pg)
        except VerifyFailed as exc:
            LOG.warning(
                "backup does not verify, trying the next older one", extra={"id": cand.id, "error": str(exc)}
            )
            skipped.append((cand.id, str(exc)))
            continue
        result.skipped = skipped
        return result
    when = "" if opts.before is None else f" at or before {opts.before.strftime('%Y-%m-%dT%H:%M:%SZ')}"
    if not skipped:
        raise BackupFailed(f"registry {registry!r} has no backup{when}")
    raise VerifyFailed(f"no backup of registry {registry!r}{when} passes verification ({len(skipped)} tried)")


def _newest_passing(candidates: Sequence[Candidate], pg: Callable[[], PgServer]) -> str | None:
    for cand in candidates:
        try:
            with cand.open() as source:
                walk(source, pg=pg)
        except VerifyFailed:
            continue
        return cand.id
    return None
