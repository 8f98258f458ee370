"""A small reader for the MATLAB 5 files the devkits ship (``meta.mat``, ``meta_det.mat``).

Importing ``scipy.io`` costs 0.2-0.3 s, most of a classification run's start-up; these
files hold only struct arrays of numbers and strings, which take a few dozen lines to
read. ``loadmat`` returns what ``scipy.io.loadmat(f, squeeze_me=True,
struct_as_record=True)`` returns for them (numbers in their stored type, 1x1 as Python
scalars, strings as ``str``, struct arrays with object fields, cells as object
arrays), and raises ``Unsupported`` for anything else (sparse, complex, logical or
object arrays, big-endian, v4 or v7.3 files, a damaged file), so the caller asks
scipy, which reads those or explains why not.
"""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

import numpy as np

from scorer.errors import FormatError

#: MAT-file data types (miINT8 ...) as little-endian numpy types.
_NUMERIC = {1: "<i1", 2: "<u1", 3: "<i2", 4: "<u2", 5: "<i4", 6: "<u4", 7: "<f4", 9: "<f8",
            12: "<i8", 13: "<u8"}
#: The same types as ``struct`` formats, for the 1x1 values that are most of a meta.mat.
_SCALAR = {1: "<b", 2: "<B", 3: "<h", 4: "<H", 5: "<i", 6: "<I", 7: "<f", 9: "<d", 12: "<q", 13: "<Q"}
_MATRIX, _COMPRESSED, _UTF8 = 14, 15, 16
#: Array flags (tag, flags, nzmax), 2-D dimensions (tag, rows, columns), an empty name tag.
_HEADER = struct.Struct("<IIIIIIiiII")
_CELL, _STRUCT, _CHAR = 1, 2, 4
_NUMERIC_CLASSES = range(6, 16)  # mxDOUBLE_CLASS .. mxUINT64_CLASS
_COMPLEX, _GLOBAL, _LOGICAL = 0x800, 0x400, 0x200


class Unsupported(Exception):
    """Something this reader does not handle; scipy will."""


def loadmat(data: bytes) -> dict[str, Any]:
    """Variables of a little-endian MAT 5 file by name, as scipy would give them."""
    if len(data) < 128 or data[126:128] != b"IM" or data[124:126] != b"\x00\x01":
        raise Unsupported("not a little-endian MAT 5 file")
    out: dict[str, Any] = {}
    pos = 128
    try:
        while pos < len(data):
            kind, body, pos = _element(data, pos)
            if kind == _COMPRESSED:
                kind, body, _ = _element(zlib.decompress(body), 0)
            if kind != _MATRIX:
                raise Unsupported(f"data element of type {kind}")
            name, value = _matrix(body)
            out[name] = value
    except (zlib.error, ValueError, IndexError, UnicodeDecodeError) as exc:
        raise Unsupported(str(exc)) from None
    return out


def _element(buf: bytes, pos: int) -> tuple[int, bytes, int]:
    """(type, body, next position) of the data element at ``pos``."""
    if pos + 8 > len(buf):
        raise Unsupported("truncated data element")
    tag, size = struct.unpack_from("<II", buf, pos)
    if tag >> 16:  # small element: type and size in one word, data in the next
        if tag >> 16 > 4:
            raise Unsupported("bad small data element")
        return tag & 0xFFFF, buf[pos + 4 : pos + 4 + (tag >> 16)], pos + 8
    end = pos + 8 + size
    if end > len(buf):
        raise Unsupported("truncated data element")
    # Elements are padded to 8 bytes, except a compressed one.
    return tag, buf[pos + 8 : end], end if tag == _COMPRESSED else pos + 8 + (size + 7) // 8 * 8


