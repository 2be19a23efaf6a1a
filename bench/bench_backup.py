"""Benchmark: `backup-registry run` (archive backend) versus the shell way, on a 1 GiB mixed directory.

Variants, run in the same process, interleaved, --repeat times each:
  floor   tar -cf - DIR | zstd -1 > f                      (compression, no hashing)
  shell   tar -cf - DIR | zstd -1 > f && sha256sum f        (what a shell script does)
  tool    backup-registry run --source DIR ...              (tar + zstd + one-pass SHA-256, fsync,
                                                             read-back verify, metadata, a process
                                                             start and Python imports)
Before each variant the previous outputs are flushed with sync (untimed), so no variant pays for
another's writeback; the floor and shell variants do not fsync, the tool does. The data directory
(half random bytes, half log-like text) is generated once and cached under bench/out/ (gitignored).
Peak RSS comes from os.wait4 (ru_maxrss of each child process; for pipelines the largest).
Targets (issue 4): tool <= 1.25 x floor, tool < shell, tool peak RSS < 150 MB.

Usage: python bench/bench_backup.py [--size-mib 1024] [--repeat 3] [--out bench/out]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILE_MIB = 8


def make_data(target: Path, size_mib: int) -> Path:
    data = target / f"backup-data-{size_mib}m"
    stamp = data / ".complete"
    if stamp.exists():
        return data
    shutil.rmtree(data, ignore_errors=True)
    (data / "random").mkdir(parents=True)
    (data / "text").mkdir(parents=True)
    rng = random.Random(4)
    words = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(2, 10))) for _ in range(3000)]
    levels = ["INFO", "DEBUG", "WARN", "ERROR"]
    half = size_mib // 2
    for i in range(half // FILE_MIB):
        (data / "random" / f"blob-{i:04d}.bin").write_bytes(os.urandom(FILE_MIB << 20))
    for i in range(half // FILE_MIB):
        lines: list[str] = []
        size = 0
        while size < FILE_MIB << 20:
            line = (
                f"2026-11-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:"
                f"{rng.randint(0, 59):02d}Z {rng.choice(levels)} req={rng.getrandbits(32):08x} "
                + " ".join(rng.choices(words, k=12))
                + "\n"
            )
            lines.append(line)
            size += len(line)
        (data / "text" / f"log-{i:04d}.txt").write_text("".join(lines)[: FILE_MIB << 20])
    stamp.write_text("ok\n")
    return data


def wait_all(procs: list[subprocess.Popen[bytes]]) -> tuple[int, float]:
    """Wait for every process with os.wait4: the largest ru_maxrss (KiB) and the CPU seconds (user +
    system) of all of them."""
    peak, cpu = 0, 0.0
    for proc in procs:
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise SystemExit(f"{proc.args!r} failed with {proc.returncode}")
        peak = max(peak, usage.ru_maxrss)
        cpu += usage.ru_utime + usage.ru_stime
    return peak, cpu


def run_floor(data: Path, out: Path, with_sha: bool, compressor: str = "zstd") -> tuple[float, int]:
    tar, comp, sha = shutil.which("tar"), shutil.which(compressor), shutil.which("sha256sum")
    assert tar and comp and sha
    started = time.perf_counter()
    with open(out, "wb") as sink:
        p1 = subprocess.Popen([tar, "-cf", "-", "-C", str(data.parent), data.name], stdout=subprocess.PIPE)
        assert p1.stdout is not None
        p2 = subprocess.Popen([comp, "-1", "-c"], stdin=p1.stdout, stdout=sink, stderr=subprocess.DEVNULL)
        p1.stdout.close()
        peak = wait_all([p1, p2])[0]
    if with_sha:
        p3 = subprocess.Popen([sha, str(out)], stdout=subprocess.DEVNULL)
        peak = max(peak, wait_all([p3])[0])
    return time.perf_counter() - started, peak


def run_tool(data: Path, store: Path) -> tuple[float, int]:
    shutil.rmtree(store, ignore_errors=True)
    argv = [
        sys.executable, "-m", "provisioner.backup.cli", "-v", "run", "--registry", "bench",
        "--expires-in-hours", "168", "--source", str(data), "--store", str(store), "--no-prune",
    ]  # fmt: skip
    started = time.perf_counter()
    with open(store.parent / "tool-stderr.log", "ab") as log:
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log)
    peak = wait_all([proc])[0]
    return time.perf_counter() - started, peak


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "RESULTS-backup.md")
    parser.add_argument("--with-gzip", action="store_true", help="also time `tar | gzip -1` once")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    data = make_data(args.out, args.size_mib)
    print(f"data: {data} (ready in {time.perf_counter() - t0:.1f} s)", flush=True)
    total = sum(f.stat().st_size for f in data.rglob("*") if f.is_file())
    times: dict[str, list[float]] = {"floor": [], "shell": [], "tool": []}
    rss: dict[str, int] = {"floor": 0, "shell": 0, "tool": 0}
    # Warm the page cache once so every variant reads the data from memory alike.
    run_floor(data, args.out / "warm.tar.zst", with_sha=False)
    for i in range(args.repeat):
        for name in ("floor", "shell", "tool"):
            # Untimed: flush the previous variant's dirty pages so no variant pays for another's writeback.
            os.sync()
            if name == "tool":
                seconds, peak = run_tool(data, args.out / "store")
            else:
                seconds, peak = run_floor(data, args.out / f"{name}.tar.zst", with_sha=name == "shell")
            times[name].append(seconds)
            rss[name] = max(rss[name], peak)
            print(f"run {i + 1} {name:5s} {seconds:7.2f} s  peak RSS {peak / 1024:6.1f} MiB", flush=True)
    gzip_line = ""
    if args.with_gzip:
        os.sync()
        seconds, _ = run_floor(data, args.out / "gzip.tar.gz", with_sha=False, compressor="gzip")
        size = (args.out / "gzip.tar.gz").stat().st_size
        print(f"gzip  {seconds:7.2f} s", flush=True)
        gzip_line = (
            f"For the choice of compressor: `tar -cf - DIR | gzip -1 > f` took {seconds:.2f} s once "
            f"({seconds / statistics.median(times['floor']):.1f} x the zstd floor) for a "
            f"{size / 2**20:.0f} MiB archive."
        )
    archive = next((args.out / "store" / "bench").glob("*.tar.zst"))
    med = {k: statistics.median(v) for k, v in times.items()}
    lines = [
        "# backup-registry benchmark (archive backend)",
        "",
        f"Command: `python bench/bench_backup.py --size-mib {args.size_mib} --repeat {args.repeat}"
        f"{' --with-gzip' if args.with_gzip else ''}` "
        f"(or `./dev bench`), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{os.cpu_count()} CPUs (shared with other jobs), Python {sys.version.split()[0]}.",
        "",
        f"Data: {total / 2**20:.0f} MiB in {sum(1 for _ in data.rglob('*.*'))} files, half random bytes, "
        f"half log-like text; archive {archive.stat().st_size / 2**20:.0f} MiB (zstd level 1).",
        "",
        "| variant | median s | runs (s) | MB/s | x floor | peak RSS MiB |",
        "|---|---|---|---|---|---|",
    ]
    for name, label in (
        ("floor", "`tar -cf - DIR \\| zstd -1 > f` (floor)"),
        ("shell", "`tar -cf - DIR \\| zstd -1 > f && sha256sum f` (shell way)"),
        ("tool", "`backup-registry run` (hash + fsync + read-back verify)"),
    ):
        runs = ", ".join(f"{t:.2f}" for t in times[name])
        lines.append(
            f"| {label} | {med[name]:.2f} | {runs} | {total / med[name] / 1e6:.0f} | "
            f"{med[name] / med['floor']:.2f} | {rss[name] / 1024:.0f} |"
        )
    ok_floor = med["tool"] <= 1.25 * med["floor"]
    ok_shell = med["tool"] < med["shell"]
    ok_rss = rss["tool"] / 1024 < 150
    lines += [
        "",
        f"Targets: tool <= 1.25 x floor: {'met' if ok_floor else 'MISSED'} "
        f"({med['tool'] / med['floor']:.2f}); "
        f"tool faster than the shell way: {'met' if ok_shell else 'MISSED'} "
        f"({med['tool'] / med['shell']:.2f} x shell); peak RSS < 150 MB: {'met' if ok_rss else 'MISSED'} "
        f"({rss['tool'] / 1024:.0f} MiB).",
        "",
    ]
    if gzip_line:
        lines += [gzip_line, ""]
    args.results.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
