"""Reconcile every registry of a fleet into one Jenkins: bounded threads over one shared target.

The live state is read with as few requests as Jenkins allows: one tree query lists which items
exist (and, for pruning, their descriptions and disabled state); then each registry whose job
exists costs one GET of its config.xml, and only jobs that must change are written and read back.
Nothing is cached between runs: every job is judged against the live Jenkins, so jobs edited or
deleted there are noticed.

Each registry goes through the steps of :func:`provisioner.jobs.reconcile.reconcile_one` (read the live
job, :func:`~provisioner.jobs.reconcile.plan_reconcile`, :func:`~provisioner.jobs.reconcile.apply_plan`), only
scheduled differently: HTTP in threads sharing one session, planning (git, validation, rendering,
comparison) in batches in worker processes. A failure (unreadable repository, invalid settings, a
Jenkins error) is recorded for that registry and the others go on.
"""

from __future__ import annotations

import gc
import logging
import os
import queue
import sys
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from provisioner.errors import JenkinsFailure, ProvisionerError
from provisioner.fleet.drills import drill_unit_request, job_units, split_outcomes
from provisioner.fleet.file import FleetEntry
from provisioner.fleet.orphans import prune_orphans
from provisioner.fleet.report import FleetReport, OrphanOutcome, RegistryOutcome
from provisioner.jenkins.target import FleetTarget, JobPath, LiveIndex
from provisioner.jobs.reconcile import Plan, ReconcileRequest, apply_plan
from provisioner.settings.policy import Policy

LOG = logging.getLogger("provisioner")
PRUNE_DEPTH = 4  # folder levels searched for orphaned jobs (the fleet's own depth when deeper)
DEFAULT_WORKERS = 8
PROCESS_POOL_THRESHOLD = 64  # below this many registries, worker processes cost more than they save
FETCH_CHUNK = 8  # live configs read by one HTTP task (see fetch_chunk)


class _FolderGate:
    """Creates each missing folder once, however many worker threads need it at the same moment."""

    def __init__(self, target: FleetTarget, index: LiveIndex) -> None:
        self._target = target
        self._index = index
        self._lock = threading.Lock()
        self._created: dict[tuple[str, ...], Future[None]] = {}

    def ensure(self, path: JobPath) -> None:
        for folder in self._index.missing_folders(path):
            with self._lock:
                future = self._created.get(folder)
                owner = future is None
                if future is None:
                    future = self._created[folder] = Future()
            if owner:
                try:
                    self._target.ensure_folders(path, [folder])
                except BaseException as exc:
                    future.set_exception(exc)
                    raise
                future.set_result(None)
            else:
                future.result()


def _settings_error(path: str, errors: tuple[object, ...]) -> str:
    return f"invalid settings in {path}: " + "; ".join(str(error) for error in errors)


@dataclass(frozen=True)
class Planned:
    request: ReconcileRequest
    plan: Plan


def plan_entry(
    entry: FleetEntry, policy: Policy, dry_run: bool, live_xml: str | None, diffs: bool = True
) -> Planned | RegistryOutcome:
    """The pure half of one registry's reconcile: read git, validate, render, compare with ``live_xml``.

    No Jenkins I/O, so it runs in a worker process as well as in a thread. ``diffs``: whether each plan
    carries the diff of its change (a JSON report shows them; the text report does not).
    """
    from provisioner.gitsource import GitRepository
    from provisioner.jobs.reconcile import plan_reconcile
    from provisioner.settings.values import validate_values_text

    try:
        repo = GitRepository(entry.repo)  # one open for the read and the ancestry check
    except ProvisionerError as exc:
        return RegistryOutcome(entry, None, None, "source", exc.message)
    with repo:
        try:
            source = repo.read_values(entry.ref, entry.values_path)
        except ProvisionerError as exc:
            return RegistryOutcome(entry, None, None, "source", exc.message)
        validation = validate_values_text(source.text, policy)
        if validation.settings is None:
            return RegistryOutcome(
                entry, None, None, "settings", _settings_error(source.path, validation.errors)
            )
        request = ReconcileRequest(
            registry=entry.name,
            settings=validation.settings,
            source=source,
            job=entry.job,
            dry_run=dry_run,
            repo_dir=entry.repo,
            jobs=policy.jobs,
            kind=entry.kind,
            want_diff=diffs,
        )
        if entry.kind == "drill":
            drill = drill_unit_request(entry, request, policy, live_xml)
            if isinstance(drill, RegistryOutcome):
                return drill
            request = drill
        try:
            return Planned(request, plan_reconcile(request, live_xml, repo.is_ancestor))
        except JenkinsFailure as exc:  # a job we must not touch (not managed, another registry's)
            return RegistryOutcome(entry, request, None, "jenkins", exc.message)


