"""The embedded target: a JENKINS_HOME directory laid out as Jenkins lays it out.

``jobs/<name>/config.xml``; folders as ``jobs/<folder>/config.xml`` with their items under
``jobs/<folder>/jobs/<name>/``. Files are written atomically (temp file in the same directory,
fsync, rename, fsync of the directory), so a crash never leaves a half-written config.xml.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

from provisioner._fs import atomic_write_bytes
from provisioner.errors import JenkinsFailure
from provisioner.jenkins.configxml import ConfigXmlError, job_facts, parse_config
from provisioner.jenkins.target import FOLDER_CLASS_SUFFIXES, JobPath, LiveIndex, LiveItem

CONFIG = "config.xml"


class JenkinsHomeTarget:
    def __init__(self, home: Path, *, folder_config: Callable[[str], str]) -> None:
        self._home = home
        self._folder_config = folder_config  # config.xml of a folder to create, by its full name

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
            file.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(file.parent, file.name, text.encode("utf-8"))
        except OSError as exc:
            raise JenkinsFailure(f"cannot write {file}: {exc.strerror or exc}") from exc

    def create_job(self, path: JobPath, config_xml: str) -> None:
        try:
            self._home.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise JenkinsFailure(f"cannot create JENKINS_HOME {self._home}: {exc.strerror or exc}") from exc
        self.ensure_folders(path)
        self._write(self._job_file(path), config_xml)

    def ensure_folders(self, path: JobPath, folders: list[tuple[str, ...]] | None = None) -> None:
        """Write a folder config.xml for each missing ancestor folder (or just ``folders``)."""
        for folder in folders if folders is not None else path.folder_paths():
            folder_file = self._item_dir(folder) / CONFIG
            if not folder_file.exists():
                self._write(folder_file, self._folder_config("/".join(folder)))

    def update_job(self, path: JobPath, config_xml: str) -> None:
        self._write(self._job_file(path), config_xml)

    def disable_job(self, path: JobPath) -> None:
        """Set ``<disabled>true</disabled>`` in the job's config.xml (nothing else changes meaning)."""
        file = self._job_file(path)
        text = self.read_job(path)
        if text is None:
            raise JenkinsFailure(f"disabling job {path.full_name}: {file} does not exist")
        try:
            root = parse_config(text)
        except ConfigXmlError as exc:
            raise JenkinsFailure(f"disabling job {path.full_name}: {exc}") from exc
        flag = root.find("disabled")
        if flag is None:
            flag = ET.SubElement(root, "disabled")
        flag.text = "true"
        self._write(file, "<?xml version='1.1' encoding='UTF-8'?>\n" + ET.tostring(root, encoding="unicode"))

    def list_items(self, depth: int, *, descriptions: bool = False) -> LiveIndex:
        """Walk ``jobs/`` down to ``depth`` levels, as Jenkins would list them."""
        items: dict[str, LiveItem] = {}
        stack: list[tuple[tuple[str, ...], Path]] = [((), self._home / "jobs")]
        while stack:
            parts, directory = stack.pop()
            if len(parts) >= depth or not directory.is_dir():
                continue
            for child in sorted(directory.iterdir()):
                config = child / CONFIG
                if not config.is_file():
                    continue
                full = (*parts, child.name)
                try:
                    facts = job_facts(config.read_bytes())
                except (OSError, ConfigXmlError):
                    continue  # Jenkins would not load it either
                folder = facts.root.endswith(FOLDER_CLASS_SUFFIXES)
                items["/".join(full)] = LiveItem(
                    full_name="/".join(full),
                    folder=folder,
                    disabled=facts.disabled,
                    description=facts.description if descriptions else None,
                )
                if folder:
                    stack.append((full, child / "jobs"))
        return LiveIndex(items=items, depth=depth)
