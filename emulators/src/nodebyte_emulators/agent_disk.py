"""The reference agent's disk: each server's directory, every path confined to it.

`ServerDisk` is one server's directory, for file operations (and the config
files an install writes); `AgentDisk` is all of them, for transfers between
nodes: a server's directory archived as a stream, and restored from an archive
through the same member-by-member checks as any other archive.

Paths come from users. A path is read from the server's root (`/config.yml`
and `config.yml` name the same file, as in the reference and under SFTP's
chroot); a `..` component, a NUL, a backslash or a path that is still
absolute once its leading `/` is taken as the root is refused outright. Then
the path is resolved through symlinks and must land inside the root: a
symlink pointing out of it is refused, not followed. Entries themselves
(delete, rename) are acted on without following their final symlink, so a link
out of the root can be removed but never read or written through.

Archives are checked member by member before anything is written: absolute
names, `..`, links leading out of the target and special files refuse the
whole archive (zip-slip, tar-slip); tar extraction also runs under Python's
`data` filter, which checks each member again as it lands.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tarfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any

MAX_LISTED = 1000  # entries of one listing (a frame must stay under the backend's limit)
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")
SERVER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")


class FileRefused(Exception):
    """What the agent answers with `file_result` success false, and the reason's code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _parts(path: str) -> tuple[str, ...]:
    if "\x00" in path or "\\" in path:
        raise FileRefused("INVALID_PATH", "The path contains a forbidden character")
    relative = path[1:] if path.startswith("/") else path
    pure = PurePosixPath(relative)
    if pure.is_absolute() or relative.startswith("/"):
        raise FileRefused("INVALID_PATH", "Absolute paths outside the server are not allowed")
    if ".." in pure.parts:
        raise FileRefused("INVALID_PATH", "Paths may not contain '..'")
    return tuple(p for p in pure.parts if p not in ("", "."))