def plan_batch(
    items: list[tuple[FleetEntry, str | None]], policy: Policy, dry_run: bool, diffs: bool = True
) -> list[Planned | RegistryOutcome]:
    """Plan several registries in one call: one round trip to a worker process for a whole batch."""
    return [_plan_isolated(entry, policy, dry_run, live, diffs) for entry, live in items]


def _plan_isolated(
    entry: FleetEntry, policy: Policy, dry_run: bool, live_xml: str | None, diffs: bool
) -> Planned | RegistryOutcome:
    """:func:`plan_entry`; an error nobody translated fails this registry alone.

    It must not abort the fleet, nor travel back from a worker process as an exception: many
    third-party exceptions do not pickle (a pygit2 error ended a whole run with a PicklingError).
    """
    try:
        return plan_entry(entry, policy, dry_run, live_xml, diffs)
    except Exception as exc:
        return RegistryOutcome(
            entry, None, None, "internal", f"unexpected error while planning: {type(exc).__name__}: {exc}"
        )


def _warm_worker() -> None:
    """Import what planning needs once per worker process, before the first registry arrives."""
    import jinja2  # noqa: F401

    from provisioner import gitsource
    from provisioner.jobs import render
    from provisioner.settings import values  # noqa: F401

    gitsource.warm_up()
    render.warm_up()


def _noop() -> None:
    return None


