"""Benchmark: `backup-registry restore` against the plain tools, for a directory and a database.

Directories (the 1 GiB mixed data set of bench_backup.py, cached under bench/out/):
  floor   zstd -dc F | tar -xf - -C DIR                  (no verification, no fsync)
  floor+sync   the same, then sync -f DIR                (durable, as the tool's restore is)
  tool    backup-registry restore --latest --to DIR      (SHA-256 of the archive, zstd frame checksums,
                                                          every member checked, fsync of every file
                                                          and directory, rename into place, process
                                                          start and imports)
Database (about 500 MB with --rows 1200000, on a PostgreSQL this bench starts):
  floor   CREATE DATABASE; pg_restore --no-owner --exit-on-error -d NEW dump   (the same dump, as a file)
  tool    backup-registry restore --latest --pg-database-map regdb=NEW         (check pass with
                                                          pg_restore --list, restore into a temp
                                                          database, ANALYZE, rename into place)

Variants run interleaved, --repeat times each (medians reported). Before each run the previous
output is removed and `sync` flushes dirty pages (untimed). Peak RSS is ru_maxrss from os.wait4
(the tool's own, started from bench/fleet_launcher.py; for the floor pipeline the largest process,
an upper bound: it starts from this benchmark's own high-water mark).
Targets (issue 11): directories <= 1.25 x floor, database <= 1.15 x floor, tool peak RSS < 150 MB.
For the database it also reports each variant's wall minus its own pg_restore (the tool's from its
"dump restored" log line): what the tool adds around the server's work, steadier under load than the
ratio of walls, which is mostly the server's time.

Usage: python bench/bench_restore.py [--size-mib 1024] [--rows 1200000] [--repeat 3] [--skip-pg]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_backup import make_data, wait_all  # noqa: E402

from tests.helpers.postgres import Postgres, running_postgres, tool  # noqa: E402

TABLE = """
CREATE TABLE artifacts (id bigint PRIMARY KEY, name text NOT NULL, manifest jsonb NOT NULL,
                        notes text NOT NULL);
INSERT INTO artifacts
SELECT g, 'registry.example/team-' || (g % 500) || '/image-' || g,
       jsonb_build_object('digest', 'sha256:' || md5(g::text), 'size', g * 37,
                          'layers', jsonb_build_array(md5((g + 1)::text), md5((g + 2)::text))),
       'pushed by ci-' || (g % 13) || ' ' || md5((g * 3)::text)
FROM generate_series(1, ROWS) g;
CREATE INDEX ON artifacts (name);
"""


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "provisioner.backup.cli", *args]


def make_backup(store: Path, env: dict[str, str], *sources: str) -> Path:
    if not list(store.glob("bench/*.tar.zst")):
        argv = cli("run", "--registry", "bench", "--expires-in-hours", "168", "--store", str(store),
                   "--no-prune", *sources)  # fmt: skip
        subprocess.run(argv, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    return sorted(store.glob("bench/*.tar.zst"))[-1]


def dir_floor(archive: Path, target: Path, durable: bool = False) -> tuple[float, int, float]:
    """The floor; ``durable``: then ``sync -f`` (syncfs) as the tool fsyncs what it restored."""
    target.mkdir()
    started = time.perf_counter()
    p1 = subprocess.Popen([tool("zstd"), "-dc", str(archive)], stdout=subprocess.PIPE)
    assert p1.stdout is not None
    p2 = subprocess.Popen([tool("tar"), "-xf", "-", "-C", str(target)], stdin=p1.stdout)
    p1.stdout.close()
    peak, cpu = wait_all([p1, p2])
    if durable:
        p3 = subprocess.Popen([tool("sync"), "-f", str(target)])
        cpu += wait_all([p3])[1]
    return time.perf_counter() - started, peak, cpu


class Launcher:
    """bench/fleet_launcher.py, started first (small): the tool's ru_maxrss is then its own."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-I", str(ROOT / "bench" / "fleet_launcher.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def run(self, argv: list[str], env: dict[str, str], log: Path) -> tuple[float, int, float]:
        import json

        assert self.proc.stdin is not None and self.proc.stdout is not None
        request = {"argv": argv, "env": env, "cwd": str(ROOT), "stderr": str(log)}
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        json.loads(self.proc.stdout.readline())  # the pid
        answer = json.loads(self.proc.stdout.readline())
        if answer["code"] != 0:
            raise SystemExit(f"{argv!r} failed with {answer['code']} (see {log})")
        return float(answer["wall"]), int(answer["maxrss_kb"]), float(answer["cpu"])