class ServerDisk:
    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root.resolve()

    # --- confinement ---

    def _inside(self, real: Path) -> bool:
        return real == self.root or self.root in real.parents

    def entry(self, path: str) -> Path:
        """The entry `path` names, its parents resolved (its own final symlink not followed)."""
        parts = _parts(path)
        if not parts:
            return self.root
        parent = (self.root.joinpath(*parts[:-1])).resolve()
        if not self._inside(parent):
            raise FileRefused("PATH_OUTSIDE_ROOT", "The path leads outside the server's files")
        return parent / parts[-1]

    def target(self, path: str) -> Path:
        """What `path` points at, following symlinks, which must stay inside the root."""
        real = self.entry(path).resolve()
        if not self._inside(real):
            raise FileRefused("PATH_OUTSIDE_ROOT", "The path leads outside the server's files")
        return real

    def shown(self, real: Path) -> str:
        return "/" + real.relative_to(self.root).as_posix() if real != self.root else "/"

    # --- operations ---

    def listing(self, path: str) -> tuple[list[dict[str, Any]], bool]:
        directory = self.target(path)
        if not directory.exists():
            raise FileRefused("NOT_FOUND", "No such directory")
        if not directory.is_dir():
            raise FileRefused("NOT_A_DIRECTORY", "The path is not a directory")
        entries = []
        with os.scandir(directory) as found:
            for item in sorted(found, key=lambda e: e.name):
                if len(entries) == MAX_LISTED:
                    return entries, True
                info = item.stat(follow_symlinks=False)
                entries.append(
                    {
                        "name": item.name,
                        "size": 0 if stat.S_ISDIR(info.st_mode) else info.st_size,
                        "isDirectory": stat.S_ISDIR(info.st_mode),
                        "isSymlink": stat.S_ISLNK(info.st_mode),
                        "modified": datetime.fromtimestamp(info.st_mtime, UTC).isoformat(),
                    }
                )
        return entries, False

    def readable(self, path: str, max_bytes: int | None) -> tuple[Path, int]:
        real = self.target(path)
        if not real.exists():
            raise FileRefused("NOT_FOUND", "No such file")
        if not real.is_file():
            raise FileRefused("NOT_A_FILE", "The path is not a regular file")
        size = real.stat().st_size
        if max_bytes is not None and size > max_bytes:
            raise FileRefused("TOO_LARGE", f"The file is larger than {max_bytes} bytes")
        return real, size

    def writable(self, path: str) -> Path:
        """Where an upload lands; its directories are made (inside the root) when missing."""
        entry = self.entry(path)
        if entry == self.root:
            raise FileRefused("INVALID_PATH", "A file name is required")
        if entry.is_symlink() and not self._inside(entry.resolve()):
            raise FileRefused("PATH_OUTSIDE_ROOT", "The path leads outside the server's files")
        if entry.is_dir():
            raise FileRefused("IS_A_DIRECTORY", "A directory has that name")
        entry.parent.mkdir(parents=True, exist_ok=True)
        return entry

    def delete(self, paths: list[str]) -> None:
        entries = [self.entry(p) for p in paths]
        for entry in entries:
            if entry == self.root:
                raise FileRefused("INVALID_PATH", "The server's root cannot be deleted")
            if not entry.is_symlink() and not entry.exists():
                raise FileRefused("NOT_FOUND", f"No such file: {self.shown(entry)}")
        for entry in entries:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()

    def rename(self, source: str, destination: str) -> str:
        old, new = self.entry(source), self.entry(destination)
        if old == self.root or new == self.root:
            raise FileRefused("INVALID_PATH", "The server's root cannot be renamed")
        if not old.is_symlink() and not old.exists():
            raise FileRefused("NOT_FOUND", "No such file")
        if new.exists() or new.is_symlink():
            raise FileRefused("ALREADY_EXISTS", "Something already has the new name")
        new.parent.mkdir(parents=True, exist_ok=True)
        old.rename(new)
        return self.shown(new)

    def create_folder(self, path: str) -> str:
        entry = self.entry(path)
        if entry.exists() or entry.is_symlink():
            raise FileRefused("ALREADY_EXISTS", "Something already has that name")
        entry.mkdir(parents=True)
        return self.shown(entry)

    def compress(self, paths: list[str], archive_name: str) -> str:
        if not archive_name.endswith((".tar.gz", ".tgz")):
            raise FileRefused("INVALID_PATH", "The archive name must end with .tar.gz or .tgz")
        sources = [self.target(p) for p in paths]
        for source in sources:
            if not source.exists():
                raise FileRefused("NOT_FOUND", f"No such file: {self.shown(source)}")
        archive = self.writable(archive_name)
        partial = archive.with_name(f".{archive.name}.partial")
        try:
            with tarfile.open(partial, "w:gz") as tar:
                for source in sources:
                    # Links inside are stored as links, never followed out of the root.
                    tar.add(source, arcname=source.relative_to(self.root).as_posix() or ".")
            partial.replace(archive)
        finally:
            partial.unlink(missing_ok=True)
        return self.shown(archive)

    def decompress(self, archive_path: str, target_path: str) -> str:
        archive, _ = self.readable(archive_path, None)
        target = self.target(target_path)
        if target.exists() and not target.is_dir():
            raise FileRefused("NOT_A_DIRECTORY", "The target is not a directory")
        if archive.name.endswith(".zip"):
            self._unzip(archive, target)
        elif archive.name.endswith(ARCHIVE_SUFFIXES):
            self._untar(archive, target)
        else:
            raise FileRefused("BAD_ARCHIVE", "Only .tar.gz, .tgz, .tar and .zip are extracted")
        return self.shown(target)

    def restore(self, archive: Path) -> None:
        """Extract a tar archive from outside the server (a transfer's) into its root."""
        self._untar(archive, self.root)

    # --- archives ---

    def _landing(self, target: Path, name: str) -> Path:
        """Where member `name` would land; refused unless inside `target` and the root."""
        try:
            parts = _parts(name)
        except FileRefused:
            raise FileRefused("UNSAFE_ARCHIVE", f"Unsafe member in the archive: {name!r}") from None
        if name.startswith("/"):
            raise FileRefused("UNSAFE_ARCHIVE", f"Unsafe member in the archive: {name!r}")
        landing = target.joinpath(*parts).resolve()
        if not (landing == target or target in landing.parents) or not self._inside(landing):
            raise FileRefused("UNSAFE_ARCHIVE", f"Unsafe member in the archive: {name!r}")
        return landing

    def _untar(self, archive: Path, target: Path) -> None:
        try:
            with tarfile.open(archive) as tar:
                members = tar.getmembers()
                for member in members:
                    self._check_tar_member(target, member)
                target.mkdir(parents=True, exist_ok=True)
                tar.extractall(target, members=members, filter="data")
        except tarfile.FilterError as exc:
            raise FileRefused("UNSAFE_ARCHIVE", f"Unsafe member in the archive: {exc}") from None
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise FileRefused("BAD_ARCHIVE", f"The archive cannot be read: {exc}") from None

    def _check_tar_member(self, target: Path, member: tarfile.TarInfo) -> None:
        landing = self._landing(target, member.name)
        if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
            raise FileRefused("UNSAFE_ARCHIVE", f"Special file in the archive: {member.name!r}")
        if member.issym():
            pointed = (landing.parent / member.linkname).resolve()
            if member.linkname.startswith("/") or target not in pointed.parents:
                raise FileRefused("UNSAFE_ARCHIVE", f"Link out of the target: {member.name!r}")
        if member.islnk():
            self._landing(target, member.linkname)

    def _unzip(self, archive: Path, target: Path) -> None:
        try:
            with zipfile.ZipFile(archive) as zipped:
                infos = zipped.infolist()
                landings = [(info, self._landing(target, info.filename)) for info in infos]
                for info, _ in landings:
                    if stat.S_ISLNK(info.external_attr >> 16):
                        raise FileRefused(
                            "UNSAFE_ARCHIVE", f"Link in the archive: {info.filename!r}"
                        )
                for info, landing in landings:
                    if info.is_dir():
                        landing.mkdir(parents=True, exist_ok=True)
                        continue
                    landing.parent.mkdir(parents=True, exist_ok=True)
                    with zipped.open(info) as source, landing.open("wb") as sink:
                        shutil.copyfileobj(source, sink, 1 << 20)
        except (zipfile.BadZipFile, OSError) as exc:
            raise FileRefused("BAD_ARCHIVE", f"The archive cannot be read: {exc}") from None


