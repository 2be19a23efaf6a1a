"""Real git repositories in temporary directories for tests (git via argv, explicit identities)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

DEFAULT_AUTHOR = ("Test Author", "author@example.com")
_GIT = shutil.which("git") or "/usr/bin/git"


def _env(author: tuple[str, str], date: str | None) -> dict[str, str]:
    name, email = author
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
        "LC_ALL": "C",
    }
    if date is not None:
        env["GIT_AUTHOR_DATE"] = date
        env["GIT_COMMITTER_DATE"] = date
    return env


def git(repo: Path, *args: str, author: tuple[str, str] = DEFAULT_AUTHOR, date: str | None = None) -> str:
    """Run git in ``repo`` and return its stdout (stripped)."""
    done = subprocess.run(
        [_GIT, *args],
        cwd=repo,
        env=_env(author, date),
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.stdout.strip()


def commit(
    repo: Path,
    files: Mapping[str, str | bytes | None],
    author: tuple[str, str] = DEFAULT_AUTHOR,
    message: str = "change",
    date: str | None = None,
) -> str:
    """Write (or delete, for None) files, commit them all, return the new commit sha."""
    for rel, content in files.items():
        target = repo / rel
        if content is None:
            git(repo, "rm", "-q", "--", rel)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")
        git(repo, "add", "--", rel)
    git(repo, "commit", "-q", "--allow-empty", "-m", message, author=author, date=date)
    return git(repo, "rev-parse", "HEAD")


def make_repo(
    path: Path,
    files: Mapping[str, str | bytes | None],
    author: tuple[str, str] = DEFAULT_AUTHOR,
    message: str = "initial commit",
    date: str | None = None,
) -> str:
    """Create a repository at ``path`` (branch main) with one commit of ``files``; return its sha."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    return commit(path, files, author=author, message=message, date=date)
