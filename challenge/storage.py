"""The files the platform keeps (uploaded prediction files), by key, in one store.

A key is a relative path such as ``<phase_id>/<sha256 prefix>-<uuid>.txt``: the same
string whatever the backend, and the one a ``Submission`` row names. Two backends
behind one small interface, chosen by ``STORAGE_URL`` (read in challenge.config):

- ``file:///folder`` (the default: ``uploads/`` in the instance folder): each key a
  file under the folder, written to a temporary file, fsynced and renamed into place
  (then the folder fsynced), so a crash leaves the whole file or nothing. The folder
  is never under ``static/``: a file is only ever served by a view that checks who is
  asking. Web and workers must then share that folder (one host, or a shared mount).
- ``s3://bucket/prefix``: objects ``prefix/<key>`` in an S3-compatible store through
  boto3 (``S3_ENDPOINT_URL`` for MinIO, Ceph or R2; credentials from the standard AWS
  variables, which boto3 reads itself). A PUT is atomic, so no temporary objects.
  Web and workers then share nothing but the database, Redis and the bucket.

Reads are bounded by the upload size limit (``MAX_CONTENT_LENGTH``), which every
stored file passed on its way in: a larger object is refused, never loaded.
"""

from __future__ import annotations

import base64
import hashlib
import os
import tempfile
import threading
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import boto3
import botocore.config
import botocore.exceptions
from flask import Flask, current_app

#: Keys under this first segment are bundles an organizer exported into the store,
#: not uploads: the sweeper's orphan cleanup (stored_before) never lists them.
EXPORTS = "exports"


@dataclass(frozen=True)
class StoredFile:
    path: str  # the key, relative to the store's root
    sha256: str
    size: int


class StoredFileTooLarge(OSError):
    """A stored object is larger than any upload may be: refused rather than read."""


def check_key(key: str) -> str:
    """``key`` if it is a plain relative path; stored keys come from our own rows, but
    never let one name something outside the store's root."""
    parts = key.split("/")
    if not key or "\\" in key or "\x00" in key or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"stored path {key!r} is not a plain relative path")
    return key


class Store(Protocol):
    """What a backend does: put, get, delete by key, and list by age."""

    def put(self, key: str, data: bytes) -> None:
        """Keep ``data`` under ``key`` durably (whole or not at all)."""

    def get(self, key: str, limit: int) -> bytes:
        """The bytes under ``key``: FileNotFoundError when there are none,
        StoredFileTooLarge when there are more than ``limit``."""

    def delete(self, key: str) -> None:
        """Forget ``key`` (nothing happens if it is gone already)."""

    def keys_before(self, cutoff: float) -> Iterator[str]:
        """Every key last written before ``cutoff`` (a Unix time)."""

    def warm(self) -> None:
        """Get ready before forking children that use the store (a worker's horses)."""


