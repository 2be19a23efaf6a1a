"""All git: where values.yaml comes from (a commit's tree, or a plain file), and how it is committed.

Reads take the blob from the commit's tree, never the work tree, and report the last commit at or
before the ref that changed the file, with its author. pygit2 (libgit2, in-process: no git
subprocess) is imported only here, and only when git is used. Writes (upgrade-values, the console)
go through the git executable with an argv list: one way to commit and push, in :func:`commit_file`
and :func:`push`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from provisioner.errors import ExitCode, ProvisionerError, UsageError
from provisioner.settings.strict_yaml import MAX_VALUES_BYTES, read_yaml_file

DEFAULT_VALUES_PATH = "deploy-templates/values.yaml"


class ValuesTooLarge(ProvisionerError):
    """values.yaml larger than the validation limit: invalid settings (exit 1), refused unread."""

    exit_code = ExitCode.INVALID_SETTINGS


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
    return ValuesSource(text=read_yaml_file(path, "values file"), path=str(path), commit=None, author=None)


def _open_repo(repo_dir: Path) -> Any:
    import pygit2  # libgit2 in-process: only when --repo is used

    if not repo_dir.exists():
        raise UsageError(f"repository directory not found: {repo_dir}")
    try:
        # Only repo_dir itself: a values repo nested in another checkout must not resolve to the outer one.
        return pygit2.Repository(str(repo_dir), pygit2.enums.RepositoryOpenFlag.NO_SEARCH)
    except pygit2.GitError as exc:
        raise UsageError(f"not a git repository: {repo_dir}") from exc


def _resolve(repo: Any, ref: str, repo_dir: Path) -> Any:
    import pygit2

    if not ref or ref.startswith("-") or any(ch.isspace() or not ch.isprintable() for ch in ref):
        raise UsageError(f"invalid git ref {ref!r}")
    try:
        return repo.revparse_single(ref).peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError) as exc:
        raise UsageError(f"unknown git ref {ref!r} in {repo_dir}") from exc


def _check_values_path(values_path: str) -> str:
    pure = PurePosixPath(values_path)
    if not values_path or pure.is_absolute() or ".." in pure.parts or "\x00" in values_path:
        raise UsageError(f"invalid values path {values_path!r}: give a relative path inside the repository")
    return str(pure)


def _entry_id(commit: Any, path: str) -> Any:
    try:
        return commit.tree[path].id
    except KeyError:
        return None


def last_change(commit: Any, path: str) -> Any:
    """The commit ``git log -1 -- path`` shows from ``commit``: history simplified by TREESAME parents.

    While some parent has the same blob at ``path``, follow the first such parent (git's default
    simplification); the first commit that differs from every parent (or a root) is the change.
    """
    blob_id = _entry_id(commit, path)
    current = commit
    while True:  # one step per commit since the change: a parent with the very same tree needs no lookup
        tree_id = current.tree_id
        for parent in current.parents:
            if parent.tree_id == tree_id or _entry_id(parent, path) == blob_id:
                current = parent
                break
        else:
            return current


def _commit(repo: Any, rev: str) -> Any:
    """The commit ``rev`` names: a full object id (what job records hold) is looked up directly,
    anything else is parsed as a revision. KeyError when the repository has no such object."""
    import pygit2

    if len(rev) == 40 and all(ch in "0123456789abcdef" for ch in rev):
        found = repo.get(rev)
        if found is None:
            raise KeyError(rev)
        return found.peel(pygit2.Commit)
    return repo.revparse_single(rev).peel(pygit2.Commit)


class GitRepository:
    """One opened repository: the values file and the ancestry question answered with one open
    (opening costs about as much as reading the blob: a fleet plans thousands of registries)."""

    def __init__(self, repo_dir: Path) -> None:
        self.repo_dir = repo_dir
        self._repo = _open_repo(repo_dir)

    def __enter__(self) -> GitRepository:
        return self

    def __exit__(self, *exc: object) -> None:
        self._repo.free()

    def read_values(self, ref: str = "HEAD", values_path: str = DEFAULT_VALUES_PATH) -> ValuesSource:
        """``values_path`` from the tree of ``ref``, with the last commit that changed it."""
        import pygit2

        path = _check_values_path(values_path)
        repo, repo_dir = self._repo, self.repo_dir
        try:
            commit = _resolve(repo, ref, repo_dir)
            short = str(commit.id)[:12]
            try:
                entry = commit.tree[path]
            except KeyError as exc:
                raise UsageError(f"{path} not found at {ref} ({short}) in {repo_dir}") from exc
            if entry.type != pygit2.enums.ObjectType.BLOB:
                raise UsageError(f"{path} at {ref} is not a file")
            data = _read_capped(repo, entry.id, f"{path} at {ref} ({short}) in {repo_dir}")
            last = last_change(commit, path)
            author = Author(name=str(last.author.name or ""), email=str(last.author.email or ""))
            return ValuesSource(text=_decode(data), path=path, commit=str(last.id), author=author)
        except pygit2.GitError as exc:  # a damaged commit or tree on the way (the blob: _read_capped)
            raise UsageError(
                f"cannot read {path} at {ref} in {repo_dir}: corrupt git object ({exc})"
            ) from exc

    def is_ancestor(self, older: str, newer: str) -> bool | None:
        """Whether commit ``older`` is an ancestor of (or equal to) ``newer``; None if either is unknown."""
        import pygit2

        repo = self._repo
        try:
            old_commit, new_commit = _commit(repo, older), _commit(repo, newer)
        except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
            return None
        if old_commit.id == new_commit.id:
            return True
        return bool(repo.descendant_of(new_commit.id, old_commit.id))


def read_values_from_git(
    repo_dir: Path, ref: str = "HEAD", values_path: str = DEFAULT_VALUES_PATH
) -> ValuesSource:
    """Read ``values_path`` from the tree of ``ref`` in the repository at ``repo_dir``.

    In-process (libgit2): no git subprocess, so a fleet of a thousand repositories reads in well
    under a second instead of spawning thousands of processes.
    """
    _check_values_path(values_path)
    with GitRepository(repo_dir) as repo:
        return repo.read_values(ref, values_path)


def _read_capped(repo: Any, blob_id: Any, where: str) -> bytes:
    """The blob's bytes, its size checked from the object header before anything is loaded.

    libgit2 loads a whole object to read any of it, so a huge values.yaml is refused by its header
    (a 300 MB blob read whole took 600 MB). A damaged object is a usage error, never a crash: a
    pygit2 exception must not leave this module (it does not even pickle back from a fleet worker).
    """
    import pygit2

    try:
        _kind, size = repo.odb.read_header(blob_id)
        if size > MAX_VALUES_BYTES:
            raise ValuesTooLarge(
                f"{where} is {size} bytes, larger than the {MAX_VALUES_BYTES // 1024**2} MiB limit"
            )
        return bytes(repo[blob_id].data)
    except pygit2.GitError as exc:
        raise UsageError(f"cannot read {where}: corrupt git object ({exc})") from exc


def is_ancestor(repo_dir: Path, older: str, newer: str) -> bool | None:
    """Whether commit ``older`` is an ancestor of (or equal to) ``newer``; None if either is unknown."""
    with GitRepository(repo_dir) as repo:
        return repo.is_ancestor(older, newer)


# ---------------------------------------------------------------------------------------------
# Writing: the git executable, argv lists only

GIT_TIMEOUT_SECONDS = 120


def _git_executable() -> str:
    found = shutil.which("git")
    if found is None:
        raise UsageError("git is not installed (needed to commit values.yaml)")
    return os.path.abspath(found)


def run_git(repo: Path, *args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> str:
    """``git ARGS`` in ``repo``; its stdout, or UsageError with git's last line of complaint.

    Hooks are switched off: a repository's hook scripts are programs we never run.
    """
    try:
        done = subprocess.run(
            [_git_executable(), "-c", "core.hooksPath=/dev/null", *args],
            cwd=repo,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UsageError(f"git {args[0]} failed: {exc}") from exc
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise UsageError(
            f"git {args[0]} failed in {repo}: {detail[-1] if detail else 'exit ' + str(done.returncode)}"
        )
    return done.stdout


def clean_values_file(repo: Path, values_path: str) -> Path:
    """The work-tree path of values.yaml, after checking it is committed as it stands."""
    if not repo.is_dir():
        raise UsageError(f"repository directory not found: {repo}")
    rel = Path(values_path)
    if rel.is_absolute() or ".." in rel.parts or not values_path.strip():
        raise UsageError(f"invalid values path {values_path!r}: give a relative path inside the repository")
    top = run_git(repo, "rev-parse", "--show-toplevel").strip()
    if Path(top).resolve() != repo.resolve():
        raise UsageError(f"{repo} is not the top directory of a git repository (that is {top})")
    target = repo / rel
    if not target.is_file():
        raise UsageError(f"{values_path} not found in {repo}")
    status = run_git(repo, "status", "--porcelain", "--", values_path)
    if status.strip():
        raise UsageError(
            f"{values_path} has uncommitted changes in {repo}; commit or discard them first "
            "(changes start from the committed file)"
        )
    return target


def commit_file(repo: Path, path: str, message: str, author: Author | None) -> str:
    """Commit the work-tree ``path`` (only it) with ``message``; the new commit's id.

    ``author`` is author and committer (None: the repository's configured identity).
    """
    env = dict(os.environ)
    if author is not None:
        env.update(
            GIT_AUTHOR_NAME=author.name,
            GIT_AUTHOR_EMAIL=author.email,
            GIT_COMMITTER_NAME=author.name,
            GIT_COMMITTER_EMAIL=author.email,
        )
    run_git(repo, "commit", "-q", "--no-edit", "-F", "-", "--", path, env=env, stdin=message)
    return run_git(repo, "rev-parse", "HEAD").strip()


def branch_head(repo_dir: Path) -> tuple[str, str]:
    """(branch name, commit id) of the checked-out branch; UsageError when HEAD is detached or unborn."""
    repo = _open_repo(repo_dir)
    try:
        if repo.head_is_detached or repo.head_is_unborn:
            raise UsageError(f"{repo_dir}: HEAD is not a branch with commits (check out a branch)")
        return str(repo.head.shorthand), str(repo.head.target)
    finally:
        repo.free()


def upstream_of(repo: Path, branch: str) -> tuple[str, str] | None:
    """(remote, branch) the checked-out ``branch`` pushes to, or None without an upstream."""
    try:
        remote = run_git(repo, "config", "--get", f"branch.{branch}.remote").strip()
        merge = run_git(repo, "config", "--get", f"branch.{branch}.merge").strip()
    except UsageError:  # git config exits 1 when the key is unset
        return None
    if not remote or remote == "." or not merge.startswith("refs/heads/"):
        return None
    return remote, merge.removeprefix("refs/heads/")


def push(repo: Path, remote: str, branch: str) -> None:
    """Fast-forward ``remote``'s ``branch`` to HEAD (never forced); UsageError when rejected."""
    run_git(repo, "push", "--quiet", "--porcelain", remote, f"HEAD:refs/heads/{branch}")


def init_with_files(repo: Path, message: str, author: Author) -> str:
    """``git init`` a directory and commit all its files (the demo's registry repository); the commit id.

    Runs with a minimal environment (no user or system git configuration): the same commit anywhere.
    """
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(repo),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": author.name,
        "GIT_AUTHOR_EMAIL": author.email,
        "GIT_COMMITTER_NAME": author.name,
        "GIT_COMMITTER_EMAIL": author.email,
    }
    run_git(repo, "init", "-q", "-b", "main", env=env)
    run_git(repo, "add", "-A", env=env)
    run_git(repo, "commit", "-q", "-F", "-", env=env, stdin=message)
    return run_git(repo, "rev-parse", "HEAD", env=env).strip()


def warm_up() -> None:
    """Load libgit2 now (a fleet worker process, before its first registry)."""
    import pygit2  # noqa: F401


def undo_commit(repo: Path, base: str) -> None:
    """Move the branch back to ``base`` after a failed push (``--keep``: only the committed file moves)."""
    run_git(repo, "reset", "-q", "--keep", base)
