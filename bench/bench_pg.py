"""Benchmark: `backup-registry run --pg-database` against pg_dump itself, on a real PostgreSQL.

The bench starts its own PostgreSQL (tests/helpers/postgres.py: a unix socket in a temp dir,
password auth, fsync=off for the load only matters to the server) and fills it with

  regdb        one table of --rows rows (text and jsonb), about 500 MB
  small1..4    four databases of a fifth of that, about 100 MB each (CREATE DATABASE ... TEMPLATE)

then times, interleaved, --repeat times each (medians reported):

  gzip       pg_dump -Fc -d regdb > f && sync f                       pg_dump's default compression
  floor      pg_dump -Fc -Z0 -d regdb | zstd -1 > f && sync f         compress once: the floor
  tool       backup-registry run --pg-database regdb                  hash, fsync, read-back verify,
                                                                      metadata, process start
  floor4     the floor for small1..4, one after another
  tool1      backup-registry run --pg-database small1
  tool4      backup-registry run --pg-database small1 ... small4      (--jobs default: CPUs)

Before each variant the previous outputs are flushed with sync (untimed). Peak RSS is ru_maxrss
from os.wait4 (for pipelines the largest process). --smoke: small data, one round, no timings
written; it checks that the tool's archive holds each dump and that `pg_restore --list` reads it.

Usage: python bench/bench_pg.py [--rows 1200000] [--repeat 3] [--smoke]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import bench_backup  # noqa: E402

from tests.helpers.postgres import Postgres, pg_bin, running_postgres, tool  # noqa: E402

_TABLE = """
CREATE TABLE artifacts (id bigint PRIMARY KEY, name text NOT NULL, manifest jsonb NOT NULL,
                        notes text NOT NULL);
INSERT INTO artifacts
SELECT g, 'registry.example/team-' || (g % 500) || '/image-' || g,
       jsonb_build_object('digest', 'sha256:' || md5(g::text), 'size', g * 37,
                          'layers', jsonb_build_array(md5((g + 1)::text), md5((g + 2)::text)),
                          'labels', jsonb_build_object('team', 'team-' || (g % 97), 'tier', g % 3,
                                                       'arch', 'amd64')),
       'pushed by ci-' || (g % 13) || ' ' || md5((g * 3)::text)
