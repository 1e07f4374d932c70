"""The reference agent's disk: each server's directory, archived and restored for real.

Servers live in `<data_dir>/servers/<server id>`; whatever directory the
backend names, only its last part (the server's id) is used, so no frame can
point the agent outside its data directory. An archive is a tar.gz streamed
as it is made; one being received is staged under `<data_dir>/transfers/`, on
disk rather than in memory. Restoring
extracts into a staging directory next to the server's, refusing any member
that would land outside it (absolute paths, `..`, links pointing out, devices:
the tarfile `data` filter plus our own check for a clear reason), then replaces
the server's directory.
"""

from __future__ import annotations

import os
import re
import shutil
import tarfile
from pathlib import Path, PurePosixPath
from typing import Protocol

SERVER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")


class Writable(Protocol):
    def write(self, data: bytes) -> int: ...


class DiskRefused(Exception):
    """The agent will not do this to its disk (a bad name, an unsafe archive)."""


class AgentDisk:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.servers = data_dir / "servers"
        self.staging = data_dir / "transfers"

    def server_dir(self, server_dir_or_id: str) -> Path:
        name = PurePosixPath(server_dir_or_id).name
        if not SERVER_ID.match(name):
            raise DiskRefused(f"not a server directory: {server_dir_or_id!r}")
        return self.servers / name

    def staged(self, transfer_id: str, suffix: str) -> Path:
        if not SERVER_ID.match(transfer_id):
            raise DiskRefused("not a transfer id")
        self.staging.mkdir(parents=True, exist_ok=True)
        return self.staging / f"{transfer_id}{suffix}"

    # --- source: archive ---

    def archive(self, server_dir: Path, out: Writable) -> None:
        """Stream a tar.gz of the server's directory (empty if it has none) into `out`."""
        with tarfile.open(fileobj=out, mode="w|gz") as tar:
            if server_dir.is_dir():
                for entry in sorted(server_dir.iterdir()):
                    tar.add(entry, arcname=entry.name)

    # --- target: restore ---

    def restore(self, archive: Path, server_dir: Path) -> None:
        """Extract `archive` as the server's directory, replacing it; DiskRefused when a
        member would escape it (nothing is left behind then)."""
        work = server_dir.with_name(f".{server_dir.name}.restoring")
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        try:
            with tarfile.open(archive, "r:gz") as tar:
                for member in tar.getmembers():
                    _check_member(member, work)
                tar.extractall(work, filter="data")
        except (tarfile.TarError, OSError, DiskRefused) as exc:
            shutil.rmtree(work, ignore_errors=True)
            raise DiskRefused(f"cannot restore the archive: {exc}") from None
        shutil.rmtree(server_dir, ignore_errors=True)
        os.replace(work, server_dir)

    def remove(self, *paths: Path) -> None:
        for path in paths:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)

    def partial_restore(self, server_dir: Path) -> Path:
        return server_dir.with_name(f".{server_dir.name}.restoring")


def _check_member(member: tarfile.TarInfo, root: Path) -> None:
    name = PurePosixPath(member.name)
    if name.is_absolute() or ".." in name.parts:
        raise DiskRefused(f"unsafe path in the archive: {member.name!r}")
    if member.isdev():
        raise DiskRefused(f"devices are not restored: {member.name!r}")
    target = (root / name).resolve()
    if not target.is_relative_to(root.resolve()):
        raise DiskRefused(f"unsafe path in the archive: {member.name!r}")