@contextmanager
def _gc_frozen() -> Iterator[None]:
    """Hide what is alive before the run from the cyclic garbage collector until its end.

    The modules, the fleet and the policy outlive the run anyway; frozen, the collections the run's
    allocations trigger scan only what the run made (a full collection walked every module object:
    about 45 ms of CPU in this process and 25 ms in a worker for 1000 registries), and a forked
    worker's collections neither walk nor copy the pages it inherited.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextmanager
def _plan_pool(processes: int, threads: ThreadPoolExecutor) -> Iterator[Executor]:
    """Worker processes for planning (the CPU-bound part), or the HTTP threads when ``processes`` is 0.

    Call before any HTTP thread starts: while this process has a single thread, the workers are
    forked (instant, modules already imported); otherwise they come from a forkserver, never from a
    fork of a process with running threads.
    """
    if processes <= 0:
        with _gc_frozen():
            yield threads
        return
    import multiprocessing

    single = threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if single else "forkserver")
    if single:
        # Warm this process before the fork: the workers inherit libgit2, jinja2 and the template
        # environment instead of loading them again each (about 60 ms of CPU per worker), and this
        # process needs them anyway once it plans too (a no-op, a change) or renders a folder.
        _warm_worker()
    else:
        context.set_forkserver_preload(
            ["provisioner.fleet.run", "provisioner.settings.values", "provisioner.jobs.render"]
        )
    with (
        _gc_frozen(),
        ProcessPoolExecutor(max_workers=processes, mp_context=context, initializer=_warm_worker) as pool,
    ):
        pool.submit(_noop)  # starts the workers now (a fork context starts them all on the first submit)
        yield pool


def _fetch(target: FleetTarget, entries: list[FleetEntry]) -> list[str | RegistryOutcome | None]:
    """The live config.xml of each entry's job, one GET after the other (one HTTP thread's share)."""
    found: list[str | RegistryOutcome | None] = []
    for entry in entries:
        try:
            found.append(target.read_job(entry.job))
        except JenkinsFailure as exc:
            found.append(RegistryOutcome(entry, None, None, "jenkins", exc.message))
    return found


def fetch_chunk(jobs: int, workers: int) -> int:
    """Jobs read per HTTP task: up to FETCH_CHUNK, while every thread still gets several tasks.

    A task per job cost the calling thread a future, a wake-up and a GIL hand-over per job (for 1000
    jobs, 1018 submits and 1032 wake-ups; with chunks, 143 and 157); in flight there are ``workers``
    requests either way.
    """
    return max(1, min(FETCH_CHUNK, jobs // (4 * workers)))


def _apply(target: FleetTarget, entry: FleetEntry, planned: Planned, folders: _FolderGate) -> RegistryOutcome:
    try:
        if planned.plan.action == "created" and not planned.request.dry_run:
            folders.ensure(entry.job)
        result = apply_plan(target, planned.request, planned.plan)
    except JenkinsFailure as exc:
        return RegistryOutcome(entry, planned.request, None, "jenkins", exc.message)
    return RegistryOutcome(entry, planned.request, result)


class _Pipeline:
    """fetch live config (HTTP threads) -> plan in batches (worker processes) -> apply (HTTP threads).

    The same steps as :func:`provisioner.jobs.reconcile.reconcile_one` for every registry; only the
    scheduling differs. Runs in the calling thread, which also delivers each outcome.
    """

    BATCH = 32  # registries per trip to a worker process

    def __init__(
        self,
        target: FleetTarget,
        entries: list[FleetEntry],
        index: LiveIndex,
        *,
        threads: ThreadPoolExecutor,
        workers: int,
        planner: Executor,
        planner_slots: int,
        policy: Policy,
        dry_run: bool,
        diffs: bool,
        on_outcome: Callable[[RegistryOutcome], None] | None,
    ) -> None:
        self.target, self.entries, self.index = target, entries, index
        self.threads, self.workers, self.planner, self.slots = threads, workers, planner, planner_slots
        self.policy, self.dry_run, self.diffs, self.on_outcome = policy, dry_run, diffs, on_outcome
        self.folders = _FolderGate(target, index)
        self.outcomes: list[RegistryOutcome | None] = [None] * len(entries)
        self.pending: dict[Future[Any], tuple[str, list[int]]] = {}
        # Finished futures arrive here (a done callback each): waiting on all pending futures at once
        # would cost O(pending) per completion, O(N^2) for a fleet (seconds at N = 10 000).
        self.done: queue.SimpleQueue[Future[Any]] = queue.SimpleQueue()
        self.counts: Counter[str] = Counter()  # pending futures by kind
        self.ready: deque[tuple[int, str | None]] = deque()  # planned next: (position, live config)
        self.planning = 0
        self.fetched = False  # whether any live config is fetched (else there is no read phase to follow)

    def _finish(self, position: int, outcome: RegistryOutcome) -> None:
        self.outcomes[position] = outcome
        if self.on_outcome is not None:
            self.on_outcome(outcome)

    def _track(self, future: Future[Any], kind: str, positions: list[int]) -> None:
        self.pending[future] = (kind, positions)
        self.counts[kind] += 1
        future.add_done_callback(self.done.put)

    def _submit_plan(self, executor: Executor, kind: str) -> None:
        batch = [self.ready.popleft() for _ in range(min(self.BATCH, len(self.ready)))]
        items = [(self.entries[position], live) for position, live in batch]
        future = executor.submit(plan_batch, items, self.policy, self.dry_run, self.diffs)
        self._track(future, kind, [position for position, _live in batch])

    def _flush(self) -> None:
        # Keep every worker busy, and batch what accumulates while they are.
        while self.ready and self.planning < self.slots:
            self._submit_plan(self.planner, "plan")
            self.planning += 1
        # Once this process has fetched every live config and has nothing to write, it plans too
        # instead of waiting for the workers (a no-op run); while it writes, HTTP has its CPU.
        idle = not (self.counts["fetch"] or self.counts["apply"] or self.counts["local-plan"])
        if self.ready and idle and self.fetched and self.planner is not self.threads:
            self._submit_plan(self.threads, "local-plan")

    def _planned(self, position: int, planned: Planned | RegistryOutcome) -> None:
        if isinstance(planned, RegistryOutcome):
            self._finish(position, planned)
        elif planned.plan.action == "unchanged" or self.dry_run:
            self._finish(
                position, _apply(self.target, self.entries[position], planned, self.folders)
            )  # no I/O
        else:
            future = self.threads.submit(_apply, self.target, self.entries[position], planned, self.folders)
            self._track(future, "apply", [position])

    def run(self) -> list[RegistryOutcome]:
        existing: list[int] = []
        for position, entry in enumerate(self.entries):
            if self.index.job_exists(entry.job) is False:
                self.ready.append((position, None))
            else:
                existing.append(position)
        size = fetch_chunk(len(existing), self.workers)
        for start in range(0, len(existing), size):
            positions = existing[start : start + size]
            chunk = [self.entries[position] for position in positions]
            self._track(self.threads.submit(_fetch, self.target, chunk), "fetch", positions)
        self.fetched = bool(existing)
        self._flush()
        while self.pending:
            done = [self.done.get()]
            while not self.done.empty():
                done.append(self.done.get())
            for future in done:
                kind, positions = self.pending.pop(future)
                self.counts[kind] -= 1
                if kind == "fetch":
                    for position, live in zip(positions, future.result(), strict=True):
                        if isinstance(live, RegistryOutcome):
                            self._finish(position, live)
                        else:
                            self.ready.append((position, live))
                elif kind in ("plan", "local-plan"):
                    if kind == "plan":
                        self.planning -= 1
                    for position, planned in zip(positions, future.result(), strict=True):
                        self._planned(position, planned)
                else:
                    self._finish(positions[0], future.result())
            self._flush()
        return [outcome for outcome in self.outcomes if outcome is not None]


def default_processes(registries: int) -> int:
    """Worker processes for planning: all CPUs but one (this process does the HTTP) for a large fleet."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(cpus - 1, 8) if registries >= PROCESS_POOL_THRESHOLD and cpus > 1 else 0


