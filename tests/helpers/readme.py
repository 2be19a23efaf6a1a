"""The README's examples: every ``$ command`` line of a ```console block, with the output under it.

One extractor for every test that replays the README (validate/next-runs, status, upgrade-values,
reconcile-all): the README is the spec, so its examples run.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SECTION = "<!-- section:"


def readme_examples(
    start: str, end: str | None = None, *, program: str | None = None
) -> list[tuple[str, str]]:
    """(command, output) pairs between the ``start`` marker and ``end`` (default: the next section).

    ``program`` keeps only the commands of that program (``provisioner``, ``backup-registry``).
    """
    text = README.read_text(encoding="utf-8")
    first = text.index(start)
    last = text.index(end, first + len(start)) if end is not None else text.find(SECTION, first + len(start))
    found: list[tuple[str, str]] = []
    for block in re.findall(r"```console\n(.*?)```", text[first : last if last >= 0 else None], flags=re.S):
        for part in re.split(r"^\$ ", block, flags=re.M)[1:]:
            command, _, output = part.partition("\n")
            if program is None or command.split(" ", 1)[0] == program:
                found.append((command, output))
    return found