def write_archive(server_dir: Path, out: IO[bytes]) -> None:
    """Stream a tar.gz of the directory's contents (paths relative to it) into `out`:
    a backup's file, a transfer's chunks."""
    with tarfile.open(fileobj=out, mode="w|gz") as tar:
        if server_dir.is_dir():
            for entry in sorted(server_dir.iterdir()):
                tar.add(entry, arcname=entry.name)


class DiskRefused(Exception):
    """The agent will not do this to its disk (a bad name, an unsafe archive)."""


class AgentDisk:
    """Every server's directory, `<data_dir>/servers/<server id>` (the ones file
    operations and backups see); whatever directory the backend names, only its last
    part (the server's id) is used, so no frame can point the agent outside its data
    directory. An archive being received is staged on disk, under
    `<data_dir>/transfers/`."""

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

    def archive(self, server_dir: Path, out: IO[bytes]) -> None:
        """Stream a tar.gz of the server's directory (empty if it has none) into `out`."""
        write_archive(server_dir, out)

    # --- target: restore ---

    def restore(self, archive: Path, server_dir: Path) -> None:
        """Extract `archive` as the server's directory, replacing it; DiskRefused when a
        member would escape it (nothing is left behind then)."""
        work = self.partial_restore(server_dir)
        shutil.rmtree(work, ignore_errors=True)
        try:
            ServerDisk(work).restore(archive)
        except FileRefused as exc:
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
