"""Helpers for the restore and drill tests: odd source trees, tree comparison, forged archives."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from collections.abc import Iterable
from pathlib import Path

import zstandard


def odd_tree(root: Path) -> Path:
    """Modes, old mtimes, symlinks (relative, absolute, dangling), odd names, a read-only dir."""
    (root / "nested" / "deep").mkdir(parents=True)
    (root / "a.txt").write_text("hello registry\n")
    (root / "nested" / "b.bin").write_bytes(os.urandom(300_000))
    (root / "nested" / "deep" / "empty").write_bytes(b"")
    os.chmod(root / "a.txt", 0o640)
    os.utime(root / "a.txt", (1_000_000_000, 1_000_000_000))
    (root / "link").symlink_to("a.txt")
    (root / "abs-link").symlink_to("/etc/passwd")
    (root / "dangling").symlink_to("nowhere/at/all")
    odd = os.fsencode(root) + b"/new\nline \xff\xfe invalid utf-8"
    with open(odd, "wb") as fh:
        fh.write(b"odd name\n")
    (root / "exec.sh").write_text("#!/bin/sh\n")
    os.chmod(root / "exec.sh", 0o751)
    (root / "ro").mkdir()
    (root / "ro" / "inside").write_text("r\n")
    os.chmod(root / "ro", 0o555)
    os.utime(root / "nested", (1_200_000_000, 1_200_000_000))
    return root


def tree_facts(root: Path) -> dict[bytes, tuple[object, ...]]:
    """Every entry's type, mode, mtime (seconds), size, content hash or link target."""
    facts: dict[bytes, tuple[object, ...]] = {}
    base = os.fsencode(root)
    for current, dirs, files in os.walk(base):
        for name in dirs + files:
            path = os.path.join(current, name)
            st = os.lstat(path)
            rel = os.path.relpath(path, base)
            if os.path.islink(path):
                facts[rel] = ("link", os.readlink(path))
            elif os.path.isdir(path):
                facts[rel] = ("dir", st.st_mode & 0o7777, int(st.st_mtime))
            else:
                with open(path, "rb") as fh:
                    digest = hashlib.sha256(fh.read()).hexdigest()
                facts[rel] = ("file", st.st_mode & 0o7777, int(st.st_mtime), st.st_size, digest)
    return facts


def listing(root: Path) -> list[str]:
    out = []
    for current, dirs, files in os.walk(root):
        for name in dirs + files:
            out.append(os.path.relpath(os.path.join(current, name), root))
    return sorted(out)


def forge_backup(folder: Path, backup_id: str, members: Iterable[tuple[tarfile.TarInfo, bytes]]) -> Path:
    """Write ``<id>.tar.zst`` from the given members plus metadata that matches it (size, SHA-256)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            info.size = len(data) if info.isreg() else 0
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    compressed = zstandard.ZstdCompressor(write_checksum=True).compress(raw.getvalue())
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".lock").touch()  # as `run` leaves it
    archive = folder / f"{backup_id}.tar.zst"
    archive.write_bytes(compressed)
    rewrite_metadata(folder, backup_id, sources=[{"type": "directory", "path": "/x", "member": "dirs/x"}])
    return archive


def rewrite_metadata(folder: Path, backup_id: str, sources: list[dict[str, str]] | None = None) -> None:
    """Make the metadata match the archive as it is now (what a careful tamperer would do)."""
    archive = folder / f"{backup_id}.tar.zst"
    data = archive.read_bytes()
    meta_path = folder / f"{backup_id}.json"
    registry = folder.name
    b = backup_id
    stamp = f"{b[:4]}-{b[4:6]}-{b[6:8]}T{b[9:11]}:{b[11:13]}:{b[13:15]}Z"
    meta: dict[str, object] = (
        json.loads(meta_path.read_text())
        if meta_path.exists()
        else {
            "registry": registry,
            "id": backup_id,
            "createdAt": stamp,
            "expiresAt": "2099-01-01T00:00:00Z",
            "toolVersion": "forged",
            "archive": archive.name,
            "format": "tar+zstd",
        }
    )
    meta["sha256"] = hashlib.sha256(data).hexdigest()
    meta["sizeBytes"] = len(data)
    if sources is not None:
        meta["sources"] = sources
    meta_path.write_text(json.dumps(meta))


def member(name: str, kind: bytes = tarfile.REGTYPE, mode: int = 0o644, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.linkname, info.mtime = kind, mode, link, 1_700_000_000
    return info


def read_members(archive: Path) -> list[tuple[tarfile.TarInfo, bytes]]:
    raw = zstandard.ZstdDecompressor().stream_reader(archive.read_bytes(), read_across_frames=True).read()
    out = []
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:", encoding="utf-8", errors="surrogateescape") as tar:
        for info in tar.getmembers():
            f = tar.extractfile(info) if info.isreg() else None
            out.append((info, f.read() if f else b""))
    return out


def repack(archive: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> None:
    """Rewrite an archive with (changed) members and make its metadata match."""
    raw = io.BytesIO()
    with tarfile.open(
        fileobj=raw, mode="w", format=tarfile.PAX_FORMAT, encoding="utf-8", errors="surrogateescape"
    ) as tar:
        for info, data in members:
            info.size = len(data) if info.isreg() else 0
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    archive.write_bytes(zstandard.ZstdCompressor(write_checksum=True).compress(raw.getvalue()))
    rewrite_metadata(archive.parent, archive.name.removesuffix(".tar.zst"))