def reconcile_fleet(
    target: FleetTarget,
    entries: list[FleetEntry],
    *,
    policy: Policy,
    workers: int = DEFAULT_WORKERS,
    processes: int | None = None,
    dry_run: bool = False,
    prune: bool = False,
    diffs: bool = True,
    on_outcome: Callable[[RegistryOutcome], None] | None = None,
) -> FleetReport:
    """Reconcile every entry; JenkinsFailure only when the live Jenkins cannot even be listed.

    ``workers`` threads do the HTTP through the one shared ``target`` (one session, one crumb);
    ``processes`` worker processes do the CPU-bound planning (default: :func:`default_processes`).
    ``diffs``: whether each result carries the diff of its change (False: ``diff`` is None; the text
    report shows no diffs, and computing them was a tenth of a change's planning).
    ``on_outcome`` runs in the calling thread as each registry finishes (progress, audit lines).
    """
    if processes is None:
        processes = default_processes(len(entries))
    depth = max(len(entry.job.folders) for entry in entries) + 1
    with (
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reconcile") as threads,
        _plan_pool(processes, threads) as planner,
    ):
        index = target.list_items(max(depth, PRUNE_DEPTH) if prune else depth, descriptions=prune)
        units = job_units(entries, policy, index)  # the entries, then the drill jobs to manage
        pipeline = _Pipeline(
            target,
            units,
            index,
            threads=threads,
            workers=workers,
            planner=planner,
            # In threads (processes 0) one batch at a time: the GIL plans one anyway, and more
            # batches only hand it over between planning threads (and away from the HTTP threads).
            planner_slots=2 * processes if processes > 0 else 1,
            policy=policy,
            dry_run=dry_run,
            diffs=diffs,
            on_outcome=on_outcome,
        )
        # The HTTP threads are I/O bound: a short GIL switch interval hands the GIL to a thread whose
        # response has arrived sooner (measured: cold run of 1000 jobs 2.75 s -> 2.5 s).
        interval = sys.getswitchinterval()
        sys.setswitchinterval(min(interval, 0.0005))
        try:
            outcomes = pipeline.run()
        finally:
            sys.setswitchinterval(interval)
    orphans: list[OrphanOutcome] = []
    warnings: list[str] = []
    if prune:
        orphans, warnings = prune_orphans(target, units, index, dry_run=dry_run)
    backups, drills = split_outcomes(outcomes)
    return FleetReport(outcomes=backups, orphans=orphans, warnings=warnings, dry_run=dry_run, drills=drills)
