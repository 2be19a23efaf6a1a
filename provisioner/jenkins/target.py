"""What the reconciler needs from a Jenkins: read a job's config.xml, create or update it, folders.

Two implementations: :class:`provisioner.jenkins.http.HttpTarget` (REST over urllib3) and
:class:`provisioner.jenkins.home.JenkinsHomeTarget` (a JENKINS_HOME directory, for the embedded
quick start). Tests of the planner may use any object with these methods.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from provisioner.errors import JenkinsFailure, UsageError

# Jenkins.checkGoodName forbids these (jenkins-facts.md §3.3); we also refuse blanks at the ends.
_BAD_NAME_CHARS = re.compile(r"[?*/\\%!@#$^&|<>\[\]:;\x00-\x1f\x7f]")
MAX_NAME_LENGTH = 200


@dataclass(frozen=True)
class JobPath:
    """A job's full name split into its folders and its own name (``a/b/Job``)."""

    folders: tuple[str, ...]
    name: str

    @property
    def full_name(self) -> str:
        return "/".join((*self.folders, self.name))

    def folder_paths(self) -> list[tuple[str, ...]]:
        """Every ancestor folder, outermost first: (a,), (a, b)."""
        return [self.folders[: i + 1] for i in range(len(self.folders))]


def check_item_name(name: str, what: str) -> str:
    if not name or name in (".", "..") or name.endswith(".") or name != name.strip():
        raise UsageError(f"invalid {what} {name!r}: empty, '.', '..', a trailing '.' or outer blanks")
    if len(name) > MAX_NAME_LENGTH:
        raise UsageError(f"invalid {what}: longer than {MAX_NAME_LENGTH} characters")
    bad = _BAD_NAME_CHARS.search(name)
    if bad:
        raise UsageError(f"invalid {what} {name!r}: Jenkins does not allow {bad.group()!r} in item names")
    return name


def job_path(name: str, folder: str | None) -> JobPath:
    """Validate ``--job-name`` and ``--folder a/b`` into a :class:`JobPath`."""
    folders: tuple[str, ...] = ()
    if folder is not None:
        parts = folder.strip("/").split("/") if folder.strip("/") else []
        if not parts:
            raise UsageError("--folder must name at least one folder (e.g. registries or team/registries)")
        folders = tuple(check_item_name(part, "folder name") for part in parts)
    return JobPath(folders=folders, name=check_item_name(name, "job name"))


class JobAlreadyExists(JenkinsFailure):
    """Creating a job that someone else created after we found it missing (two reconciles racing)."""


class JobTarget(Protocol):
    """A Jenkins the reconciler can read and write. Errors: :class:`provisioner.errors.JenkinsFailure`."""

    @property
    def label(self) -> str:
        """Where this target is, for messages (never carries credentials)."""
        ...

    def read_job(self, path: JobPath) -> str | None:
        """The job's config.xml, or None when there is no such job."""
        ...

    def create_job(self, path: JobPath, config_xml: str) -> None:
        """Create the job; missing folders are created first. JobAlreadyExists when it exists now."""
        ...

    def update_job(self, path: JobPath, config_xml: str) -> None:
        """Replace the job's config.xml."""
        ...


FOLDER_CLASS_SUFFIXES = ("Folder", "MultiBranchProject")


@dataclass(frozen=True)
class LiveItem:
    """An item as listed by one tree query: enough to decide what to read, never what to write."""

    full_name: str
    folder: bool
    disabled: bool
    description: str | None  # only when asked for (orphan pruning)


@dataclass(frozen=True)
class LiveIndex:
    """Every item down to ``depth`` levels (1 = the root's items), from one listing of the live Jenkins."""

    items: dict[str, LiveItem]
    depth: int

    def covers(self, path: JobPath) -> bool:
        return len(path.folders) < self.depth

    def job_exists(self, path: JobPath) -> bool | None:
        """True/False from the listing; None when the job lies deeper than the listing reached."""
        if not self.covers(path):
            return None
        return path.full_name in self.items

    def missing_folders(self, path: JobPath) -> list[tuple[str, ...]]:
        """The job's ancestor folders the listing did not show (outermost first)."""
        return [
            folder
            for folder in path.folder_paths()
            if len(folder) <= self.depth and "/".join(folder) not in self.items
        ]


class FleetTarget(JobTarget, Protocol):
    """What reconcile-all needs on top of :class:`JobTarget`: one listing, folders, disabling orphans."""

    def list_items(self, depth: int, *, descriptions: bool = False) -> LiveIndex: ...

    def ensure_folders(self, path: JobPath, folders: list[tuple[str, ...]] | None = None) -> None: ...

    def disable_job(self, path: JobPath) -> None: ...
