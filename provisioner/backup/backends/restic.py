"""The `restic` backend: one snapshot per backup, made from the same tar stream as the archive.

The tar stream (databases dumped with pg_dump, then directory trees) is hashed while it is piped
into ``restic backup --stdin``; the snapshot is tagged ``registry=<name>``, ``backup-id=<id>``,
``expires=<UTC>`` and ``tool=backup-registry``, then ``sha256=`` and ``size=`` once the stream is
complete. Verify streams ``restic dump`` back and re-hashes it. Retention forgets only snapshots
of this registry that carry all of our tags, by explicit snapshot id. The repository location
(which may hold credentials) and the password reach restic only through the environment.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import re
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

from provisioner.backup.archive import HashingWriter, stream_tar
from provisioner.backup.errors import BackupFailed
from provisioner.backup.ids import STAMP, created_at, is_backup_id, new_backup_id
from provisioner.backup.logs import LOG, Progress
from provisioner.backup.outcome import ListedBackup, RunOutcome, VerifyOutcome
from provisioner.backup.pgdump import PgDumpSource
from provisioner.backup.procs import Tool, child_env
from provisioner.backup.restore import Candidate
from provisioner.backup.retention import PruneResult, plan_prune
from provisioner.backup.store import format_utc, parse_utc
from provisioner.backup.tarsource import restic_source

__all__ = ["RESTIC_ENV", "ResticBackend", "ResticSnapshot"]

# Deliberately not RESTIC_PASSWORD_COMMAND: that would let the environment run a program.
RESTIC_ENV = (
    "RESTIC_PASSWORD_FILE",
    "RESTIC_PASSWORD",
    "RESTIC_CACHE_DIR",
    "RESTIC_COMPRESSION",
    "XDG_CACHE_HOME",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
)
_TOOL_TAG = "tool=backup-registry"
_HEX64 = re.compile(r"[0-9a-f]{64}", re.ASCII)
_TIMEOUT = 6 * 3600.0


@dataclass(frozen=True)
class ResticSnapshot:
    snapshot_id: str
    backup_id: str
    created_at: datetime
    expires_at: datetime
    sha256: str
    size_bytes: int
    filename: str
    last_drill: dict[str, object] | None = None
    last_good_drill: dict[str, object] | None = None

    def listed(self) -> ListedBackup:
        return ListedBackup(
            self.backup_id,
            self.created_at,
            self.expires_at,
            self.sha256,
            self.size_bytes,
            self.last_drill,
            self.last_good_drill,
        )


_DRILL_TAGS = {"lastDrill": "last-drill", "lastSuccessfulDrill": "last-good-drill"}


def drill_tag(key: str, entry: Mapping[str, object]) -> str:
    """``last-drill=<UTC stamp>/<ok|failed>/<seconds>`` (restic tags cannot hold a comma)."""
    at = parse_utc(str(entry["at"])).strftime(STAMP)
    return f"{_DRILL_TAGS[key]}={at}/{entry['result']}/{entry['seconds']}"


def _drill_from_tag(text: str | None) -> dict[str, object] | None:
    """The drill record in a tag, or None when absent or not ours."""
    parts = (text or "").split("/")
    if len(parts) != 3:
        return None
    stamp, result, seconds = parts
    if len(stamp) != 16 or not is_backup_id(stamp) or result not in ("ok", "failed"):
        return None
    if not re.fullmatch(r"[0-9]{1,9}(\.[0-9]{1,6})?", seconds, re.ASCII):
        return None
    return {"at": format_utc(created_at(stamp)), "result": result, "seconds": float(seconds)}


def _tags(snapshot: Mapping[str, object]) -> dict[str, str]:
    raw = snapshot.get("tags")
    out: dict[str, str] = {}
    if isinstance(raw, list):
        for tag in raw:
            if isinstance(tag, str) and "=" in tag:
                key, _, value = tag.partition("=")
                out.setdefault(key, value)
    return out


def parse_snapshot(snapshot: object, registry: str) -> ResticSnapshot | None:
    """A snapshot made (completely) by this tool for ``registry``, or None."""
    if not isinstance(snapshot, dict):
        return None
    tags = _tags(snapshot)
    raw_tags = snapshot.get("tags")
    sid, paths = snapshot.get("id"), snapshot.get("paths")
    if not (isinstance(raw_tags, list) and _TOOL_TAG in raw_tags and tags.get("registry") == registry):
        return None
    if not (isinstance(sid, str) and _HEX64.fullmatch(sid)):
        return None
    backup_id, sha, size = tags.get("backup-id", ""), tags.get("sha256", ""), tags.get("size", "")
    if not (is_backup_id(backup_id) and _HEX64.fullmatch(sha) and size.isascii() and size.isdigit()):
        return None
    if not (isinstance(paths, list) and len(paths) == 1 and isinstance(paths[0], str)):
        return None
    try:
        created = created_at(backup_id)
        expires = datetime.strptime(tags.get("expires", ""), STAMP).replace(tzinfo=UTC)
    except ValueError:
        return None
    return ResticSnapshot(
        sid,
        backup_id,
        created,
        expires,
        sha,
        int(size),
        paths[0],
        _drill_from_tag(tags.get(_DRILL_TAGS["lastDrill"])),
        _drill_from_tag(tags.get(_DRILL_TAGS["lastSuccessfulDrill"])),
    )


@dataclass(frozen=True)
class ResticBackend:
    restic: Tool
    repo: str
    registry: str
    environ: Mapping[str, str]
    verify_after_write: bool = True
    jobs: int = 1  # pg_dump processes at once

    def _env(self) -> dict[str, str]:
        return child_env(self.environ, RESTIC_ENV, RESTIC_REPOSITORY=self.repo)

    def _run(self, *args: str, timeout: float = _TIMEOUT) -> bytes:
        proc = self.restic.run(args, env=self._env(), timeout=timeout)
        if proc.returncode != 0:
            tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
            raise BackupFailed(f"restic {args[0]} failed (exit {proc.returncode}): " + " / ".join(tail))
        return proc.stdout

    def _snapshots(self) -> list[object]:
        out = self._run("snapshots", "--json", "--tag", f"registry={self.registry}")
        try:
            data = json.loads(out or b"[]")
        except json.JSONDecodeError as exc:
            raise BackupFailed("restic snapshots printed invalid JSON") from exc
        if not isinstance(data, list):
            raise BackupFailed("restic snapshots --json did not print a list")
        return data

    def snapshots(self) -> list[ResticSnapshot]:
        found = [s for s in (parse_snapshot(raw, self.registry) for raw in self._snapshots()) if s]
        return sorted(found, key=lambda s: s.backup_id, reverse=True)

    # -- run ---------------------------------------------------------------------------------
    def run(
        self,
        *,
        hours: int,
        dirs: Sequence[Path],
        databases: Sequence[PgDumpSource],
        now: datetime,
        prune: bool,
    ) -> RunOutcome:
        created = now.astimezone(UTC).replace(microsecond=0)
        taken = {s.backup_id for s in self.snapshots()}
        backup_id = new_backup_id(created, taken)
        expires = created + timedelta(hours=hours)
        filename = f"{self.registry}-{backup_id}.tar"
        LOG.info("backup started", extra={"registry": self.registry, "id": backup_id, "backend": "restic"})
        argv = (
            "backup", "--json", "--stdin", "--stdin-filename", filename,
            "--host", "backup-registry", "--time", created.strftime("%Y-%m-%d %H:%M:%S"),
            "--tag", f"registry={self.registry}", "--tag", f"backup-id={backup_id}",
            "--tag", f"expires={expires.strftime(STAMP)}", "--tag", _TOOL_TAG,
        )  # fmt: skip
        digest, size, short_id = self._backup_stream(argv, dirs, databases, Progress(f"backup {backup_id}"))
        try:
            # Tagging rewrites the snapshot (restic gives it a new id): find it again by its tags.
            self._run("tag", "--add", f"sha256={digest}", "--add", f"size={size}", short_id)
            snap = next((s for s in self.snapshots() if s.backup_id == backup_id), None)
            if snap is None:
                raise BackupFailed(f"restic snapshot of backup {backup_id} not found after tagging")
            if self.verify_after_write and not self.verify_snapshot(snap):
                raise BackupFailed(f"verify after write failed for restic snapshot {snap.snapshot_id[:8]}")
        except BaseException:
            # Nothing partial: forget whatever snapshot this run made.
            with contextlib.suppress(BackupFailed):
                leftovers = self._ids_of(backup_id)
                if leftovers:
                    self._run("forget", *leftovers)
            raise
        LOG.info(
            "backup written",
            extra={
                "registry": self.registry,
                "id": backup_id,
                "snapshot": snap.snapshot_id,
                "sizeBytes": size,
            },
        )
        verified = snap.snapshot_id if self.verify_after_write else None
        pruned = self.prune(now, known_good=verified).pruned if prune else []
        return RunOutcome(self.registry, "restic", snap.listed(), tuple(pruned))

    def _ids_of(self, backup_id: str) -> list[str]:
        ids = []
        for raw in self._snapshots():
            if isinstance(raw, dict) and f"backup-id={backup_id}" in (raw.get("tags") or []):
                sid = raw.get("id")
                if isinstance(sid, str) and _HEX64.fullmatch(sid):
                    ids.append(sid)
        return ids

    def _backup_stream(
        self, args: Sequence[str], dirs: Sequence[Path], databases: Sequence[PgDumpSource], progress: Progress
    ) -> tuple[str, int, str]:
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(
                self.restic.argv(*args), stdin=subprocess.PIPE, stdout=out, stderr=err, env=self._env()
            )
            assert proc.stdin is not None
            writer = HashingWriter(_PipeSink(proc.stdin), progress)
            try:
                stream_tar(writer, dirs, databases, spool_dir=None, progress=progress, jobs=self.jobs)
                proc.stdin.close()
            except BaseException:
                # Kill restic before it sees end-of-input, so no snapshot of a partial stream is made.
                proc.kill()
                proc.wait()
                raise
            finally:
                progress.finish()
            try:
                code = proc.wait(timeout=_TIMEOUT)
            except subprocess.TimeoutExpired as exc:
                proc.kill()
                proc.wait()
                raise BackupFailed("restic backup timed out") from exc
            if code != 0:
                err.seek(0)
                tail = err.read().decode("utf-8", "replace").strip().splitlines()[-3:]
                raise BackupFailed(f"restic backup failed (exit {code}): " + " / ".join(tail))
            out.seek(0)
            summary = [
                line for line in (json.loads(x) for x in out.read().splitlines() if x.startswith(b"{"))
                if isinstance(line, dict) and line.get("message_type") == "summary"
            ]  # fmt: skip
            short_id = summary[-1].get("snapshot_id") if summary else None
            if not isinstance(short_id, str) or not re.fullmatch(r"[0-9a-f]{8,64}", short_id, re.ASCII):
                raise BackupFailed("restic backup printed no JSON summary with a snapshot id")
        return writer.digest.hexdigest(), writer.size, short_id

    # -- verify --------------------------------------------------------------------------------
    def verify_snapshot(self, snap: ResticSnapshot) -> bool:
        """Stream the snapshot's tar back with ``restic dump`` and compare size and SHA-256."""
        digest = hashlib.sha256()
        size = 0
        with tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(
                self.restic.argv("dump", snap.snapshot_id, snap.filename),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
                env=self._env(),
            )
            assert proc.stdout is not None
            while chunk := proc.stdout.read(1024 * 1024):
                digest.update(chunk)
                size += len(chunk)
            code = proc.wait()
        ok = code == 0 and size == snap.size_bytes and digest.hexdigest() == snap.sha256
        (LOG.info if ok else LOG.error)(
            "verified backup" if ok else "backup is corrupt or unreadable",
            extra={"registry": self.registry, "id": snap.backup_id, "snapshot": snap.snapshot_id, "ok": ok},
        )
        return ok

    def list(self) -> list[ListedBackup]:
        return [s.listed() for s in self.snapshots()]

    def verify(self, backup_id: str | None) -> VerifyOutcome:
        snaps = self.snapshots()
        if backup_id is not None:
            snaps = [s for s in snaps if s.backup_id == backup_id]
            if not snaps:
                raise BackupFailed(f"no backup {backup_id!r} for registry {self.registry!r}")
        return VerifyOutcome(tuple((s.backup_id, self.verify_snapshot(s)) for s in snaps))

    # -- restore -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """restic's own repository lock keeps `forget --prune` away from a running `restic dump`."""
        yield

    def record_drill(self, backup_id: str, entry: dict[str, object]) -> None:
        """Replace the snapshot's drill tags (restic rewrites the snapshot under a new id)."""
        snap = next((s for s in self.snapshots() if s.backup_id == backup_id), None)
        if snap is None:
            raise BackupFailed(f"backup {backup_id!r} disappeared before its drill could be recorded")
        raw = next(
            (r for r in self._snapshots() if isinstance(r, dict) and r.get("id") == snap.snapshot_id), {}
        )
        keys = ["lastDrill", "lastSuccessfulDrill"] if entry["result"] == "ok" else ["lastDrill"]
        prefixes = tuple(_DRILL_TAGS[k] + "=" for k in keys)
        args: list[str] = []
        for tag in raw.get("tags") or []:
            if isinstance(tag, str) and tag.startswith(prefixes):
                args += ["--remove", tag]
        for key in keys:
            args += ["--add", drill_tag(key, entry)]
        self._run("tag", *args, snap.snapshot_id)

    def candidates(self) -> Sequence[Candidate]:
        return [
            Candidate(
                s.backup_id,
                s.created_at,
                functools.partial(
                    restic_source,
                    self.restic,
                    self._env(),
                    s.snapshot_id,
                    s.filename,
                    s.sha256,
                    s.size_bytes,
                    f"backup {s.backup_id}",
                ),
                None,
            )
            for s in self.snapshots()
        ]

    # -- prune ---------------------------------------------------------------------------------
    def prune(self, now: datetime, known_good: str | None = None) -> PruneResult:
        """Forget expired snapshots of this registry; ``known_good`` is a snapshot id verified just now."""
        snaps = self.snapshots()
        plan = plan_prune(
            snaps,
            key=lambda s: s.backup_id,
            expires=lambda s: s.expires_at,
            verified=lambda s: s.snapshot_id == known_good or self.verify_snapshot(s),
            now=now,
        )
        result = PruneResult(kept_newest_verified=plan.keep_newest_verified)
        doomed = [s for s in snaps if s.backup_id in plan.delete]
        if doomed:
            self._run("forget", "--prune", *(s.snapshot_id for s in doomed))
            for snap in doomed:
                result.pruned.append(snap.backup_id)
                LOG.info("pruned expired backup", extra={"registry": self.registry, "id": snap.backup_id})
        return result


class _PipeSink:
    def __init__(self, pipe: IO[bytes]) -> None:
        self._pipe = pipe

    def write(self, data: bytes | memoryview) -> int:
        try:
            return self._pipe.write(data)
        except BrokenPipeError as exc:
            raise BackupFailed("restic stopped reading the backup stream") from exc
