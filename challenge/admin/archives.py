"""Unpacking an uploaded bundle archive (zip or tar.gz) safely into a folder.

An archive from a browser is untrusted input, even an organizer's: it is bounded before
anything is written (its own size, the number of members, the total unpacked size,
counted while decompressing rather than trusted from the headers) and every member must
be a plain file or folder with a relative path inside the archive: no absolute paths, no
``..``, no symlinks or hard links, no devices. Any breach raises ``ArchiveError`` naming
the member and the rule; the caller's temporary folder is then thrown away whole.
"""

from __future__ import annotations

import gzip
import io
import stat
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

CHUNK = 1024 * 1024
#: A tar stream holds a 512-byte header (and padding) per member besides the data.
TAR_OVERHEAD = 4096


class ArchiveError(Exception):
    """The archive is refused; ``str()`` says which member and why (nothing was loaded)."""


@dataclass(frozen=True)
class Limits:
    archive_bytes: int  # the uploaded file itself
    members: int  # files and folders
    unpacked_bytes: int  # total size of the files once unpacked


def kind(data: bytes) -> str:
    """``zip`` or ``tar.gz`` by the archive's first bytes (its name may lie)."""
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if data[:2] == b"\x1f\x8b":
        return "tar.gz"
    raise ArchiveError("the file is neither a zip nor a tar.gz (.tgz) archive")


def member_path(name: str) -> PurePosixPath | None:
    """The member's relative path, None for the archive's own root ("./"); refuses escapes."""
    if "\x00" in name or "\\" in name:
        raise ArchiveError(f"member {name!r}: a path with a backslash or NUL is not accepted")
    path = PurePosixPath(name)
    if path.is_absolute() or (path.parts and ":" in path.parts[0]):
        raise ArchiveError(f"member {name!r}: an absolute path; every member must be inside the archive")
    parts = [p for p in path.parts if p not in ("", ".")]
    if ".." in parts:
        raise ArchiveError(f"member {name!r}: '..' would write outside the archive's folder")
    return PurePosixPath(*parts) if parts else None


class _Budget:
    """Counts members and unpacked bytes against the limits."""

    def __init__(self, limits: Limits) -> None:
        self.limits, self.members, self.bytes = limits, 0, 0
        self.seen: set[PurePosixPath] = set()

    def member(self, path: PurePosixPath, name: str, is_dir: bool) -> None:
        self.members += 1
        if self.members > self.limits.members:
            raise ArchiveError(f"more than {self.limits.members} members; a bundle needs a manifest and "
                               "a few data files")
        if path in self.seen and not is_dir:
            raise ArchiveError(f"member {name!r} appears twice")
        self.seen.add(path)

    def add(self, count: int) -> None:
        self.bytes += count
        if self.bytes > self.limits.unpacked_bytes:
            raise ArchiveError(f"unpacks to more than {self.limits.unpacked_bytes} bytes "
                               f"(the limit, MAX_DECOMPRESSED_MB)")


def _copy(source: IO[bytes], target: Path, budget: _Budget) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "xb") as out:
        while chunk := source.read(CHUNK):
            budget.add(len(chunk))  # counted as it comes: headers may understate a size
            out.write(chunk)


def _unzip(data: bytes, dest: Path, budget: _Budget) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise ArchiveError(f"not a readable zip archive ({exc})") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > budget.limits.members:
            raise ArchiveError(f"{len(infos)} members; the limit is {budget.limits.members}")
        declared = sum(i.file_size for i in infos)
        if declared > budget.limits.unpacked_bytes:
            raise ArchiveError(f"unpacks to {declared} bytes; the limit is {budget.limits.unpacked_bytes} "
                               "bytes (MAX_DECOMPRESSED_MB)")
        for info in infos:
            mode = info.external_attr >> 16
            path = member_path(info.filename)
            if stat.S_ISLNK(mode):
                raise ArchiveError(f"member {info.filename!r} is a symbolic link; put the file itself in "
                                   "the archive")
            if info.flag_bits & 0x1:
                raise ArchiveError(f"member {info.filename!r} is encrypted")
            if path is None:
                continue
            budget.member(path, info.filename, info.is_dir())
            if info.is_dir():
                (dest / path).mkdir(parents=True, exist_ok=True)
                continue
            try:
                with archive.open(info) as source:
                    _copy(source, dest / path, budget)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
                raise ArchiveError(f"member {info.filename!r} cannot be read ({exc})") from None