class LocalStore:
    """Files in a local folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        root = self.root.resolve()
        path = (root / check_key(key)).resolve()
        if root not in path.parents:  # a symlink inside the folder pointing out of it
            raise ValueError(f"stored path {key!r} is outside the upload folder")
        return path

    def put(self, key: str, data: bytes) -> None:
        target = self._path(key)
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

    def get(self, key: str, limit: int) -> bytes:
        with open(self._path(key), "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > limit:
                raise StoredFileTooLarge(f"stored file {key!r} is {size} bytes, over the {limit}-byte limit")
            return f.read()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def warm(self) -> None:
        pass  # nothing to load

    def keys_before(self, cutoff: float) -> Iterator[str]:
        # Half-written temporary files (a crash between write and rename) are listed too.
        if not self.root.is_dir():
            return
        for path in self.root.rglob("*"):
            try:
                if path.is_file() and path.stat().st_mtime < cutoff:
                    yield path.relative_to(self.root).as_posix()
            except FileNotFoundError:
                continue  # removed meanwhile


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


#: S3 error codes that mean "no such object" (GET says NoSuchKey; HEAD only a status).
_MISSING = {"NoSuchKey", "404", "NotFound"}


class S3Store:
    """Objects in an S3-compatible bucket, under an optional prefix."""

    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url or None
        self._lock = threading.Lock()
        self._session: boto3.session.Session | None = None
        self._client_pid: int | None = None
        self._client_obj: Any = None
        options: dict[str, Any] = {"retries": {"mode": "standard", "max_attempts": 5},
                                   "connect_timeout": 10, "read_timeout": 60}
        if self.endpoint_url:
            # MinIO, Ceph and R2 serve path-style URLs whatever the bucket's name; and not
            # all of them take the CRC trailers boto3 adds by default: put() sends a
            # Content-MD5 instead, which every one checks.
            options.update(s3={"addressing_style": "path"}, request_checksum_calculation="when_required",
                           response_checksum_validation="when_required")
        self._config = botocore.config.Config(**options)

    def __repr__(self) -> str:
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"S3Store('s3://{self.bucket}/{self.prefix}'{where})"

    def warm(self) -> None:
        """Make this process's client now (loading botocore's models, finding the
        credentials): a forked child then makes its own from the warm session in
        milliseconds instead of a tenth of a second per job."""
        self._client()

    def _client(self) -> Any:
        # One client per process: a client's connection pool must not cross a fork
        # (RQ forks a work horse per job; gunicorn forks its workers). The session, with
        # its loaded models, may: the child's client is made from the parent's session.
        # Clients are thread-safe once made; making one is not, hence the lock.
        pid = os.getpid()
        if self._client_pid != pid:
            with self._lock:
                if self._client_pid != pid:
                    if self._session is None:
                        self._session = boto3.session.Session()
                    self._client_obj = self._session.client(
                        "s3", endpoint_url=self.endpoint_url, config=self._config)
                    self._client_pid = pid
        return self._client_obj

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes) -> None:
        md5 = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
        self._client().put_object(Bucket=self.bucket, Key=self._key(key), Body=data, ContentMD5=md5,
                                  ContentType="application/octet-stream")

    def get(self, key: str, limit: int) -> bytes:
        try:
            response = self._client().get_object(Bucket=self.bucket, Key=self._key(key))
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                raise FileNotFoundError(f"no stored object {key!r} in {self!r}") from None
            raise
        body = response["Body"]
        try:
            size = response.get("ContentLength", 0)
            if size > limit:
                raise StoredFileTooLarge(f"stored object {key!r} is {size} bytes, over the {limit}-byte "
                                         "limit")
            # At most limit + 1 bytes whatever the length header said.
            data = body.read(limit + 1)
            if len(data) > limit:
                raise StoredFileTooLarge(f"stored object {key!r} is over the {limit}-byte limit")
            return data
        finally:
            body.close()

    def delete(self, key: str) -> None:
        self._client().delete_object(Bucket=self.bucket, Key=self._key(key))

    def keys_before(self, cutoff: float) -> Iterator[str]:
        start = f"{self.prefix}/" if self.prefix else ""
        pages = self._client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=start)
        for page in pages:
            for item in page.get("Contents", []):
                if item["LastModified"].timestamp() < cutoff:
                    yield item["Key"][len(start):]


def open_store(url: str, endpoint_url: str | None = None) -> Store:
    """The backend a ``STORAGE_URL`` names (``file:///folder`` or ``s3://bucket/prefix``)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "file":
        return LocalStore(Path(urllib.request.url2pathname(parts.path)))  # as UPLOAD_FOLDER
    if parts.scheme == "s3" and parts.netloc:
        return S3Store(parts.netloc, urllib.parse.unquote(parts.path), endpoint_url)
    raise ValueError(f"STORAGE_URL {url!r}: expected s3://bucket[/prefix] or file:///absolute/folder")


def init_app(app: Flask) -> None:
    # Made here, connected on first use (create_app makes no network calls).
    app.extensions["storage"] = open_store(app.config["STORAGE_URL"], app.config.get("S3_ENDPOINT_URL"))


def get_store() -> Store:
    return current_app.extensions["storage"]


# ---------------------------------------------------------------- uploads


def store(phase_id: int, data: bytes) -> StoredFile:
    """Keep ``data`` durably as ``<phase_id>/<sha256 prefix>-<uuid>.txt``.

    A fresh uuid per upload: two teams may upload identical bytes, and each
    submission owns its file.
    """
    digest = hashlib.sha256(data).hexdigest()
    key = f"{phase_id}/{digest[:16]}-{uuid.uuid4().hex}.txt"
    get_store().put(key, data)
    return StoredFile(path=key, sha256=digest, size=len(data))


def read(key: str) -> bytes:
    """The stored bytes; FileNotFoundError when the file is gone, StoredFileTooLarge
    when it is larger than an upload may be now (MAX_UPLOAD_MB)."""
    return get_store().get(key, current_app.config["MAX_CONTENT_LENGTH"])


def stored_before(cutoff: float) -> Iterator[str]:
    """Every stored upload (and, on a local folder, half-written temporary file) last
    written before ``cutoff`` (a Unix time), by key. Exported bundles are not listed."""
    for key in get_store().keys_before(cutoff):
        if key.split("/", 1)[0] != EXPORTS:
            yield key


def remove(key: str) -> None:
    """Delete a stored file whose submission was never committed."""
    get_store().delete(key)
