"""Where values.yaml comes from: a commit's tree in a git repository (GitPython), or a plain file.

The git side reads the blob from the commit's tree, never the work tree, and reports the last commit
at or before the ref that changed the file, with its author. GitPython is imported only here, and
only when git is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from provisioner.exit_codes import UsageError
from provisioner.values_yaml import MAX_VALUES_BYTES

DEFAULT_VALUES_PATH = "deploy-templates/values.yaml"


@dataclass(frozen=True)
class Author:
    name: str
    email: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "email": self.email}


@dataclass(frozen=True)
class ValuesSource:
    text: str
    path: str  # the values path inside the repository, or the file path given
    commit: str | None  # last commit at/under the ref that changed the file (git only)
    author: Author | None

    def to_json(self) -> dict[str, object] | None:
        """The ``source`` object of the validate JSON (None for a plain file)."""
        if self.commit is None:
            return None
        return {"commit": self.commit, "author": self.author.to_json() if self.author else None}


def _decode(data: bytes) -> str:
    # Undecodable bytes survive as lone surrogates, which the YAML reader reports as invalid
    # characters (exit 1) instead of a crash.
    return data.decode("utf-8", "surrogateescape")


def read_values_file(path: Path) -> ValuesSource:
    """Read a plain values file (at most 1 MiB + 1 byte is read; validation reports the excess)."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_VALUES_BYTES + 1)
    except FileNotFoundError as exc:
        raise UsageError(f"values file not found: {path}") from exc
    except IsADirectoryError as exc:
        raise UsageError(f"values file is a directory: {path}") from exc
    except OSError as exc:
        raise UsageError(f"cannot read values file {path}: {exc.strerror or exc}") from exc
    return ValuesSource(text=_decode(data), path=str(path), commit=None, author=None)


def _open_repo(repo_dir: Path) -> Any:
    import git  # GitPython: only when --repo is used

    if not repo_dir.exists():
        raise UsageError(f"repository directory not found: {repo_dir}")
    try:
        return git.Repo(repo_dir, search_parent_directories=False)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
        raise UsageError(f"not a git repository: {repo_dir}") from exc


def _resolve(repo: Any, ref: str, repo_dir: Path) -> Any:
    import git

    if not ref or ref.startswith("-") or any(ch.isspace() or not ch.isprintable() for ch in ref):
        raise UsageError(f"invalid git ref {ref!r}")
    try:
        commit = repo.commit(ref)
        commit.tree  # noqa: B018 - resolves the object: an unknown full sha fails only here
        return commit
    except (git.BadName, git.BadObject, ValueError, git.GitCommandError) as exc:
        raise UsageError(f"unknown git ref {ref!r} in {repo_dir}") from exc


def _check_values_path(values_path: str) -> str:
    pure = PurePosixPath(values_path)
    if not values_path or pure.is_absolute() or ".." in pure.parts or "\x00" in values_path:
        raise UsageError(f"invalid values path {values_path!r}: give a relative path inside the repository")
    return str(pure)


def read_values_from_git(
    repo_dir: Path, ref: str = "HEAD", values_path: str = DEFAULT_VALUES_PATH
) -> ValuesSource:
    """Read ``values_path`` from the tree of ``ref`` in the repository at ``repo_dir``."""
    path = _check_values_path(values_path)
    repo = _open_repo(repo_dir)
    try:
        commit = _resolve(repo, ref, repo_dir)
        try:
            blob = commit.tree / path
        except KeyError as exc:
            raise UsageError(f"{path} not found at {ref} ({commit.hexsha[:12]}) in {repo_dir}") from exc
        if blob.type != "blob":
            raise UsageError(f"{path} at {ref} is not a file")
        data = _read_capped(blob.data_stream)
        last = next(iter(repo.iter_commits(commit.hexsha, paths=path, max_count=1)), commit)
        author = Author(name=str(last.author.name or ""), email=str(last.author.email or ""))
        return ValuesSource(text=_decode(data), path=path, commit=str(last.hexsha), author=author)
    finally:
        repo.close()


def _read_capped(stream: Any) -> bytes:
    """The first MAX_VALUES_BYTES + 1 bytes; the stream is drained so git's cat-file stays in sync."""
    kept = bytearray()
    while chunk := stream.read(1 << 16):
        if len(kept) <= MAX_VALUES_BYTES:
            kept += chunk[: MAX_VALUES_BYTES + 1 - len(kept)]
    return bytes(kept)


def is_ancestor(repo_dir: Path, older: str, newer: str) -> bool | None:
    """Whether commit ``older`` is an ancestor of (or equal to) ``newer``; None if either is unknown."""
    import git

    repo = _open_repo(repo_dir)
    try:
        try:
            old_commit = repo.commit(older)
            new_commit = repo.commit(newer)
        except (git.BadName, git.BadObject, ValueError, git.GitCommandError):
            return None
        return bool(repo.is_ancestor(old_commit, new_commit))
    finally:
        repo.close()
