"""The reference agent's backups on a real disk: tar.gz archives of a server's directory.

Blocking work (run it in a thread). A backup archives the directory's contents
with paths relative to it; a restore empties the directory and extracts the
archive into it, checked member by member like any archive the agent extracts
(agent_disk: absolute paths, `..`, links out of the directory and device files
refuse it, as a FileRefused). The checksum is the archive's SHA-256, as the
agent reports it (`sha256:<hex>`).
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

from .agent_disk import ServerDisk, write_archive

CHUNK = 1 << 20


@dataclass(frozen=True)
class Archive:
    path: Path
    size_bytes: int
    checksum: str  # "sha256:<hex>"

    @property
    def size_mb(self) -> float:
        return self.size_bytes / (1024 * 1024)


def create(server_dir: Path, archive: Path) -> Archive:
    """Archive `server_dir` (created empty if missing) into `archive`, written whole or not."""
    server_dir.mkdir(parents=True, exist_ok=True)
    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_name(archive.name + ".partial")
    with partial.open("wb") as out:
        write_archive(server_dir, out)
    partial.replace(archive)
    return Archive(archive, archive.stat().st_size, f"sha256:{sha256_of(archive)}")


def restore(archive: Path, server_dir: Path) -> None:
    """Replace `server_dir`'s contents with the archive's."""
    if not archive.is_file():
        raise FileNotFoundError(f"no backup archive at {archive.name}")
    server_dir.mkdir(parents=True, exist_ok=True)
    for entry in server_dir.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    ServerDisk(server_dir).restore(archive)


def delete(archive: Path) -> None:
    archive.unlink(missing_ok=True)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
