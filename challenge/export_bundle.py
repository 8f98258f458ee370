"""Exporting a whole challenge as a bundle that ``challenge load`` re-creates.

The manifest is written key by key from the reader's own key lists
(``bundles.CHALLENGE_KEYS``, ``TRACK_KEYS``, ``PHASE_KEYS``): every key the reader
accepts has an exporter here, and a key without one stops the export with an
error instead of silently dropping a setting (a test checks the lists agree).
Files are written once per content (as the database stores them), under their
original names where those are free.

An export holds the hidden ground truth: only organizers may make one, and each
export is written to the audit log.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from challenge import audit, storage
from challenge.bundles import CHALLENGE_KEYS, MANIFEST, PHASE_KEYS, TRACK_KEYS
from challenge.extensions import db
from challenge.models import Blob, Challenge, Phase, User
from challenge.rules import service as rules_service


class ExportError(Exception):
    """The challenge cannot be written as a bundle (a setting the format cannot hold)."""


@dataclass
class ExportedBundle:
    manifest: dict[str, Any]  # what challenge.toml holds, tracks and phases included
    files: dict[str, bytes]  # file name in the bundle -> content

    def toml(self) -> str:
        return to_toml(self.manifest)


class _Files:
    """Bundle file names by content: one file per checksum, keeping the stored name when free."""

    def __init__(self) -> None:
        self.by_sha: dict[str, str] = {}
        self.files: dict[str, bytes] = {}

    def add(self, blob: Blob | None, prefix: str) -> str | None:
        if blob is None:
            return None
        if blob.sha256 in self.by_sha:
            return self.by_sha[blob.sha256]
        name = re.sub(r"[^A-Za-z0-9._-]", "_", blob.filename).lstrip(".") or "file"
        if name in self.files or name == MANIFEST:
            name = f"{prefix}.{name}"
        while name in self.files:  # a third file of that name in the same phase
            name = f"x.{name}"
        self.by_sha[blob.sha256] = name
        self.files[name] = blob.data
        return name

    def add_bytes(self, name: str, data: bytes) -> str:
        """A file made for the bundle (not stored as a blob), under a name of its own."""
        while name in self.files:
            name = f"x.{name}"
        self.files[name] = data
        return name


Getter = Callable[[Any, _Files], Any]

#: How to read each reader key back from the database; None leaves the key out.
CHALLENGE_EXPORT: dict[str, Getter] = {
    "slug": lambda c, f: c.slug,
    "year": lambda c, f: c.year,
    "title": lambda c, f: c.title,
    "description": lambda c, f: c.description or None,
    "classes": lambda c, f: f.add(c.classes_blob, "classes"),
    "tracks": lambda c, f: None,  # written as [[tracks]] tables
    "rules": lambda c, f: _rules(c, f),
}


def _rules(challenge: Challenge, files: _Files) -> str | None:
    """The rules in force as rules.md (earlier versions stay in the database they came from)."""
    rules = rules_service.in_force(challenge)
    return files.add_bytes("rules.md", (rules.text + "\n").encode()) if rules is not None else None
TRACK_EXPORT: dict[str, Getter] = {
    "slug": lambda t, f: t.slug,
    "title": lambda t, f: t.title,
    "task": lambda t, f: t.task,
    "guesses": lambda t, f: t.guesses,
    "classes": lambda t, f: f.add(t.classes_blob, f"{t.slug}.classes") if t.classes_blob else None,
    "phases": lambda t, f: None,  # written as [[tracks.phases]] tables
}


def _prefix(phase: Phase) -> str:
    return f"{phase.track.slug}.{phase.slug}"


PHASE_EXPORT: dict[str, Getter] = {
    "slug": lambda p, f: p.slug,
    "title": lambda p, f: p.title or None,
    "labels": lambda p, f: f.add(p.labels_blob, _prefix(p)),
    "boxes": lambda p, f: f.add(p.boxes_blob, _prefix(p)),
    "blacklist": lambda p, f: f.add(p.blacklist_blob, _prefix(p)),
    "real": lambda p, f: f.add(p.real_blob, _prefix(p)),
    "sample": lambda p, f: f.add(p.sample_blob, _prefix(p)),
    "opens": lambda p, f: p.opens_at,
    "closes": lambda p, f: p.closes_at,
    "quota": lambda p, f: f"{p.quota_count}/{p.quota_period}",
    "leaderboard": lambda p, f: p.leaderboard,
    # Phases and visibility (challenge.splits, challenge.leaderboards): public_fraction and
    # final_picks are the columns of the same name.
    "public_images": lambda p, f: _public_images(p, f),
    "freeze": lambda p, f: p.frozen_at,
    "rankings": lambda p, f: ["all", "provided"] if p.separate_outside_data else ["all"],
    "private_published": lambda p, f: p.private_published_at,
    # Only a fraction split is drawn from the secret; an explicit list needs none.
    "split_secret": lambda p, f: p.split_secret if p.public_fraction is not None else None,
}

#: An explicit public list longer than this is written as a file of image numbers.
INLINE_LIST = 50


def _public_images(phase: Phase, files: _Files) -> list[int] | str | None:
    images = phase.public_images
    if images is None or len(images) <= INLINE_LIST:
        return images
    return files.add_bytes(f"{_prefix(phase)}.public_images.txt",
                           "".join(f"{i}\n" for i in images).encode())

#: Keys first in this order (as a person writes them), any others after, sorted.
ORDER = ("slug", "year", "title", "description", "task", "guesses", "classes", "labels", "boxes",
         "blacklist", "real", "sample", "opens", "closes", "quota", "leaderboard")


def _keys(allowed: set[str]) -> list[str]:
    return sorted(allowed, key=lambda k: (ORDER.index(k) if k in ORDER else len(ORDER), k))


def _same_name(row: Any, key: str) -> Getter | None:
    """A key the reader names like the model's column (e.g. ``final_picks``) needs no exporter."""
    if key in type(row).__table__.columns:
        return lambda r, f: getattr(r, key)
    return None


