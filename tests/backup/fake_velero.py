"""A fake `velero` CLI for the tests: records argv and environment, answers like Velero 1.x.

Written into a temp dir as an executable named `velero` (with this interpreter in its shebang
and its state file baked in), so the code under test finds it on PATH like the real one.
Covers: `backup create NAME --include-namespaces NS --ttl D --labels K=V --wait`,
`backup get NAME -o json`, `backup get -l K=V -o json` (a single match prints the Backup itself,
several print a BackupList, as Velero's printer does).
"""

from __future__ import annotations

import json
import os
import stat
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

TEMPLATE = """#!{python}
import sys
sys.path.insert(0, {root!r})
from tests.backup.fake_velero import main
raise SystemExit(main({state!r}, sys.argv[1:]))
"""


def install(bindir: Path, state: Path, phase: str = "Completed", exit_code: int = 0) -> Path:
    bindir.mkdir(parents=True, exist_ok=True)
    state.write_text(json.dumps({"phase": phase, "exit_code": exit_code, "backups": {}, "calls": []}))
    exe = bindir / "velero"
    root = str(Path(__file__).resolve().parents[2])
    exe.write_text(TEMPLATE.format(python=sys.executable, root=root, state=str(state)))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return exe


def _ttl_hours(text: str) -> int:
    assert text.endswith("h0m0s"), text
    return int(text[: -len("h0m0s")])


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def main(state_path: str, argv: list[str]) -> int:
    state = json.loads(Path(state_path).read_text())
    state["calls"].append({"argv": argv, "env": sorted(os.environ)})
    code = 0
    try:
        if state["exit_code"]:
            print("An error occurred: the server could not find the requested resource", file=sys.stderr)
            code = state["exit_code"]
        elif argv[:2] == ["backup", "create"]:
            code = _create(state, argv[2:])
        elif argv[:2] == ["backup", "get"]:
            code = _get(state, argv[2:])
        elif argv[:2] == ["restore", "create"]:
            name, opts = argv[2], dict(zip(argv[3:-1:2], argv[4:-1:2], strict=True))
            assert argv[-1] == "--wait", argv
            if opts["--from-backup"] not in state["backups"]:
                print(f'An error occurred: backup "{opts["--from-backup"]}" not found', file=sys.stderr)
                return 1
            state.setdefault("restores", {})[name] = {
                "apiVersion": "velero.io/v1",
                "kind": "Restore",
                "metadata": {"name": name, "namespace": "velero"},
                "spec": {
                    "backupName": opts["--from-backup"],
                    "namespaceMapping": opts["--namespace-mappings"],
                },
                "status": {"phase": state.get("restore_phase", "Completed")},
            }
            print(f'Restore request "{name}" submitted successfully.')
        elif argv[:2] == ["restore", "get"]:
            assert argv[3:] == ["-o", "json"], argv
            print(json.dumps(state.get("restores", {})[argv[2]], indent=4))
        else:
            print(f"Error: unknown command {argv!r}", file=sys.stderr)
            code = 1
    finally:
        Path(state_path).write_text(json.dumps(state))
    return code


def _create(state: dict, args: list[str]) -> int:  # type: ignore[type-arg]
    name, rest = args[0], args[1:]
    opts: dict[str, str] = {}
    flags = set()
    i = 0
    while i < len(rest):
        if rest[i] == "--wait":
            flags.add("wait")
            i += 1
        else:
            opts[rest[i]] = rest[i + 1]
            i += 2
    now = datetime.now(UTC).replace(microsecond=0)
    labels = dict(kv.split("=", 1) for kv in opts.get("--labels", "").split(",") if kv)
    state["backups"][name] = {
        "apiVersion": "velero.io/v1",
        "kind": "Backup",
        "metadata": {"name": name, "namespace": "velero", "labels": labels, "creationTimestamp": _stamp(now)},
        "spec": {"includedNamespaces": opts["--include-namespaces"].split(","), "ttl": opts["--ttl"]},
        "status": {
            "phase": state["phase"],
            "startTimestamp": _stamp(now),
            "completionTimestamp": _stamp(now),
            "expiration": _stamp(now + timedelta(hours=_ttl_hours(opts["--ttl"]))),
        },
    }
    print(f'Backup request "{name}" submitted successfully.')
    if "wait" in flags:
        print(
            "Waiting for backup to complete. You may safely press ctrl-c to stop waiting - your backup will "
            "continue in the background."
        )
        print(".")
        print(
            f"Backup completed with status: {state['phase']}. You may check for more information using the "
            f"commands `velero backup describe {name}` and `velero backup logs {name}`."
        )
    return 0  # like Velero: --wait exits 0 whatever the phase


def _get(state: dict, args: list[str]) -> int:  # type: ignore[type-arg]
    assert args[-2:] == ["-o", "json"], args
    args = args[:-2]
    if args and args[0] == "-l":
        key, _, value = args[1].partition("=")
        items = [b for b in state["backups"].values() if b["metadata"]["labels"].get(key) == value]
    else:
        items = [state["backups"][n] for n in args if n in state["backups"]]
        missing = [n for n in args if n not in state["backups"]]
        if missing:
            print(f'An error occurred: backups.velero.io "{missing[0]}" not found', file=sys.stderr)
            return 1
    if len(items) == 1:
        print(json.dumps(items[0], indent=4))
    else:
        print(json.dumps({"apiVersion": "velero.io/v1", "kind": "BackupList", "items": items}, indent=4))
    return 0
