"""A small, long-lived process that starts the benchmarked tools, so their ru_maxrss is their own.

On Linux a child's ru_maxrss starts from the peak RSS of the process it was forked (or vforked) from:
exec records the old address space's high-water mark. Started from bench_fleet.py, which holds a
thousand repositories' worth of data, every tool would report at least the benchmark's own size.
This launcher is started before any of that (about 10 MB), stays that small, and for each request
(one JSON line on stdin: argv, env, cwd, stderr file) starts the tool, answers its pid at once, then
waits for it with os.wait4 and answers the exit status, the wall time, ru_maxrss in KiB, the CPU
seconds of the tool and its children, and time.monotonic() just before the start and after the exit.

Standard library only; run as ``python -I bench/fleet_launcher.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time


def main() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        with open(request["stderr"], "wb") as err:
            started_at = time.monotonic()
            start = time.perf_counter()
            proc = subprocess.Popen(
                request["argv"], env=request["env"], cwd=request["cwd"], stdout=subprocess.DEVNULL, stderr=err
            )
            print(json.dumps({"pid": proc.pid}), flush=True)
            _pid, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - start
            ended_at = time.monotonic()
        proc.returncode = os.waitstatus_to_exitcode(status)
        cpu = usage.ru_utime + usage.ru_stime  # the tool and the children it waited for
        answer = {
            "code": proc.returncode,
            "wall": wall,
            "maxrss_kb": usage.ru_maxrss,
            "cpu": cpu,
            "startedAt": started_at,
            "endedAt": ended_at,
        }
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