def _table(row: Any, allowed: set[str], getters: dict[str, Getter], files: _Files,
           where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in _keys(allowed):
        getter = getters.get(key) or _same_name(row, key)
        if getter is None:
            raise ExportError(f"{where}: the bundle key {key!r} has no exporter (challenge/export_bundle.py)")
        value = getter(row, files)
        if value is not None:
            out[key] = value
    return out


def build(challenge: Challenge, slug: str | None = None) -> ExportedBundle:
    """The bundle of ``challenge`` (under ``slug`` if given), in memory."""
    files = _Files()
    manifest = _table(challenge, CHALLENGE_KEYS, CHALLENGE_EXPORT, files, "challenge")
    if slug is not None:
        manifest["slug"] = slug
    tracks = []
    for track in challenge.tracks:
        table = _table(track, TRACK_KEYS, TRACK_EXPORT, files, f"track {track.slug}")
        table["phases"] = [_table(p, PHASE_KEYS, PHASE_EXPORT, files, f"phase {track.slug}/{p.slug}")
                           for p in track.phases]
        tracks.append(table)
    manifest["tracks"] = tracks
    return ExportedBundle(manifest=manifest, files=files.files)


def _audit(challenge: Challenge, actor: User | None, bundle: ExportedBundle, where: str) -> None:
    # The export carries the hidden ground truth: who took a copy, and where, is logged.
    with db.writing():  # the console's download is a GET: its audit entry is a write of its own
        audit.record(actor, "challenge.export", f"challenge:{challenge.id}", challenge_id=challenge.id,
                     after={"slug": bundle.manifest["slug"], "files": sorted(bundle.files)}, note=where)


def write(challenge: Challenge, folder: Path, *, slug: str | None = None,
          actor: User | None = None) -> ExportedBundle:
    """Write the bundle into ``folder`` (created; it must be empty if it exists)."""
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ExportError(f"{folder} exists and is not an empty folder")
    bundle = build(challenge, slug)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MANIFEST).write_text(bundle.toml(), encoding="utf-8")
    for name, data in bundle.files.items():
        (folder / name).write_bytes(data)
    _audit(challenge, actor, bundle, f"written to {folder.resolve()}")
    return bundle


def _tar_gz(slug: str, bundle: ExportedBundle) -> bytes:
    """The bundle as a .tar.gz holding one folder named ``slug``."""
    out = io.BytesIO()
    now = datetime.now(UTC).timestamp()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in [(MANIFEST, bundle.toml().encode()), *bundle.files.items()]:
            info = tarfile.TarInfo(f"{slug}/{name}")
            info.size, info.mtime, info.mode = len(data), int(now), 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def archive(challenge: Challenge, *, actor: User | None = None) -> bytes:
    """The bundle as a .tar.gz holding one folder named after the challenge's slug."""
    bundle = build(challenge)
    data = _tar_gz(challenge.slug, bundle)
    _audit(challenge, actor, bundle, "downloaded from the console")
    return data


def keep(challenge: Challenge, *, slug: str | None = None, actor: User | None = None) -> str:
    """Keep the bundle's .tar.gz in the platform's store (``exports/<slug>/<UTC time>-<id>.tar.gz``,
    beside the uploads: on S3 where every host reaches it); returns its key."""
    bundle = build(challenge, slug)
    name = bundle.manifest["slug"]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    key = f"{storage.EXPORTS}/{name}/{stamp}-{uuid.uuid4().hex[:8]}.tar.gz"
    storage.get_store().put(key, _tar_gz(name, bundle))
    _audit(challenge, actor, bundle, f"kept in the store as {key}")
    return key


# ---------------------------------------------------------------- TOML


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, str):
        # JSON's escapes are TOML's; TOML also wants DEL escaped.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise ExportError(f"cannot write {value!r} to TOML")


def _lines(table: dict[str, Any]) -> list[str]:
    return [f"{key} = {_value(value)}" for key, value in table.items()
            if not (isinstance(value, list) and value and isinstance(value[0], dict))]


def to_toml(manifest: dict[str, Any]) -> str:
    """``challenge.toml`` for a manifest dict (scalars, then [[tracks]] and [[tracks.phases]])."""
    out = _lines(manifest)
    for track in manifest.get("tracks", []):
        out += ["", "[[tracks]]", *_lines(track)]
        for phase in track.get("phases", []):
            out += ["", "[[tracks.phases]]", *_lines(phase)]
    return "\n".join(out) + "\n"


def find(slug: str) -> Challenge | None:
    return db.session.scalar(select(Challenge).where(Challenge.slug == slug))
