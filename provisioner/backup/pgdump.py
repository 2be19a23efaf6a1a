"""PostgreSQL dumps streamed into the backup's tar stream: compressed once, written once, concurrent.

Each database is dumped with ``pg_dump --format=custom --compress=0``: the archive compresses
everything once, with zstd (pg_dump's own gzip first made the data compressed twice, at about
twice the time). The dump goes into the tar as it comes out of pg_dump, as a run of consecutive
members of at most :data:`PART_SIZE` bytes each::

    postgres/<db>.dump.part-000000, postgres/<db>.dump.part-000001, ...

whose concatenation is the dump (``cat postgres/<db>.dump.part-* > <db>.dump`` after
``tar --zstd -xf``; :mod:`provisioner.backup.dumpread` reads it without extracting). Why parts: a
tar member needs its size in the header before its data, and a dump's size is known only at its
end; one member would mean spooling the whole dump first (the second write this design removes),
or patching the size into the file afterwards, which breaks the one-pass SHA-256 and cannot work
for restic, which reads the same tar stream through a pipe. Parts keep both: the stream is written
in one pass and is a plain PAX tar.

Concurrency (``jobs``): up to ``jobs`` pg_dump processes run at once. The database being written
into the tar hands its parts over in memory (a few parts at most: back-pressure stops pg_dump);
the others write their output to an anonymous spool file (``O_TMPFILE``: never visible, gone on a
crash) until the writer reaches them, reads their spool, then takes their parts live. Databases
appear in the tar in the order given, each dump's parts together. A pg_dump that fails (exit != 0,
killed, server gone) fails the backup at once, even while the writer is on another database: the
other pg_dumps are killed, nothing new starts, and the caller removes everything it wrote.

Not ``--format=directory --jobs N``: it writes one file per table, in parallel, so nothing can be
streamed before the files are complete (a second write again), and its parallelism is per table,
which does nothing for a registry whose data sits mostly in one table. A custom-format dump written
to a pipe has no data offsets in its table of contents; pg_restore (15) still restores it from a
file, in parallel too (``-j``), or from its standard input.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from provisioner.backup.errors import BackupFailed
from provisioner.backup.logs import LOG
from provisioner.backup.pgsnapshot import HeldSnapshot, held_snapshot
from provisioner.backup.procs import Tool

__all__ = ["PART_SIZE", "DumpStream", "PgDumpSource", "running_dumps"]

PART_SIZE = 4 * 1024 * 1024
_QUEUED_PARTS = 3  # parts held in memory for the database being written (back-pressure beyond)
_PIPE_SIZE = 1024 * 1024
_SPOOL_READ = 1024 * 1024
_TIMEOUT = 6 * 3600.0
_STDERR_TAIL = 16 * 1024


@dataclass(frozen=True)
class PgDumpSource:
    database: str
    tool: Tool
    env: Mapping[str, str]
    psql: Tool | None = None  # counts rows in the dump's snapshot for the manifest (see pgsnapshot)


class DumpStream:
    """One running pg_dump: its output as parts, from memory when current, else via a spool file."""

    def __init__(
        self,
        source: PgDumpSource,
        spool_dir: Path | None,
        on_exit: Callable[[DumpStream], None],
        other_failure: Callable[[DumpStream], BackupFailed | None],
    ) -> None:
        self.source = source
        self._spool_dir = spool_dir
        self._on_exit = on_exit  # told when pg_dump has exited (or its reader failed)
        self._other_failure = other_failure  # another dump's failure, which fails this run too
        self._cond = threading.Condition()
        self._queue: deque[tuple[bytearray, int]] = deque()
        self._free: list[bytearray] = []
        self._current = False
        self._spool: IO[bytes] | None = None
        self._spooled = 0  # bytes in the spool file
        self._taken = 0  # bytes of the spool already handed out
        self._eof = False
        self._error: BaseException | None = None
        self.failure: BackupFailed | None = None  # set with the exit status or the reader's error
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._thread: threading.Thread | None = None
        self.started = 0.0
        self.exit_code: int | None = None
        self.size = 0
        self._held: HeldSnapshot | None = None  # with source.psql: the transaction whose snapshot we dump
        self._held_cm: contextlib.AbstractContextManager[HeldSnapshot] | None = None

    # -- producer side (the reader thread) ------------------------------------------------------
    def make_current(self) -> None:
        """From now on the writer takes this dump's parts (live ones in memory, no more spooling)."""
        with self._cond:
            self._current = True

    def start(self) -> None:
        """Start pg_dump and its reader thread; a failure to start is raised by :meth:`parts`."""
        self.started = time.monotonic()
        snapshot: tuple[str, ...] = ()
        if self.source.psql is not None:
            try:
                self._held_cm = held_snapshot(self.source.psql, self.source.env, self.source.database)
                self._held = self._held_cm.__enter__()
            except BackupFailed as exc:
                self._held_cm = None
                with self._cond:
                    self._error = self.failure = exc
                return
            snapshot = (f"--snapshot={self._held.snapshot_id}",)
        try:
            self._stderr = tempfile.TemporaryFile(dir=self._spool_dir)  # noqa: SIM115 (closed by close())
            self._proc = subprocess.Popen(
                self.source.tool.argv(
                    "--format=custom",
                    "--compress=0",
                    "--no-password",
                    *snapshot,
                    f"--dbname={self.source.database}",
                ),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                env=dict(self.source.env),
            )
        except OSError as exc:
            with self._cond:
                self._error = self.failure = BackupFailed(f"cannot start pg_dump: {exc.strerror}")
            return
        assert self._proc.stdout is not None
        with contextlib.suppress(OSError):  # a bigger pipe: fewer, larger reads
            fcntl.fcntl(self._proc.stdout.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_SIZE)
        name = f"pg_dump {self.source.database}"
        self._thread = threading.Thread(target=self._read, name=name, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        """Read pg_dump's output: whole parts into memory while the writer takes this dump live,
        otherwise small reads appended to the spool (so a dump waiting its turn holds 1 MiB, not a part)."""
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        small: memoryview | None = None
        try:
            while True:
                with self._cond:
                    live = self._current and self._taken == self._spooled
                    buffer = (self._free.pop() if self._free else bytearray(PART_SIZE)) if live else None
                if buffer is not None:
                    filled = _fill(fd, memoryview(buffer))
                    if filled:
                        self._queue_part(buffer, filled)
                    if filled < PART_SIZE:
                        break
                else:
                    small = small if small is not None else memoryview(bytearray(_SPOOL_READ))
                    n = os.readv(fd, [small])
                    if n == 0:
                        break
                    self._append_spool(small[:n])
            code = self._proc.wait()
        except BaseException as exc:  # raised in the writer's thread by parts()
            failure = exc if isinstance(exc, BackupFailed) else None
            failure = failure or BackupFailed(f"reading pg_dump of {self.source.database!r}: {exc}")
            with self._cond:
                self._error, self.failure = exc, failure
                self._cond.notify_all()
        else:
            failure = None
            if code != 0:
                failure = BackupFailed(
                    f"pg_dump of database {self.source.database!r} failed "
                    f"({_exit_text(code)}): {self._stderr_tail()}"
                )
            with self._cond:
                self.exit_code, self._eof, self.failure = code, True, failure
                self._cond.notify_all()
        self._on_exit(self)

    def _queue_part(self, buffer: bytearray, filled: int) -> None:
        with self._cond:
            self.size += filled
            while len(self._queue) >= _QUEUED_PARTS and not self._error:
                self._cond.wait()  # back-pressure: pg_dump waits for the writer
            self._queue.append((buffer, filled))
            self._cond.notify_all()

    def _append_spool(self, data: memoryview) -> None:
        if self._spool is None:
            self._spool = tempfile.TemporaryFile(dir=self._spool_dir)  # noqa: SIM115 (closed by close())
        end = self._spooled  # only this thread moves it
        while data:  # outside the lock: the writer may read the spool's earlier bytes meanwhile
            written = os.pwrite(self._spool.fileno(), data, end)
            data, end = data[written:], end + written
        with self._cond:
            self.size += end - self._spooled
            self._spooled = end
            self._cond.notify_all()

    # -- consumer side (the tar writer) ---------------------------------------------------------
    def parts(self, scratch: memoryview) -> Iterator[memoryview]:
        """The dump's bytes, part by part; a view is valid until the next one is asked for."""
        self.make_current()
        while True:
            with self._cond:
                while True:
                    other = self._other_failure(self)
                    if other is not None:
                        raise other
                    if self._error is not None:
                        assert self.failure is not None
                        raise self.failure
                    if self._taken < self._spooled:
                        offset, want = self._taken, min(len(scratch), self._spooled - self._taken)
                        spool, entry = self._spool, None
                        break
                    if self._queue:
                        entry = self._queue.popleft()
                        self._cond.notify_all()
                        break
                    if self._eof:
                        self._free.clear()  # memory stays bounded however many databases follow
                        return
                    self._cond.wait()
            if entry is None:
                assert spool is not None
                n = os.preadv(spool.fileno(), [scratch[:want]], offset)
                if n <= 0:
                    raise BackupFailed(f"spool of {self.source.database!r} shrank")
                with self._cond:
                    self._taken += n
                yield scratch[:n]
            else:
                buffer, filled = entry
                yield memoryview(buffer)[:filled]
                with self._cond:
                    self._free.append(buffer)

    def check(self) -> None:
        """After all parts: pg_dump must have exited 0 (and no other dump of the run failed)."""
        other = self._other_failure(self)
        if other is not None:
            raise other
        if self.failure is not None or self.exit_code != 0:
            raise self.failure or BackupFailed(f"pg_dump of database {self.source.database!r} failed")
        LOG.info(
            "dumped database",
            extra={
                "database": self.source.database,
                "bytes": self.size,
                "spooledBytes": self._spooled,
                "seconds": round(time.monotonic() - self.started, 3),
            },
        )

    def row_counts(self) -> dict[str, object] | None:
        """After :meth:`check`: every table's exact row count in the snapshot the dump read (None
        without ``source.psql``); ends the held read-only transaction."""
        if self._held is None or self._held_cm is None:
            return None
        tables = self._held.count_rows()
        cm, self._held_cm = self._held_cm, None
        cm.__exit__(None, None, None)  # COMMIT (read only: nothing changes)
        return {"snapshot": self._held.snapshot_id, "tables": tables}

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        size = self._stderr.seek(0, os.SEEK_END)
        self._stderr.seek(max(0, size - _STDERR_TAIL))
        lines = self._stderr.read(_STDERR_TAIL).decode("utf-8", "replace").strip().splitlines()
        return " / ".join(lines[-3:])

    @property
    def spooled(self) -> int:
        """Bytes that went through the spool file (0 when the writer took every part live)."""
        return self._spooled

    @property
    def running(self) -> bool:
        return self._proc is not None and self.exit_code is None and self._error is None

    def kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()

    def close(self) -> None:
        """Stop pg_dump if it still runs, wait for the reader, drop the spool."""
        self.kill()
        with self._cond:
            self._error = self._error or BackupFailed("stopped")  # unblocks a reader waiting for room
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()
        if self._proc is not None:
            self._proc.wait()
            if self._proc.stdout is not None:
                self._proc.stdout.close()
        for f in (self._spool, self._stderr):
            if f is not None:
                f.close()
        if self._held_cm is not None:  # a failed or abandoned run: end psql's transaction too
            cm, self._held_cm = self._held_cm, None
            with contextlib.suppress(Exception):
                cm.__exit__(BackupFailed, BackupFailed("stopped"), None)


def _fill(fd: int, view: memoryview) -> int:
    """Read until ``view`` is full or end of file; how many bytes were read."""
    filled = 0
    while filled < len(view):
        n = os.readv(fd, [view[filled:]])
        if n == 0:
            break
        filled += n
    return filled


def _exit_text(code: int | None) -> str:
    if code is None:
        return "no exit status"
    return f"exit {code}" if code >= 0 else f"killed by signal {-code}"


class _Scheduler:
    """Starts pending dumps whenever fewer than ``jobs`` pg_dump processes run; kills all at the deadline.

    The first dump to fail stops the run at once: the other pg_dumps are killed and the writer,
    whichever dump it is writing, raises that first failure (not the kills it caused).
    """

    def __init__(self, dumps: Sequence[DumpStream], jobs: int, timeout: float) -> None:
        self._dumps = dumps
        self._pending = deque(dumps)
        self._jobs = max(1, jobs)
        self._lock = threading.Lock()
        self._closed = False
        self.timed_out = False
        self._failed: tuple[DumpStream, BackupFailed] | None = None
        self._timer = threading.Timer(timeout, self._expire)
        self._timer.daemon = True

    def start(self) -> None:
        self._timer.start()
        self.fill()

    def fill(self) -> None:
        with self._lock:
            while (
                not self._closed
                and self._failed is None
                and self._pending
                and sum(d.running for d in self._dumps) < self._jobs
            ):
                self._pending.popleft().start()

    def exited(self, dump: DumpStream) -> None:
        """A dump's pg_dump exited (or its reader failed): start the next one, or stop all on failure."""
        with self._lock:
            first = dump.failure is not None and self._failed is None and not self._closed
            if first:
                assert dump.failure is not None
                self._failed = (dump, dump.failure)
        if first:
            for other in self._dumps:
                if other is not dump:
                    other.kill()
        else:
            self.fill()

    def other_failure(self, dump: DumpStream) -> BackupFailed | None:
        failed = self._failed
        return failed[1] if failed is not None and failed[0] is not dump else None

    def _expire(self) -> None:
        with self._lock:
            self.timed_out, self._closed = True, True
        for dump in self._dumps:
            dump.kill()

    def close(self) -> None:
        self._timer.cancel()
        with self._lock:
            self._closed = True
        for dump in self._dumps:
            dump.close()


@contextlib.contextmanager
def running_dumps(
    sources: Sequence[PgDumpSource], jobs: int, spool_dir: Path | None, timeout: float = _TIMEOUT
) -> Iterator[Sequence[DumpStream]]:
    """Run the dumps, at most ``jobs`` pg_dump processes at a time; yield them in the given order.

    The next pg_dump starts when a running one exits (not when the writer has finished with it).
    Leaving the context (normally or by an error) kills what still runs and drops every spool.
    """

    def exited(dump: DumpStream) -> None:
        scheduler.exited(dump)

    def other_failure(dump: DumpStream) -> BackupFailed | None:
        return scheduler.other_failure(dump)

    dumps = [DumpStream(s, spool_dir, exited, other_failure) for s in sources]
    scheduler = _Scheduler(dumps, jobs, timeout)
    if dumps:
        dumps[0].make_current()
    try:
        scheduler.start()
        yield dumps
    except BackupFailed as exc:
        if scheduler.timed_out:
            raise BackupFailed(f"pg_dump did not finish within {timeout:.0f} s") from exc
        raise
    finally:
        scheduler.close()