class _Bounded(io.RawIOBase):
    """The decompressed tar stream, refused past ``limit`` bytes (a gzip bomb in the
    headers or padding is stopped too, not only in the members' data)."""

    def __init__(self, source: IO[bytes], limit: int) -> None:
        self.source, self.limit, self.read_bytes = source, limit, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        chunk = self.source.read(len(buffer))
        self.read_bytes += len(chunk)
        if self.read_bytes > self.limit:
            raise ArchiveError(f"unpacks to more than {self.limit} bytes (MAX_DECOMPRESSED_MB)")
        buffer[:len(chunk)] = chunk
        return len(chunk)


def _untar(data: bytes, dest: Path, budget: _Budget) -> None:
    limits = budget.limits
    stream = _Bounded(gzip.GzipFile(fileobj=io.BytesIO(data)),
                      limits.unpacked_bytes + TAR_OVERHEAD * (limits.members + 2))
    try:
        with tarfile.open(fileobj=io.BufferedReader(stream), mode="r|") as archive:
            for member in archive:
                path = member_path(member.name)
                if member.issym() or member.islnk():
                    link = "symbolic" if member.issym() else "hard"
                    raise ArchiveError(f"member {member.name!r} is a {link} link; put the file itself in "
                                       "the archive")
                if not (member.isfile() or member.isdir()):
                    raise ArchiveError(f"member {member.name!r} is not a file or a folder")
                if path is None:
                    continue
                budget.member(path, member.name, member.isdir())
                if member.isdir():
                    (dest / path).mkdir(parents=True, exist_ok=True)
                    continue
                if budget.bytes + member.size > limits.unpacked_bytes:
                    raise ArchiveError(f"unpacks to more than {limits.unpacked_bytes} bytes "
                                       "(the limit, MAX_DECOMPRESSED_MB)")
                source = archive.extractfile(member)
                if source is not None:
                    _copy(source, dest / path, budget)
    except (tarfile.TarError, gzip.BadGzipFile, zlib.error, EOFError) as exc:
        raise ArchiveError(f"not a readable tar.gz archive ({exc})") from None


def unpack(data: bytes, dest: Path, limits: Limits) -> None:
    """Unpack the archive ``data`` into the empty folder ``dest`` within ``limits``."""
    if len(data) > limits.archive_bytes:
        raise ArchiveError(f"the archive is {len(data)} bytes; the limit is {limits.archive_bytes} bytes")
    budget = _Budget(limits)
    try:
        (_unzip if kind(data) == "zip" else _untar)(data, dest, budget)
    except FileExistsError as exc:
        raise ArchiveError(f"member {Path(exc.filename or '').name!r} appears twice") from None
    except OSError as exc:  # e.g. a file and a folder of the same name
        raise ArchiveError(f"cannot unpack: {exc.strerror} ({Path(exc.filename or '').name})") from None


def bundle_root(dest: Path, manifest: str) -> Path:
    """The folder holding ``manifest``: the archive's top, or its one top-level folder
    (what ``zip -r`` and ``tar czf`` of a bundle folder make)."""
    if (dest / manifest).is_file():
        return dest
    entries = [p for p in dest.iterdir() if p.name not in ("__MACOSX",)]
    if len(entries) == 1 and entries[0].is_dir() and (entries[0] / manifest).is_file():
        return entries[0]
    raise ArchiveError(f"{manifest} not found at the top of the archive or in its one top-level folder")

