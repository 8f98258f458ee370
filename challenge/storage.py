"""Uploaded prediction files, kept durably on disk under UPLOAD_FOLDER.

Files are written to a temporary file in the destination folder, fsynced and
renamed into place (then the folder is fsynced), so a crash leaves either the
whole file or nothing. The folder lives in the instance folder, never under
``static/``: a file is only ever served by a view that checks who is asking.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from flask import current_app


@dataclass(frozen=True)
class StoredFile:
    path: str  # relative to UPLOAD_FOLDER
    sha256: str
    size: int


def upload_root() -> Path:
    return Path(current_app.config["UPLOAD_FOLDER"])


def _resolve(relative: str) -> Path:
    root = upload_root().resolve()
    path = (root / relative).resolve()
    # Stored paths come from our own rows, but never let one point outside the folder.
    if root not in path.parents:
        raise ValueError(f"stored path {relative!r} is outside the upload folder")
    return path


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def store(phase_id: int, data: bytes) -> StoredFile:
    """Write ``data`` durably as ``<phase_id>/<sha256 prefix>-<uuid>.txt``.

    A fresh uuid per upload: two teams may upload identical bytes, and each
    submission owns its file.
    """
    digest = hashlib.sha256(data).hexdigest()
    relative = f"{phase_id}/{digest[:16]}-{uuid.uuid4().hex}.txt"
    target = _resolve(relative)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)
    return StoredFile(path=relative, sha256=digest, size=len(data))


def read(relative: str) -> bytes:
    """The stored bytes; FileNotFoundError when the file is gone."""
    return _resolve(relative).read_bytes()


def stored_before(cutoff: float) -> Iterator[str]:
    """Every stored file (and half-written temporary file) last written before ``cutoff``
    (a Unix time), as a path relative to the upload folder."""
    root = upload_root()
    if not root.is_dir():
        return
    for path in root.rglob("*"):
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                yield path.relative_to(root).as_posix()
        except FileNotFoundError:
            continue  # removed meanwhile


def remove(relative: str) -> None:
    """Delete a stored file whose submission was never committed."""
    _resolve(relative).unlink(missing_ok=True)
