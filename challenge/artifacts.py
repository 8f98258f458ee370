"""Parsed class lists and ground truth, stored once as artifacts (``TruthArtifact`` rows).

Parsing a 50,000-image ground truth with its boxes takes most of a second, and
RQ forks a fresh work horse for every job; loading the parsed arrays from their
artifact takes milliseconds. An artifact is keyed by what it was parsed from
(``truth_key``): a new class list, labels, boxes or blacklist is a new key, and a
new artifact format (``scorer.ARTIFACT_FORMAT``) too. Whoever needs one first
builds it (a job, the worker's preload, a bundle load or a truth replacement)
with an insert-or-ignore, so two builders racing both succeed and one row stays.
A row whose bytes do not match their checksum, or that the scorer refuses, is
rebuilt from the files and overwritten, never trusted.

``loads`` counts how each load was served in this process ("parsed" or
"artifact", per kind); a load served by challenge.scoring's in-process cache
counts nothing, which is how a job tells that it inherited a warm cache.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

import scorer
from challenge.db import may_write
from challenge.extensions import db
from challenge.models import TruthArtifact

log = logging.getLogger(__name__)
T = TypeVar("T")

#: How loads were served in this process: ("classes" | "truth", "parsed" | "artifact").
loads: Counter[tuple[str, str]] = Counter()


def classes_key(classes_sha: str) -> str:
    """The artifact key of a class list file."""
    return hashlib.sha256(f"classes|format {scorer.ARTIFACT_FORMAT}|{classes_sha}".encode()).hexdigest()


def truth_key(classes_sha: str, labels_sha: str, boxes_sha: str | None, blacklist_sha: str | None) -> str:
    """The artifact key of a ground truth: its files' checksums and its class list's (label
    indices depend on the list), under the artifact format."""
    parts = (f"truth|format {scorer.ARTIFACT_FORMAT}|classes {classes_sha}|labels {labels_sha}|"
             f"boxes {boxes_sha or '-'}|blacklist {blacklist_sha or '-'}")
    return hashlib.sha256(parts.encode()).hexdigest()


def _read(key: str) -> bytes | None:
    """The artifact's bytes if a row exists and its bytes match their checksum."""
    row = db.session.execute(
        select(TruthArtifact.data, TruthArtifact.data_sha256).where(TruthArtifact.key == key)
    ).first()
    if row is None:
        return None
    if hashlib.sha256(row.data).hexdigest() != row.data_sha256:
        log.warning("artifact %s is damaged (checksum mismatch); rebuilding it", key[:12])
        return b""
    return bytes(row.data)


def _write(key: str, kind: str, classes_sha: str, data: bytes, *, replace: bool) -> None:
    """Insert the artifact unless one exists (or overwrite a damaged one); never fails the
    caller: the artifact only saves time, and the next process builds it again."""
    if not may_write():
        return  # a read-only transaction (a GET request): the next writer stores it
    values = {"key": key, "kind": kind, "format_version": scorer.ARTIFACT_FORMAT,
              "classes_sha256": classes_sha, "data_sha256": hashlib.sha256(data).hexdigest(),
              "size": len(data), "data": data}
    dialect = db.session.get_bind().dialect.name
    try:
        with db.session.begin_nested():
            if replace:
                db.session.execute(update(TruthArtifact).where(TruthArtifact.key == key)
                                   .values(**values))
            elif dialect in ("postgresql", "sqlite"):
                dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
                db.session.execute(dialect_insert(TruthArtifact).values(**values)
                                   .on_conflict_do_nothing(index_elements=["key"]))
            else:
                db.session.execute(insert(TruthArtifact).values(**values))
    except IntegrityError:
        pass  # another builder won the race: its row holds the same arrays
    except SQLAlchemyError:
        log.warning("artifact %s not stored", key[:12], exc_info=True)


def _load(kind: str, key: str, classes_sha: str, unpack: Callable[[bytes], T],
          build: Callable[[], T], pack: Callable[[T], bytes]) -> T:
    data = _read(key)
    if data:
        try:
            value = unpack(data)
            loads[(kind, "artifact")] += 1
            return value
        except scorer.ArtifactError as exc:
            log.warning("artifact %s refused (%s); rebuilding it", key[:12], exc)
    value = build()
    loads[(kind, "parsed")] += 1
    _write(key, kind, classes_sha, pack(value), replace=data is not None)
    return value


def load_classes(classes_sha: str, parse: Callable[[], scorer.ClassList]) -> scorer.ClassList:
    """The class list of the file with this checksum: from its artifact, else ``parse()``
    (then stored as an artifact)."""
    key = classes_key(classes_sha)
    return _load("classes", key, classes_sha, lambda data: scorer.unpack_classes(data, key), parse,
                 lambda value: scorer.pack_classes(value, key))


def load_truth(classes: scorer.ClassList, classes_sha: str, labels_sha: str, boxes_sha: str | None,
               blacklist_sha: str | None, parse: Callable[[], scorer.GroundTruth]) -> scorer.GroundTruth:
    """The ground truth of these files: from its artifact, else ``parse()`` (then stored)."""
    key = truth_key(classes_sha, labels_sha, boxes_sha, blacklist_sha)
    return _load("truth", key, classes_sha,
                 lambda data: scorer.unpack_ground_truth(data, key, classes=len(classes)), parse,
                 lambda value: scorer.pack_ground_truth(value, key))


def remember_classes(classes_sha: str, classes: scorer.ClassList) -> None:
    """Store the artifact of a class list just parsed (a bundle load), unless stored."""
    key = classes_key(classes_sha)
    _write(key, "classes", classes_sha, scorer.pack_classes(classes, key), replace=False)


def remember_truth(classes_sha: str, labels_sha: str, boxes_sha: str | None, blacklist_sha: str | None,
                   truth: scorer.GroundTruth) -> None:
    """Store the artifact of a ground truth just parsed (a bundle load, a replacement)."""
    key = truth_key(classes_sha, labels_sha, boxes_sha, blacklist_sha)
    _write(key, "truth", classes_sha, scorer.pack_ground_truth(truth, key), replace=False)
