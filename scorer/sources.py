"""Turning a ``Source`` (a path or bytes) into bytes or text, and guessing what it holds."""

from __future__ import annotations

import io
import os
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import Literal, TypeAlias

from scorer.errors import FormatError

Source: TypeAlias = str | os.PathLike[str] | bytes

Kind = Literal["mat", "tar", "csv", "xml", "text"]

#: Default cap on a file's unpacked size: a gzip bomb must not take the process down.
DEFAULT_MAX_DECOMPRESSED = 512 * 1024**2
#: Bytes read, and unpacked, at a time; what one step of the checks holds beyond the output.
CHUNK = 1 << 20
_MB = 1024**2

#: Called on each piece of the (unpacked) bytes as it is read; raises FormatError to stop.
ChunkCheck: TypeAlias = Callable[[memoryview], None]


def read_bytes(source: Source, *, max_bytes: int = DEFAULT_MAX_DECOMPRESSED,
               check: ChunkCheck | None = None) -> bytes:
    """The bytes of a source, gunzipped (streamed) if they are gzip-compressed.

    At most ``max_bytes`` unpacked bytes are ever held; past them the file is refused.
    ``check`` sees every piece in order, before it is kept, so it can refuse a file at
    its first bad line long before the byte limit.
    """
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        if data[:2] == b"\x1f\x8b":
            return _collect(_gunzip(_slices(data)), max_bytes, check)
        _refuse_plain(len(data), max_bytes)
        if check is not None:
            for piece in _slices(data):
                check(piece)
        return data
    path = Path(source)
    if path.is_dir():
        raise FormatError(f"expected a file, found a directory: {path.name}")
    try:
        with path.open("rb") as handle:
            head = handle.read(2)
            handle.seek(0)
            pieces = iter(lambda: handle.read(CHUNK), b"")
            if head == b"\x1f\x8b":
                return _collect(_gunzip(pieces), max_bytes, check)
            _refuse_plain(os.fstat(handle.fileno()).st_size, max_bytes)
            if check is None:  # one read, no copy through a buffer (a file that grew is still capped)
                data = handle.read(max_bytes + 1)
                _refuse_plain(len(data), max_bytes)
                return data
            return _collect(pieces, max_bytes, check)
    except FileNotFoundError:
        raise FormatError(f"no such file: {path}") from None


def gunzip(data: bytes, *, max_bytes: int = DEFAULT_MAX_DECOMPRESSED) -> bytes:
    """``data`` unpacked if it is gzip (concatenated members too), else ``data`` itself."""
    return read_bytes(data, max_bytes=max_bytes)


def _slices(data: bytes) -> Iterator[memoryview]:
    view = memoryview(data)
    for lo in range(0, len(data), CHUNK):
        yield view[lo : lo + CHUNK]


def _size(limit: int) -> str:
    return f"{limit // _MB:,} MB" if limit % _MB == 0 else f"{limit:,} bytes"


def _refuse_plain(size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise FormatError(f"the file is larger than {_size(max_bytes)}, the limit")


def _collect(pieces: Iterator[bytes], max_bytes: int, check: ChunkCheck | None) -> bytes:
    out = io.BytesIO()  # getvalue() hands over its buffer without a copy
    total = 0
    for piece in pieces:
        total += len(piece)
        if total > max_bytes:
            raise FormatError(f"the file unpacks to more than {_size(max_bytes)}; the limit is "
                              f"{_size(max_bytes)} unpacked")
        if check is not None:
            check(memoryview(piece))
        out.write(piece)
    return out.getvalue()


def _gunzip(pieces: Iterator[bytes | memoryview]) -> Iterator[bytes]:
    """Unpacked pieces of at most CHUNK bytes. Members may follow each other, with zero
    padding between them, as ``gzip.decompress`` reads them; zlib checks each member's
    CRC and length."""
    bad = "the file starts like gzip but is not a valid gzip stream"
    member: zlib._Decompress | None = zlib.decompressobj(wbits=31)
    try:
        for piece in pieces:
            data = bytes(piece)
            while True:
                if member is None:  # between members
                    data = data.lstrip(b"\x00")
                    if not data:
                        break
                    member = zlib.decompressobj(wbits=31)
                out = member.decompress(data, CHUNK)
                if out:
                    yield out
                if member.eof:
                    data, member = member.unused_data, None
                    continue
                data = member.unconsumed_tail
                # A full piece may leave output inside zlib with no input left: ask again.
                if not data and len(out) < CHUNK:
                    break
    except zlib.error:
        raise FormatError(bad) from None
    if member is not None:  # the stream ended inside a member
        raise FormatError(bad)


def sniff(data: bytes) -> Kind:
    """What the (already gunzipped) bytes look like."""
    if data.startswith(b"MATLAB"):
        return "mat"
    if len(data) >= 262 and data[257:262] == b"ustar":
        return "tar"
    head = data[:256].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return "xml"
    # Devkit text never holds a comma, so any comma on the first line means CSV
    # (and a CSV with the wrong header is then reported as exactly that).
    if b"," in head.split(b"\n", 1)[0]:
        return "csv"
    return "text"


def decode_text(data: bytes) -> str:
    """UTF-8 text, or a FormatError naming the line with the first bad byte."""
    nul = data.find(b"\x00")
    if nul >= 0:
        raise FormatError(
            "this is a binary file, expected plain text (a NUL byte was found)",
            line=data.count(b"\n", 0, nul) + 1,
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError(
            "the file is not valid UTF-8 text", line=data.count(b"\n", 0, exc.start) + 1
        ) from None
    return text[1:] if text.startswith("\ufeff") else text


def split_lines(text: str) -> list[str]:
    """Lines without their ends; a final line end does not start another line."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def xml_files(source: Path | bytes) -> Iterator[tuple[str, bytes]]:
    """(file name, bytes) of every ``*.xml`` in a folder (sorted by path) or in a tar
    archive's bytes (in archive order): VOC annotation files, one per image."""
    if isinstance(source, Path):
        for path in sorted(source.rglob("*.xml")):
            yield path.name, path.read_bytes()
        return
    import tarfile  # XML ground truth only: a CSV or label-file run starts without it

    try:
        with tarfile.open(fileobj=io.BytesIO(source)) as archive:
            for member in archive:
                if member.isfile() and member.name.endswith(".xml"):
                    handle = archive.extractfile(member)
                    if handle is not None:
                        yield PurePosixPath(member.name).name, handle.read()
    except tarfile.TarError as exc:
        raise FormatError(f"the tar archive could not be read: {exc}") from None