def same_tree(a: Path, b: Path) -> bool:
    def facts(root: Path) -> dict[str, tuple[int, int]]:
        return {
            str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mode)
            for p in root.rglob("*")
            if p.is_file() and p.name != ".complete"
        }

    return facts(a) == facts(b)


def extract_dump(archive: Path, database: str, out: Path) -> None:
    """The dump exactly as stored in the archive (one member, or the parts in order)."""
    import zstandard

    decompressor = zstandard.ZstdDecompressor()
    with (
        archive.open("rb") as fh,
        decompressor.stream_reader(fh, read_across_frames=True) as raw,
        tarfile.open(fileobj=raw, mode="r|") as tar,
        out.open("wb") as sink,
    ):
        for member in tar:
            if member.name.startswith(f"postgres/{database}.dump"):
                data = tar.extractfile(member)
                assert data is not None
                shutil.copyfileobj(data, sink, 1 << 20)


def pg_floor(pg: Postgres, dump: Path, name: str) -> tuple[float, int, float, float]:
    """Wall, peak RSS, CPU, and the wall of pg_restore alone."""
    started = time.perf_counter()
    pg.psql("postgres", f"CREATE DATABASE {name} TEMPLATE template0")
    restoring = time.perf_counter()
    proc = subprocess.Popen(
        [tool("pg_restore"), "--no-owner", "--exit-on-error", f"--dbname={name}", str(dump)], env=pg.env()
    )
    peak, cpu = wait_all([proc])
    done = time.perf_counter()
    return done - started, peak, cpu, done - restoring


def tool_phases(log: Path) -> tuple[float, float]:
    """pg_restore's and ANALYZE's seconds, from the tool's "dump restored" log line."""
    import json

    for line in log.read_text().splitlines():
        if '"dump restored"' in line:
            record = json.loads(line)
            return float(record["pg_restore_s"]), float(record["analyze_s"])
    raise SystemExit(f"no 'dump restored' line in {log}")


