"""The embedded target: a JENKINS_HOME directory laid out as Jenkins lays it out.

``jobs/<name>/config.xml``; folders as ``jobs/<folder>/config.xml`` with their items under
``jobs/<folder>/jobs/<name>/``. Files are written atomically (temp file in the same directory,
fsync, rename, fsync of the directory), so a crash never leaves a half-written config.xml.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from provisioner.exit_codes import JenkinsFailure
from provisioner.jenkins.target import JobPath
from provisioner.render import render_folder_config

CONFIG = "config.xml"


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class JenkinsHomeTarget:
    def __init__(self, home: Path) -> None:
        self._home = home

    @property
    def label(self) -> str:
        return f"JENKINS_HOME {self._home}"

    def _item_dir(self, parts: tuple[str, ...]) -> Path:
        directory = self._home
        for part in parts:
            directory = directory / "jobs" / part
        return directory

    def _job_file(self, path: JobPath) -> Path:
        return self._item_dir((*path.folders, path.name)) / CONFIG

    def read_job(self, path: JobPath) -> str | None:
        file = self._job_file(path)
        try:
            return file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise JenkinsFailure(f"cannot read {file}: {exc.strerror or exc}") from exc

    def _write(self, file: Path, text: str) -> None:
        try:
            write_atomic(file, text)
        except OSError as exc:
            raise JenkinsFailure(f"cannot write {file}: {exc.strerror or exc}") from exc

    def create_job(self, path: JobPath, config_xml: str) -> None:
        try:
            self._home.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise JenkinsFailure(f"cannot create JENKINS_HOME {self._home}: {exc.strerror or exc}") from exc
        for folder in path.folder_paths():
            folder_file = self._item_dir(folder) / CONFIG
            if not folder_file.exists():
                self._write(folder_file, render_folder_config("/".join(folder)))
        self._write(self._job_file(path), config_xml)

    def update_job(self, path: JobPath, config_xml: str) -> None:
        self._write(self._job_file(path), config_xml)
