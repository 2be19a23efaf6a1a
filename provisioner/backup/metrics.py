"""Prometheus metrics of backup runs, in the node_exporter textfile-collector format.

One file (``--metrics-file`` or ``$BACKUP_METRICS_FILE``, name ending in ``.prom``) holds the gauges
of every registry that writes to it, each sample labelled ``registry``. A run changes only its own
registry's samples and keeps everything earlier runs recorded: read, merge, write. The write is
atomic (temp file in the same folder, fsync, rename), so node_exporter never reads half a file, and
read-merge-write holds an flock on ``<file>.lock`` so two registries' runs cannot lose each other's
update. A metrics problem is logged and never changes the backup's exit code.

Timestamps are Unix seconds (``_timestamp_seconds``): alert on their age, not on a status flag.
A failed run moves only ``last_attempt`` and ``last_failure``.
"""

from __future__ import annotations

import errno
import fcntl
import math
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from provisioner._fs import TEMP_PREFIX, atomic_write_bytes, remove_quietly
from provisioner.backup.logs import LOG
from provisioner.names import is_registry_name

__all__ = [
    "METRICS",
    "METRICS_ENV",
    "PUSHGATEWAY_ENV",
    "MetricsState",
    "merge",
    "parse_metrics",
    "push",
    "record",
    "render_metrics",
]

METRICS_ENV = "BACKUP_METRICS_FILE"
PUSHGATEWAY_ENV = "BACKUP_PUSHGATEWAY_URL"  # may carry credentials: environment only, never logged
PUSH_JOB = "registry_backup"
PUSH_DEADLINE = 10.0
PREFIX = "registry_backup_"
MAX_FILE_BYTES = 4 * 1024 * 1024
LOCK_TIMEOUT = 10.0

# name (without the prefix) -> help; the order is the file's order.
METRICS: dict[str, str] = {
    "last_attempt_timestamp_seconds": "When the last backup run started (success or failure), Unix time.",
    "last_success_timestamp_seconds": "When the last successful backup run finished, Unix time.",
    "last_failure_timestamp_seconds": "When the last failed backup run ended, Unix time.",
    "duration_seconds": "How long the last successful backup run took.",
    "size_bytes": "Size of the newest backup.",
    "backups_kept": "How many backups of the registry the store holds.",
    "oldest_restore_point_timestamp_seconds": "Creation time of the oldest backup kept, Unix time.",
    "last_verified_timestamp_seconds": "When a backup of the registry last passed verification, Unix time.",
    "last_drill_success_timestamp_seconds": "When a restore drill of the registry last succeeded, Unix time.",
    "store_free_bytes": "Free bytes on the file system of the archive store (for unprivileged users).",
    "store_size_bytes": "Size of the file system of the archive store.",
}

MetricsState = dict[str, dict[str, float]]  # metric name (no prefix) -> registry -> value


def parse_metrics(text: str) -> MetricsState:
    """Our samples from a metrics file's text (other metrics and foreign labels are dropped).

    Raises ValueError when the text is not the Prometheus text format."""
    from prometheus_client.parser import text_string_to_metric_families

    state: MetricsState = {name: {} for name in METRICS}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name = sample.name.removeprefix(PREFIX)
            registry = sample.labels.get("registry", "")
            if (
                sample.name.startswith(PREFIX)
                and name in METRICS
                and set(sample.labels) == {"registry"}
                and is_registry_name(registry)
                and math.isfinite(sample.value)
            ):
                state[name][registry] = float(sample.value)
    return state


def merge(state: MetricsState, registry: str, values: Mapping[str, float]) -> MetricsState:
    """A new state with ``registry``'s samples of ``values`` replaced; everything else kept."""
    unknown = set(values) - set(METRICS)
    if unknown:
        raise ValueError(f"unknown metrics: {', '.join(sorted(unknown))}")
    merged = {name: dict(state.get(name, {})) for name in METRICS}
    for name, value in values.items():
        merged[name][registry] = float(value)
    return merged