def _matrix(body: bytes) -> tuple[str, Any]:
    """(name, squeezed value) of a miMATRIX element's body."""
    if not body:
        raise Unsupported("empty matrix element")
    header = _HEADER.unpack_from(body) if len(body) >= _HEADER.size else None
    if header is not None and header[:2] == (6, 8) and header[4:6] == (5, 8) and header[8:] == (1, 0):
        # The usual header of a struct field or cell (flags, two dims, no name) at once:
        # most of a meta.mat's 15,000 values.
        word, dims, name, pos = header[2], header[6:8], "", _HEADER.size
    else:
        kind, flags, pos = _element(body, 0)
        if kind != 6 or len(flags) != 8:
            raise Unsupported("bad array flags")
        word = struct.unpack_from("<I", flags)[0]
        kind, raw_dims, pos = _element(body, pos)
        if kind != 5:
            raise Unsupported("bad dimensions")
        dims = struct.unpack_from(f"<{len(raw_dims) // 4}i", raw_dims)
        kind, raw_name, pos = _element(body, pos)
        name = raw_name.decode("ascii")
    cls = word & 0xFF
    if word & (_COMPLEX | _LOGICAL | _GLOBAL):
        raise Unsupported("complex, logical or global array")
    count = 1
    for d in dims:
        count *= d
    if cls in _NUMERIC_CLASSES:
        kind, raw, pos = _element(body, pos)
        if kind not in _NUMERIC:
            raise Unsupported(f"numeric data of type {kind}")
        if count == 1 and len(raw) == struct.calcsize(_SCALAR[kind]):
            return name, struct.unpack(_SCALAR[kind], raw)[0]  # what ``.item()`` gives
        array = np.frombuffer(raw, _NUMERIC[kind])
        if array.size != count:
            raise Unsupported("data size does not match the dimensions")
        # A native-order, writable copy, as scipy gives.
        native = np.dtype(_NUMERIC[kind].lstrip("<"))
        return name, _squeeze(array.reshape(dims, order="F").astype(native))
    if cls == _CHAR:
        kind, raw, pos = _element(body, pos)
        if len(dims) != 2 or dims[0] != 1 or dims[1] < 1:
            raise Unsupported("a char array other than one row")
        if kind == _UTF8:
            text = raw.decode("utf-8")
        elif kind == 4:  # UTF-16 code units; a surrogate pair would change the length
            text = raw.decode("utf-16-le")
        elif kind == 2:
            text = raw.decode("latin-1")
        else:
            raise Unsupported(f"char data of type {kind}")
        if len(text) != dims[1]:
            raise Unsupported("char data size does not match the dimensions")
        return name, text
    if cls == _CELL:
        cells = np.empty(count, dtype=object)
        for i in range(count):
            kind, sub, pos = _element(body, pos)
            if kind != _MATRIX:
                raise Unsupported("a cell that is not a matrix")
            cells[i] = _matrix(sub)[1]
        return name, _squeeze(cells.reshape(dims, order="F"))
    if cls == _STRUCT:
        kind, raw_len, pos = _element(body, pos)
        width = int(np.frombuffer(raw_len, "<i4")[0])
        kind, raw_names, pos = _element(body, pos)
        if width < 1 or len(raw_names) % width:
            raise Unsupported("bad field names")
        fields = [raw_names[i : i + width].split(b"\x00", 1)[0].decode("ascii")
                  for i in range(0, len(raw_names), width)]
        columns = [np.empty(count, dtype=object) for _ in fields]
        for i in range(count):
            for column in columns:
                kind, sub, pos = _element(body, pos)
                if kind != _MATRIX:
                    raise Unsupported("a struct field that is not a matrix")
                value = _plain_value(sub)
                column[i] = _matrix(sub)[1] if value is _OTHER else value
        records = np.empty(count, dtype=[(f, object) for f in fields])
        for f, column in zip(fields, columns, strict=True):
            records[f] = column
        return name, _squeeze(records.reshape(dims, order="F"))
    raise Unsupported(f"array class {cls}")


_OTHER = object()
_SMALL_CHAR = {4: "utf-16-le", 16: "utf-8", 2: "latin-1"}


def _plain_value(body: bytes) -> Any:
    """A 1x1 number or a one-row string with the usual header, read in two unpacks
    (most of a meta.mat's fields); ``_OTHER`` for anything else, which ``_matrix`` reads."""
    if len(body) < 48:
        return _OTHER
    header = _HEADER.unpack_from(body)
    if header[:2] != (6, 8) or header[4:6] != (5, 8) or header[8:] != (1, 0) or header[2] & 0xFF00:
        return _OTHER
    cls, rows, columns = header[2] & 0xFF, header[6], header[7]
    tag, size = struct.unpack_from("<II", body, 40)
    if cls in _NUMERIC_CLASSES and rows == columns == 1 and tag >> 16 and (tag & 0xFFFF) in _SCALAR:
        scalar = _SCALAR[tag & 0xFFFF]
        if tag >> 16 == struct.calcsize(scalar):
            return struct.unpack_from(scalar, body, 44)[0]
    elif cls == _CHAR and rows == 1 and columns >= 1 and not tag >> 16 and tag in _SMALL_CHAR:
        if 48 + size <= len(body):
            text = body[48 : 48 + size].decode(_SMALL_CHAR[tag])
            if len(text) == columns:
                return text
    return _OTHER


def _squeeze(array: np.ndarray) -> Any:
    """scipy's ``squeeze_me``: size-1 dimensions dropped, a 0-d plain value as a scalar,
    an empty array as a 1-d empty array of its type."""
    if not array.size:
        return np.array([], dtype=array.dtype)
    out = np.squeeze(array)
    if not out.shape and out.dtype.isbuiltin:
        return out.item()
    return out


def read_mat(data: bytes, what: str) -> dict[str, Any]:
    """The variables of a ``.mat`` file: this reader, else scipy (imported only then)."""
    try:
        return loadmat(data)
    except Unsupported:
        pass
    import scipy.io  # a few hundred ms: only for files this reader leaves to it

    try:
        return scipy.io.loadmat(io.BytesIO(data), squeeze_me=True, struct_as_record=True)
    except Exception as exc:  # scipy raises many types for a damaged file
        raise FormatError(f"{what} could not be read: {exc}") from None
