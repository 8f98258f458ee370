"""Turning a ``Source`` (a path or bytes) into bytes or text, and guessing what it holds."""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path
from typing import Literal, TypeAlias

from scorer.errors import FormatError

Source: TypeAlias = str | os.PathLike[str] | bytes

Kind = Literal["mat", "tar", "csv", "xml", "text"]

#: Decompressed size cap: a gzip bomb must not take the worker down.
MAX_DECOMPRESSED = 2 * 1024**3


def read_bytes(source: Source) -> bytes:
    """The raw bytes of a source, gunzipped if they are gzip-compressed."""
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
    else:
        path = Path(source)
        if path.is_dir():
            raise FormatError(f"expected a file, found a directory: {path.name}")
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise FormatError(f"no such file: {path}") from None
    return gunzip(data)


def gunzip(data: bytes) -> bytes:
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        out = gzip.decompress(data)
    except (OSError, EOFError, zlib.error):
        raise FormatError("the file starts like gzip but is not a valid gzip stream") from None
    if len(out) > MAX_DECOMPRESSED:
        raise FormatError("the decompressed file is too large")
    return out


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