def report(
    name: str,
    times: dict[str, list[float]],
    cpus: dict[str, list[float]],
    rss: dict[str, int],
    size: int,
    target: float,
) -> str:
    floor, ours = statistics.median(times["floor"]), statistics.median(times["tool"])
    lines = [
        f"### {name}",
        "",
        "| variant | median s | runs (s) | MB/s | x floor | CPU s | peak RSS MiB |",
        "|---|---|---|---|---|---|---|",
    ]
    for variant in times:
        med = statistics.median(times[variant])
        runs = ", ".join(f"{t:.2f}" for t in times[variant])
        rate, mib = size / med / 1e6, rss[variant] // 1024
        cpu = statistics.median(cpus[variant])
        lines.append(
            f"| {variant} | {med:.2f} | {runs} | {rate:.0f} | {med / floor:.2f} | {cpu:.2f} | {mib} |"
        )
    ratio = ours / floor
    speed = "met" if ratio <= target else "MISSED"
    memory = "met" if rss["tool"] < 150 * 1024 else "MISSED"
    lines.append("")
    cpu_ratio = statistics.median(cpus["tool"]) / statistics.median(cpus["floor"])
    lines.append(f"Target tool <= {target} x floor: {speed} ({ratio:.2f}; CPU {cpu_ratio:.2f} x); "
                 f"peak RSS < 150 MB: {memory} ({rss['tool'] // 1024} MiB); "
                 f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    if "floor+sync" in times:
        durable = ours / statistics.median(times["floor+sync"])
        lines.append(
            f"Against the floor made durable (`sync -f` after tar, as the tool fsyncs): {durable:.2f} x."
        )
    lines.append("")
    return "\n".join(lines)


def bench_dirs(args: argparse.Namespace) -> str:
    data = make_data(args.out, args.size_mib)
    size = sum(f.stat().st_size for f in data.rglob("*") if f.is_file())
    store = args.out / f"restore-store-{args.size_mib}m"
    archive = make_backup(store, dict(os.environ), "--source", str(data))
    target = args.out / "restore-target"
    times: dict[str, list[float]] = {"floor": [], "floor+sync": [], "tool": []}
    cpus: dict[str, list[float]] = {"floor": [], "floor+sync": [], "tool": []}
    rss = {"floor": 0, "floor+sync": 0, "tool": 0}
    for _ in range(args.repeat):
        for variant in ("floor", "floor+sync", "tool"):
            shutil.rmtree(target, ignore_errors=True)
            os.sync()
            if variant.startswith("floor"):
                seconds, peak, cpu = dir_floor(archive, target, durable=variant == "floor+sync")
            else:
                argv = cli(
                    "restore", "--registry", "bench", "--store", str(store), "--latest", "--to", str(target)
                )
                seconds, peak, cpu = args.launcher.run(argv, dict(os.environ), args.out / "restore-tool.log")
                assert same_tree(data, target / data.name), "the restore differs from the data"
            times[variant].append(seconds)
            cpus[variant].append(cpu)
            rss[variant] = max(rss[variant], peak)
            print(f"dirs {variant}: {seconds:.2f} s, CPU {cpu:.2f} s, {peak // 1024} MiB", flush=True)
    shutil.rmtree(target, ignore_errors=True)
    head = f"Data: {size / 2**20:.0f} MiB ({data}), archive {archive.stat().st_size / 2**20:.0f} MiB.\n\n"
    return head + report("Directories", times, cpus, rss, size, 1.25)


def bench_pg(args: argparse.Namespace) -> str:
    with running_postgres() as pg:
        pg.psql("postgres", "CREATE DATABASE regdb")
        pg.psql("regdb", TABLE.replace("ROWS", str(args.rows)), timeout=3600)
        pg.psql("regdb", "VACUUM ANALYZE", timeout=3600)
        db_size = int(pg.psql("postgres", "SELECT pg_database_size('regdb')"))
        store = args.out / f"restore-pg-store-{args.rows}"
        shutil.rmtree(store, ignore_errors=True)
        archive = make_backup(store, pg.env(), "--pg-database", "regdb")
        dump = args.out / "restore-regdb.dump"
        extract_dump(archive, "regdb", dump)
        times: dict[str, list[float]] = {"floor": [], "tool": []}
        cpus: dict[str, list[float]] = {"floor": [], "tool": []}
        rss = {"floor": 0, "tool": 0}
        # wall minus the variant's own pg_restore: what each adds around it (the floor: CREATE
        # DATABASE; the tool: start, check pass, CREATE DATABASE, ANALYZE, rename). Far less noisy
        # under load than the walls, which are mostly the server's work.
        around: dict[str, list[float]] = {"floor": [], "tool": []}
        analyze: list[float] = []
        log = args.out / "restore-tool.log"
        for i in range(args.repeat):
            for variant in ("floor", "tool"):
                name = f"{variant}_{i}"
                os.sync()
                if variant == "floor":
                    seconds, peak, cpu, restoring = pg_floor(pg, dump, name)
                else:
                    argv = cli("restore", "--registry", "bench", "--store", str(store), "--latest",
                               "--pg-database-map", f"regdb={name}")  # fmt: skip
                    seconds, peak, cpu = args.launcher.run(argv, pg.env(), log)
                    restoring, analyzing = tool_phases(log)
                    analyze.append(analyzing)
                around[variant].append(seconds - restoring)
                counts = pg.psql(name, "SELECT count(*) FROM artifacts")
                assert counts == str(args.rows), counts
                pg.psql("postgres", f"DROP DATABASE {name}")
                times[variant].append(seconds)
                cpus[variant].append(cpu)
                rss[variant] = max(rss[variant], peak)
                print(f"pg {variant}: {seconds:.2f} s, CPU {cpu:.2f} s, {peak // 1024} MiB", flush=True)
        dump.unlink()
    stored = archive.stat().st_size / 2**20
    head = f"Database: {db_size / 2**20:.0f} MiB ({args.rows} rows), archive {stored:.0f} MiB.\n\n"
    med = {v: statistics.median(around[v]) for v in around}
    runs = ", ".join(f"{x:.2f}" for x in around["tool"])
    tail = (
        f"Wall minus the variant's own pg_restore (median): floor {med['floor']:.3f} s (CREATE DATABASE), "
        f"tool {med['tool']:.3f} s (start, check pass, CREATE DATABASE, "
        f"ANALYZE {statistics.median(analyze):.3f} s, rename); tool runs: {runs}.\n"
    )
    return head + report("Database", times, cpus, rss, db_size, 1.15) + tail


def main() -> int:
    launcher = Launcher()  # before anything makes this process large
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rows", type=int, default=1_200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-pg", action="store_true")
    parser.add_argument("--skip-dirs", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = parser.parse_args()
    args.launcher = launcher
    args.out.mkdir(parents=True, exist_ok=True)
    parts = []
    if not args.skip_dirs:
        parts.append(bench_dirs(args))
    if not args.skip_pg:
        parts.append(bench_pg(args))
    print("\n".join(parts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