def render_metrics(state: MetricsState) -> str:
    """The Prometheus text format (0.0.4) of ``state``, written by prometheus_client."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.registry import Collector

    class _StateCollector(Collector):
        def collect(self) -> Iterator[GaugeMetricFamily]:
            for name, help_text in METRICS.items():
                samples = state.get(name, {})
                if not samples:
                    continue
                family = GaugeMetricFamily(PREFIX + name, help_text, labels=["registry"])
                for registry, value in sorted(samples.items()):
                    family.add_metric([registry], value)
                yield family

    collectors = CollectorRegistry(auto_describe=False)
    collectors.register(_StateCollector())
    return generate_latest(collectors).decode("utf-8")


def _read(path: Path) -> MetricsState:
    try:
        with open(path, "rb") as handle:  # bounded read below
            data = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        return {name: {} for name in METRICS}
    if len(data) > MAX_FILE_BYTES:
        raise ValueError(f"larger than {MAX_FILE_BYTES} bytes")
    return parse_metrics(data.decode("utf-8"))


def _write(path: Path, text: str) -> None:
    # 0644: node_exporter (another user) reads it; it holds no secret
    atomic_write_bytes(path.parent, path.name, text.encode("utf-8"), mode=0o644)


def _lock(path: Path) -> int:
    lock_path = path.with_name(path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    deadline = time.monotonic() + LOCK_TIMEOUT
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN) or time.monotonic() >= deadline:
                os.close(fd)
                raise
        time.sleep(0.05)


def _remove_leftovers(path: Path) -> None:
    """Temp files of writers that were killed mid-write (only writers holding the lock make them)."""
    prefix = f"{TEMP_PREFIX}{path.name}."
    for name in os.listdir(path.parent):
        if (
            name.startswith(prefix)
            and (path.parent / name).is_file()
            and not (path.parent / name).is_symlink()
        ):
            remove_quietly(path.parent / name)


def record(path: Path, registry: str, values: Mapping[str, float]) -> MetricsState | None:
    """Merge ``values`` for ``registry`` into the file; returns the state before (None if not written).

    Never raises for an I/O or format problem: it is logged, and the backup's result stands."""
    try:
        fd = _lock(path)
    except OSError as exc:
        LOG.warning("metrics not written", extra={"file": str(path), "problem": exc.strerror or str(exc)})
        return None
    try:
        _remove_leftovers(path)
        try:
            before = _read(path)
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            # A damaged file is replaced: the samples it held are lost, not the backup's result.
            LOG.warning(
                "metrics file unreadable, starting afresh", extra={"file": str(path), "problem": str(exc)}
            )
            before = {name: {} for name in METRICS}
        _write(path, render_metrics(merge(before, registry, values)))
        return before
    except OSError as exc:
        LOG.warning("metrics not written", extra={"file": str(path), "problem": exc.strerror or str(exc)})
        return None
    finally:
        os.close(fd)


def push(
    gateway: str, registry: str, values: Mapping[str, float], *, deadline: float = PUSH_DEADLINE
) -> bool:
    """POST this run's samples to a Pushgateway group ``job=registry_backup/registry=<name>``.

    POST (not PUT) replaces only the metrics pushed, so a failure (which pushes only the attempt and
    failure timestamps) keeps the success timestamp an earlier run pushed. Bounded and quiet as the
    notifications are (:func:`provisioner.backup.notify.deliver`); False when it did not get through.
    """
    from prometheus_client import CONTENT_TYPE_LATEST

    from provisioner.backup.notify import deliver

    url = f"{gateway.rstrip('/')}/metrics/job/{PUSH_JOB}/registry/{registry}"
    body = render_metrics(merge({}, registry, values)).encode("utf-8")
    bound = PUSH_DEADLINE if deadline is None else deadline
    return deliver(url, body, what="pushgateway push", deadline=bound, content_type=CONTENT_TYPE_LATEST).ok
