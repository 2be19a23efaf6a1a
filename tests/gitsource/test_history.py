"""The in-process reader names the same "last change" commit as `git log -1 -- PATH`, merges included.

Random histories on two branches with merges whose values.yaml equals one side, both sides or
neither: exactly the cases where git's history simplification (follow a TREESAME parent) matters.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioner.gitsource import is_ancestor, read_values_from_git
from tests.helpers.gitrepo import git

VALUES = "deploy-templates/values.yaml"
BRANCHES = ("main", "side")

# A step: ("commit", branch, content or None for "touch another file") or
# ("merge", into, content choice: "ours" | "theirs" | a new content)
_content = st.sampled_from(["a", "b", "c"])
_commit = st.tuples(st.just("commit"), st.sampled_from(BRANCHES), st.none() | _content)
_choice = st.sampled_from(["ours", "theirs"]) | _content
_merge = st.tuples(st.just("merge"), st.sampled_from(BRANCHES), _choice)
_steps = st.lists(st.one_of(_commit, _merge), min_size=1, max_size=9)


def _write(repo: Path, rel: str, text: str) -> None:
    (repo / rel).parent.mkdir(parents=True, exist_ok=True)
    (repo / rel).write_text(text, encoding="utf-8")


def _build(repo: Path, steps: list[tuple[str, str, str | None]]) -> None:
    git(repo, "init", "-q", "-b", "main")
    _write(repo, VALUES, "global: {}\n# start\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "root", date="2026-01-01T00:00:00Z")
    git(repo, "branch", "side")
    for number, (kind, branch, choice) in enumerate(steps, start=1):
        date = f"2026-01-{1 + number:02d}T00:00:00Z"  # strictly increasing commit dates
        git(repo, "checkout", "-q", branch)
        if kind == "commit":
            if choice is None:
                _write(repo, f"other-{number}.txt", str(number))
            else:
                _write(repo, VALUES, f"global: {{}}\n# {choice} {number}\n")
            git(repo, "add", "-A")
            git(repo, "commit", "-q", "-m", f"step {number}", date=date)
            continue
        other = BRANCHES[1 - BRANCHES.index(branch)]
        theirs = git(repo, "show", f"{other}:{VALUES}") + "\n"
        git(repo, "merge", "-q", "--no-ff", "--no-commit", "-s", "ours", other, date=date)
        if not (repo / ".git" / "MERGE_HEAD").exists():
            continue  # already up to date: nothing to merge
        if choice == "theirs":
            _write(repo, VALUES, theirs)
        elif choice != "ours":
            _write(repo, VALUES, f"global: {{}}\n# merged {choice} {number}\n")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", f"merge {number}", date=date)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=_steps)
def test_last_change_matches_git_log(steps: list[tuple[str, str, str | None]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp)
        _build(repo, steps)
        for ref in BRANCHES:
            expected = git(repo, "log", "-1", "--format=%H", ref, "--", VALUES)
            source = read_values_from_git(repo, ref, VALUES)
            assert source.commit == expected, (ref, git(repo, "log", "--graph", "--oneline", "--all"))
            assert source.text == git(repo, "show", f"{ref}:{VALUES}") + "\n"


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=_steps)
def test_is_ancestor_matches_git_merge_base(steps: list[tuple[str, str, str | None]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp)
        _build(repo, steps)
        commits = git(repo, "rev-list", "--all").split()
        for older in commits[:4]:
            for newer in commits[:4]:
                merge_base = git(repo, "merge-base", older, newer) if older != newer else older
                assert is_ancestor(repo, older, newer) is (merge_base == older)
        assert is_ancestor(repo, "0" * 40, commits[0]) is None