FROM generate_series(1, ROWS) g;
"""
SMALL = ("small1", "small2", "small3", "small4")
DATABASES = {"tool1": SMALL[:1], "tool4": SMALL, "tool4j1": SMALL, "floor4": SMALL}


def load(pg: Postgres, rows: int) -> dict[str, int]:
    pg.psql("postgres", "CREATE DATABASE regdb")
    pg.psql("regdb", _TABLE.replace("ROWS", str(rows)), timeout=1800)
    pg.psql("postgres", "CREATE DATABASE small1")
    pg.psql("small1", _TABLE.replace("ROWS", str(rows // 5)), timeout=1800)
    for name in SMALL[1:]:
        pg.psql("postgres", f"CREATE DATABASE {name} TEMPLATE small1")
    pg.psql("postgres", "CHECKPOINT")
    return {db: int(pg.psql("postgres", f"SELECT pg_database_size('{db}')")) for db in ("regdb", *SMALL)}


@dataclass
class Sample:
    seconds: float = 0.0
    peak_kib: int = 0  # the largest ru_maxrss of the processes
    cpu: float = 0.0  # user + system seconds of the processes and their children (not the server)


def wait_all(procs: Sequence[subprocess.Popen[bytes]], sample: Sample) -> None:
    """Wait for every process with os.wait4; add their peak RSS and CPU time to ``sample``."""
    peak, cpu = bench_backup.wait_all(list(procs))
    sample.peak_kib = max(sample.peak_kib, peak)
    sample.cpu += cpu


def sync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def run_pg_dump(pg: Postgres, databases: Sequence[str], out: Path, zstd: bool) -> Sample:
    """``pg_dump -Fc [-Z0 | zstd -1] > f && sync f`` per database, one after another."""
    pg_dump, zstd_bin = tool("pg_dump"), tool("zstd")
    sample = Sample()
    started = time.perf_counter()
    for db in databases:
        target = out / f"{db}.dump{'.zst' if zstd else ''}"
        with open(target, "wb") as sink:
            if zstd:
                p1 = subprocess.Popen([pg_dump, "-Fc", "-Z0", "-d", db], stdout=subprocess.PIPE, env=pg.env())
                assert p1.stdout is not None
                p2 = subprocess.Popen([zstd_bin, "-1", "-c", "-q"], stdin=p1.stdout, stdout=sink)
                p1.stdout.close()
                wait_all([p1, p2], sample)
            else:
                p1 = subprocess.Popen([pg_dump, "-Fc", "-d", db], stdout=sink, env=pg.env())
                wait_all([p1], sample)
        sync_file(target)
    sample.seconds = time.perf_counter() - started
    return sample


def run_tool(
    pg: Postgres, databases: Sequence[str], store: Path, log: Path, root: Path = ROOT, jobs: str = ""
) -> Sample:
    shutil.rmtree(store, ignore_errors=True)
    argv = [
        sys.executable, "-m", "provisioner.backup.cli", "-v", "run", "--registry", "bench",
        "--expires-in-hours", "168", "--store", str(store), "--no-prune", "--format", "json",
    ]  # fmt: skip
    for db in databases:
        argv += ["--pg-database", db]
    if jobs:
        argv += ["--jobs", jobs]
    started = time.perf_counter()
    with open(log, "ab") as err:
        proc = subprocess.Popen(argv, cwd=root, stdout=subprocess.DEVNULL, stderr=err, env=pg.env())
        sample = Sample()
        wait_all([proc], sample)
    sample.seconds = time.perf_counter() - started
    return sample


def check_archive(pg: Postgres, store: Path, databases: Sequence[str], scratch: Path) -> int:
    """The tool's archive holds every database's dump and pg_restore --list reads each; its size."""
    sys.path.insert(0, str(ROOT))
    from provisioner.backup.dumpread import read_dumps

    archive = next((store / "bench").glob("*.tar.zst"))
    found: list[str] = []
    for database, data in read_dumps(archive):
        target = scratch / f"check-{database}.dump"
        with open(target, "wb") as fh:
            shutil.copyfileobj(data, fh)
        listing = subprocess.run(
            [tool("pg_restore"), "--list", str(target)], env=pg.env(), capture_output=True, check=True
        ).stdout
        assert b"TABLE DATA public artifacts" in listing, listing[-500:]
        target.unlink()
        found.append(database)
    assert sorted(found) == sorted(databases), (found, databases)
    return archive.stat().st_size


LABELS = {
    "gzip": "`pg_dump -Fc -d regdb > f && sync f` (pg_dump's default gzip)",
    "floor": "`pg_dump -Fc -Z0 -d regdb \\| zstd -1 > f && sync f` (the floor)",
    "tool": "`backup-registry run --pg-database regdb` (hash, fsync, read-back verify)",
    "floor4": "the floor for small1..small4, one after another",
    "tool1": "`backup-registry run --pg-database small1`",
    "tool4": "`backup-registry run --pg-database small1 ... small4` (--jobs default)",
    "tool4j1": "`backup-registry run --pg-database small1 ... small4 --jobs 1`",
}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="small data, one round, checks only")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "RESULTS-pg.md")
    parser.add_argument(
        "--before", type=Path, help="also time `run --pg-database regdb` from this checkout (e.g. main)"
    )
    args = parser.parse_args()
    if args.smoke:
        args.rows, args.repeat = 20_000, 1
    names = list(LABELS) if not args.smoke else ["floor", "tool", "tool4"]
    if args.before and not args.smoke:
        names.insert(names.index("tool") + 1, "before")
        LABELS["before"] = f"the same, as it was before (`{args.before}`: spooled gzip dump)"
    times: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    loads: list[float] = []
    rss: dict[str, int] = dict.fromkeys(names, 0)
    with tempfile.TemporaryDirectory(prefix="bench-pg-") as tmp, running_postgres() as pg:
        scratch = Path(tmp)
        t0 = time.perf_counter()
        sizes = load(pg, args.rows)
        print(f"loaded {sizes} in {time.perf_counter() - t0:.1f} s", flush=True)
        run_pg_dump(pg, ["regdb", *SMALL], scratch, zstd=True)  # warm the server's caches
        archive_sizes: dict[str, int] = {}
        for i in range(args.repeat):
            for name in names:
                os.sync()
                dbs = DATABASES.get(name, ("regdb",))
                store = scratch / "store"
                if name.startswith("tool") or name == "before":
                    root = args.before if name == "before" else ROOT
                    jobs = "1" if name == "tool4j1" else ""
                    sample = run_tool(pg, dbs, store, scratch / "tool-stderr.log", root, jobs)
                    if i == 0:
                        archive_sizes[name] = check_archive(pg, store, dbs, scratch)
                else:
                    sample = run_pg_dump(pg, dbs, scratch, zstd=name != "gzip")
                times[name].append(sample.seconds)
                cpu[name].append(sample.cpu)
                rss[name] = max(rss[name], sample.peak_kib)
                loads.append(os.getloadavg()[0])
                print(
                    f"run {i + 1} {name:7s} {sample.seconds:7.2f} s  CPU {sample.cpu:6.2f} s  "
                    f"peak RSS {sample.peak_kib / 1024:6.1f} MiB  load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
        dump_size = (scratch / "regdb.dump.zst").stat().st_size
    if args.smoke:
        print(f"smoke: ok ({json.dumps(archive_sizes)})")
        return 0
    args.loads = loads
    write_results(args, sizes, times, cpu, rss, dump_size, archive_sizes)
    return 0


def _paired(times: dict[str, list[float]], name: str) -> list[float]:
    """Per round, this variant's time over its floor's in the same round (the rounds are interleaved)."""
    base = "floor4" if name in ("floor4", "tool4", "tool4j1") else "floor"
    return [t / b for t, b in zip(times[name], times[base], strict=True)]


def write_results(
    args: argparse.Namespace,
    sizes: dict[str, int],
    times: dict[str, list[float]],
    cpu: dict[str, list[float]],
    rss: dict[str, int],
    floor_size: int,
    archive_sizes: dict[str, int],
) -> None:
    med = {k: statistics.median(v) for k, v in times.items()}
    out = io.StringIO()
    out.write("# backup-registry benchmark: PostgreSQL\n\n")
    out.write(
        f"Command: `python bench/bench_pg.py --rows {args.rows} --repeat {args.repeat}"
        f"{' --before ' + str(args.before) if args.before else ''}`, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs (shared with other "
        f"jobs), PostgreSQL server {pg_bin().parent.name} "
        f"({subprocess.run([tool('pg_dump'), '--version'], capture_output=True, text=True).stdout.strip()}), "
        f"Python {sys.version.split()[0]}. 1-minute load average during the runs: "
        f"{min(args.loads):.1f} to {max(args.loads):.1f} (other jobs share the machine).\n\n"
    )
    out.write(
        f"Data: regdb {sizes['regdb'] / 1e6:.0f} MB ({args.rows:,} rows of text and jsonb), small1..4 "
        f"{sizes['small1'] / 1e6:.0f} MB each. Floor output {floor_size / 1e6:.0f} MB, tool archive "
        f"{archive_sizes.get('tool', 0) / 1e6:.0f} MB. Each figure includes fsync of the output.\n\n"
    )
    out.write(
        "| command | median s | runs (s) | x floor | paired x floor | CPU s (median) | peak RSS MiB |\n"
        "|---|---|---|---|---|---|---|\n"
    )
    for name, label in LABELS.items():
        if name not in times:
            continue
        base = med["floor4"] if name in ("floor4", "tool4", "tool4j1") else med["floor"]
        base = med["tool1"] * 4 if name == "tool1" else base
        ratio = "" if name == "tool1" else f"{med[name] / base:.2f}"
        runs = ", ".join(f"{t:.2f}" for t in times[name])
        paired = "" if name == "tool1" else f"{statistics.median(_paired(times, name)):.2f}"
        out.write(
            f"| {label} | {med[name]:.2f} | {runs} | {ratio} | {paired} | {statistics.median(cpu[name]):.2f} "
            f"| {rss[name] / 1024:.0f} |\n"
        )
    ok_one = med["tool"] <= 1.15 * med["floor"]
    ok_four = med["tool4"] < 4 * med["tool1"]
    peak = max(rss[n] for n in ("tool", "tool1", "tool4", "tool4j1")) / 1024
    out.write(
        f"\nTargets: one database <= 1.15 x floor: {'met' if ok_one else 'MISSED'} "
        f"({med['tool'] / med['floor']:.2f}); four databases < 4 x one: {'met' if ok_four else 'MISSED'} "
        f"({med['tool4'] / med['tool1']:.2f} x one, {med['tool4'] / med['floor4']:.2f} x the serial floor); "
        f"peak RSS < 150 MB: {'met' if peak < 150 else 'MISSED'} ({peak:.0f} MiB). "
        "x floor of the four-database rows is against the serial floor. x floor is the ratio of the medians "
        "(what the targets use); paired x floor is the median of each round's ratio, the variant against the "
        "floor of the same round, which is less sensitive to load that changes between rounds.\n"
    )
    args.results.write_text(out.getvalue())
    print(out.getvalue())


if __name__ == "__main__":
    raise SystemExit(main())
