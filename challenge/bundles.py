"""Challenge bundles: a folder with ``challenge.toml`` and the files it names.

``load_bundle`` reads and checks the whole bundle first (keys, values, files,
and the class list, ground truth and samples parsed by ``scorer/``), and only
then writes, in one transaction. A bad bundle raises ``BundleError`` naming the
key or file and leaves the database as it was. Loading a bundle again updates
the challenge, tracks and phases with the same slugs instead of adding copies.
The format is documented in docs/bundles.md.
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

import scorer
import scorer.real
import scorer.tasks
from challenge import artifacts, audit, scoring, splits
from challenge.extensions import db
from challenge.models import (
    QUOTA_PERIODS,
    VISIBILITIES,
    Blob,
    Challenge,
    Phase,
    Submission,
    Track,
    User,
)
from challenge.models.challenges import new_split_secret
from challenge.rules import service as rules_service

MANIFEST = "challenge.toml"
SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
QUOTA = re.compile(r"^\s*(\d+)\s*/\s*([a-z]+)\s*$")
MAX_GUESSES = 5  # the ILSVRC protocol: up to five guesses per image

CHALLENGE_KEYS = {"slug", "year", "title", "description", "classes", "tracks", "rules"}
TRACK_KEYS = {"slug", "title", "task", "guesses", "phases",
              # The track's own class list (a DET track in a CLS-LOC year); default the challenge's.
              "classes"}
PHASE_KEYS = {"slug", "title", "labels", "boxes", "blacklist", "real", "sample", "opens", "closes",
              "quota", "leaderboard",
              # Phases and visibility (challenge.leaderboards): split, freeze, picks, rankings.
              "public_fraction", "public_images", "freeze", "final_picks", "rankings",
              "private_published",
              # The seed of a public_fraction split, so an exported phase keeps its public images.
              "split_secret"}
SECRET = re.compile(r"^[0-9a-f]{16,64}$")


class BundleError(Exception):
    """A bundle that cannot be loaded; the message names the key or file."""


@dataclass(frozen=True)
class BundleFile:
    name: str  # as written in the manifest, relative to the bundle folder
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class PhaseSpec:
    slug: str
    title: str
    opens: datetime
    closes: datetime
    quota_count: int
    quota_period: str
    leaderboard: str
    images: int
    labels: BundleFile
    boxes: BundleFile | None
    blacklist: BundleFile | None
    sample: BundleFile | None
    # Phases and visibility (see docs/bundles.md); the defaults are an unsplit phase.
    public_fraction: float | None = None
    public_images: list[int] | None = None
    frozen_at: datetime | None = None
    final_picks: int = 2
    separate_outside_data: bool = False
    private_published_at: datetime | None = None
    split_secret: str | None = None  # None: keep the phase's own (or draw a new one)
    real: BundleFile | None = None  # ReaL labels (real.json) of a classification phase
    # The ground truth as the check parsed it: stored as its artifact on load, so no
    # worker parses it again (challenge.artifacts).
    truth: scorer.GroundTruth | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class TrackSpec:
    slug: str
    title: str
    task: str
    guesses: int
    phases: list[PhaseSpec]
    classes: BundleFile | None = None  # the track's own class list


@dataclass(frozen=True)
class BundleSpec:
    slug: str
    year: int
    title: str
    description: str
    classes: BundleFile
    tracks: list[TrackSpec]
    parsed_classes: scorer.ClassList | None = field(default=None, compare=False, repr=False)
    # The rules' Markdown (the file ``rules`` names); None: the bundle leaves them as they are.
    rules: str | None = None


# ---------------------------------------------------------------- reading


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BundleError(f"{where}: expected a table")
    return value


def _check_keys(table: dict[str, Any], allowed: set[str], required: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise BundleError(
            f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})"
        )
    missing = sorted(required - set(table))
    if missing:
        raise BundleError(f"{where}: missing key {missing[0]!r}")


def _string(table: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = table.get(key, default)
    if not isinstance(value, str) or (default is None and not value.strip()):
        raise BundleError(f"{where}.{key}: expected a non-empty string, got {value!r}")
    return value.strip()


def _slug(table: dict[str, Any], where: str) -> str:
    value = _string(table, "slug", where)
    if not SLUG.match(value):
        raise BundleError(
            f"{where}.slug: {value!r} is not a slug (lower-case letters, digits, '-' or '_', "
            "at most 64 characters)"
        )
    return value


def _int(table: dict[str, Any], key: str, where: str, low: int, high: int) -> int:
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BundleError(f"{where}.{key}: expected a whole number from {low} to {high}, got {value!r}")
    return value


def _choice(table: dict[str, Any], key: str, where: str, choices: tuple[str, ...],
            default: str | None = None) -> str:
    value = table.get(key, default)
    if value not in choices:
        raise BundleError(f"{where}.{key}: {value!r} is not one of {' | '.join(choices)}")
    return str(value)


def _datetime(table: dict[str, Any], key: str, where: str) -> datetime:
    value = table[key]
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise BundleError(
                f"{where}.{key}: {value!r} is not a date-time like 2012-05-01T00:00:00Z"
            ) from None
    if not isinstance(value, datetime):
        kind = "a date without a time" if isinstance(value, date) else repr(value)
        raise BundleError(f"{where}.{key}: expected a date-time like 2012-05-01T00:00:00Z, got {kind}")
    if value.tzinfo is None:
        # A local time is ambiguous on a server: demand the zone (Z for UTC).
        raise BundleError(f"{where}.{key}: {value.isoformat()} has no time zone; write it with Z")
    return value.astimezone(UTC)


def _quota(table: dict[str, Any], where: str) -> tuple[int, str]:
    value = table["quota"]
    match = QUOTA.match(value) if isinstance(value, str) else None
    if match is None or match.group(2) not in QUOTA_PERIODS or int(match.group(1)) < 1:
        raise BundleError(
            f"{where}.quota: {value!r} is not a quota like \"5/day\", \"2/week\" or \"10/total\""
        )
    return int(match.group(1)), match.group(2)


def _file(folder: Path, table: dict[str, Any], key: str, where: str) -> BundleFile:
    name = _string(table, key, where)
    # Checked on the written path, not the resolved one: a bundle may hold
    # symlinks to large files kept elsewhere (the organizer's own choice).
    path = Path(os.path.normpath(folder / name))
    if folder not in path.parents:
        raise BundleError(f"{where}.{key}: {name!r} is outside the bundle folder")
    if not path.is_file():
        raise BundleError(f"{where}.{key}: file {name!r} not found in {folder}")
    return BundleFile(name=name, data=path.read_bytes())


def _classes(file: BundleFile) -> scorer.ClassList:
    try:
        return scorer.load_classes(file.data)
    except scorer.FormatError as exc:
        raise BundleError(f"classes: file {file.name!r}: {exc}") from None


def _phase(folder: Path, raw: Any, where: str, task: str, guesses: int,
           classes: scorer.ClassList) -> PhaseSpec:
    table = _table(raw, where)
    _check_keys(table, PHASE_KEYS, {"slug", "labels", "opens", "closes", "quota"}, where)
    slug = _slug(table, where)
    opens, closes = _datetime(table, "opens", where), _datetime(table, "closes", where)
    if closes <= opens:
        raise BundleError(f"{where}.closes: {closes.isoformat()} is not after opens {opens.isoformat()}")
    quota_count, quota_period = _quota(table, where)
    leaderboard = _choice(table, "leaderboard", where, VISIBILITIES, default="public")
    labels = _file(folder, table, "labels", where)
    boxes = _file(folder, table, "boxes", where) if "boxes" in table else None
    needs_boxes = scorer.tasks.get(task).needs_boxes
    if needs_boxes and boxes is None:
        raise BundleError(f"{where}: missing key 'boxes' (a {task} track needs the boxes file)")
    if not needs_boxes and boxes is not None:
        raise BundleError(f"{where}.boxes: only {scorer.tasks.boxed()} tracks have boxes "
                          f"(this track is {task})")
    blacklist = _file(folder, table, "blacklist", where) if "blacklist" in table else None
    sample = _file(folder, table, "sample", where) if "sample" in table else None
    try:
        # The scorer checks every label against the class list and the boxes
        # against the labels; its messages name the line and token.
        truth = scorer.tasks.get(task).load_truth(
            classes, labels=labels.data,
            boxes=boxes.data if boxes else None, blacklist=blacklist.data if blacklist else None,
        )
    except scorer.FormatError as exc:
        raise BundleError(f"{where}: ground truth ({labels.name!r}"
                          f"{', ' + repr(boxes.name) if boxes else ''}"
                          f"{', ' + repr(blacklist.name) if blacklist else ''}): {exc}") from None
    images = scorer.tasks.image_count(truth)
    real = _real(folder, table, where, task, classes, images)
    if sample is not None:
        hidden = {labels.sha256} | {f.sha256 for f in (boxes, blacklist, real) if f is not None}
        if sample.sha256 in hidden:
            raise BundleError(f"{where}.sample: {sample.name!r} is a ground-truth file; "
                              "the sample is public and must be a prediction file")
        try:
            scorer.tasks.get(task).parse(sample.data, guesses=guesses, classes=classes,
                                         images=truth.images)
        except scorer.FormatError as exc:
            raise BundleError(f"{where}.sample: file {sample.name!r}: {exc}") from None
    visibility = _visibility(folder, table, where, images, opens, closes)
    if not scorer.tasks.get(task).split_ok and (visibility["public_fraction"] is not None
                                                or visibility["public_images"] is not None):
        raise BundleError(f"{where}: a {task} phase cannot be split into public and private "
                          "boards (its headline is not a mean over images)")
    return PhaseSpec(
        slug=slug, title=_string(table, "title", where, default=slug) or slug,
        opens=opens, closes=closes, quota_count=quota_count, quota_period=quota_period,
        leaderboard=leaderboard, images=images, labels=labels, boxes=boxes,
        blacklist=blacklist, sample=sample, **visibility,
        split_secret=_split_secret(table, where), truth=truth, real=real,
    )


def _real(folder: Path, table: dict[str, Any], where: str, task: str, classes: scorer.ClassList,
          images: int) -> BundleFile | None:
    """The phase's ReaL labels, checked against its class list and images (scorer.real)."""
    if "real" not in table:
        return None
    if not scorer.tasks.get(task).real_ok:
        raise BundleError(f"{where}.real: only {scorer.tasks.with_real()} tracks have ReaL labels "
                          f"(this track is {task})")
    if "public_fraction" in table or "public_images" in table:
        # A whole-set ReaL error on the public board would tell about the private images.
        raise BundleError(f"{where}.real: ReaL labels are for a phase without a public/private "
                          "split (a validation set)")
    real = _file(folder, table, "real", where)
    try:
        scorer.real.load_real(real.data, classes, images=images)
    except scorer.FormatError as exc:
        raise BundleError(f"{where}.real: file {real.name!r}: {exc}") from None
    return real


def _split_secret(table: dict[str, Any], where: str) -> str | None:
    """The exported seed of a fraction split (``challenge export`` writes it; people need not)."""
    if "split_secret" not in table:
        return None
    if "public_fraction" not in table:
        raise BundleError(f"{where}.split_secret: only a phase with a public_fraction draws its "
                          "split from a secret")
    secret = table["split_secret"]
    if not isinstance(secret, str) or not SECRET.match(secret):
        raise BundleError(f"{where}.split_secret: expected 16 to 64 lower-case hex digits, as "
                          "'challenge export' writes it")
    return secret


def _visibility(folder: Path, table: dict[str, Any], where: str, images: int, opens: datetime,
                closes: datetime) -> dict[str, Any]:
    """The phase's split, freeze, final picks and rankings keys (challenge.leaderboards)."""
    out: dict[str, Any] = {}
    fraction = table.get("public_fraction")
    public = table.get("public_images")
    if isinstance(public, str):  # a file of image numbers, whitespace-separated
        listed = _file(folder, table, "public_images", where)
        try:
            public = [int(token) for token in listed.data.split()]
        except ValueError:
            raise BundleError(f"{where}.public_images: file {listed.name!r} must hold image numbers "
                              "(1-based), separated by spaces or newlines") from None
    try:
        splits.check_split(fraction, public, images)
    except ValueError as exc:
        key = "public_fraction" if fraction is not None and public is None else "public_images"
        raise BundleError(f"{where}.{key}: {exc}") from None
    out["public_fraction"] = float(fraction) if fraction is not None else None
    out["public_images"] = public
    if "freeze" in table:
        frozen = _datetime(table, "freeze", where)
        if not opens < frozen < closes:
            raise BundleError(f"{where}.freeze: {frozen.isoformat()} is not between opens and closes")
        out["frozen_at"] = frozen
    picks = table.get("final_picks", 2)
    if isinstance(picks, bool) or not isinstance(picks, int) or not 1 <= picks <= 100:
        raise BundleError(f"{where}.final_picks: expected a whole number from 1 to 100, got {picks!r}")
    out["final_picks"] = picks
    rankings = table.get("rankings", ["all"])
    if not isinstance(rankings, list) or "all" not in rankings or \
            not set(rankings) <= {"all", "provided"} or len(set(rankings)) != len(rankings):
        raise BundleError(f"{where}.rankings: expected [\"all\"] or [\"all\", \"provided\"], "
                          f"got {rankings!r}")
    out["separate_outside_data"] = "provided" in rankings
    if "private_published" in table:
        if fraction is None and public is None:
            raise BundleError(f"{where}.private_published: only a split phase has a private board")
        published = _datetime(table, "private_published", where)
        if published < closes:
            raise BundleError(f"{where}.private_published: {published.isoformat()} is before the "
                              "phase closes")
        out["private_published_at"] = published
    return out


def _track(folder: Path, raw: Any, where: str, classes: scorer.ClassList | None,
           classes_file: BundleFile) -> TrackSpec:
    table = _table(raw, where)
    _check_keys(table, TRACK_KEYS, {"slug", "task", "phases"}, where)
    slug = _slug(table, where)
    task = _choice(table, "task", where, scorer.tasks.names())
    if scorer.tasks.get(task).needs_costs and not (classes is not None and classes.has_costs):
        raise BundleError(f"{where}.task: a {task} track needs a class list with a cost "
                          "matrix (the 2010 devkit's meta.mat)")
    guesses = _int(table, "guesses", where, 1, MAX_GUESSES) if "guesses" in table else MAX_GUESSES
    phases_raw = table["phases"]
    if not isinstance(phases_raw, list) or not phases_raw:
        raise BundleError(f"{where}.phases: expected at least one [[tracks.phases]] table")
    own = _file(folder, table, "classes", where) if "classes" in table else None
    if own is not None or not scorer.tasks.get(task).artifacts:
        # The track's own list, or a task with its own reader (detection: meta_det.mat or a
        # list of wnids).
        file = own or classes_file
        try:
            classes = scorer.tasks.get(task).load_classes(file.data)
        except scorer.FormatError as exc:
            key = f"{where}.classes" if own is not None else "classes"
            raise BundleError(f"{key}: file {file.name!r} for the {task} track: {exc}") from None
    phases = [_phase(folder, p, f"{where}.phases[{i}]", task, guesses, classes)
              for i, p in enumerate(phases_raw)]
    _unique([p.slug for p in phases], f"{where}.phases")
    return TrackSpec(slug=slug, title=_string(table, "title", where, default=slug) or slug,
                     task=task, guesses=guesses, phases=phases, classes=own)


def _unique(slugs: list[str], where: str) -> None:
    seen: set[str] = set()
    for i, slug in enumerate(slugs):
        if slug in seen:
            raise BundleError(f"{where}[{i}].slug: {slug!r} is used twice")
        seen.add(slug)


def read_bundle(path: str | Path) -> BundleSpec:
    """Read and check a bundle folder without touching the database."""
    folder = Path(path).resolve()
    manifest = folder / MANIFEST
    if not manifest.is_file():
        raise BundleError(f"{MANIFEST} not found in {folder}")
    try:
        table = tomllib.loads(manifest.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{MANIFEST}: {exc}") from None
    return read_manifest(table, folder)


def read_manifest(table: dict[str, Any], folder: str | Path) -> BundleSpec:
    """Check a manifest already parsed into a dict (what ``challenge.toml`` holds; date-times
    may be ``datetime`` objects or ISO strings), its files named relative to ``folder``.

    Other importers (``challenge import-devkit``) describe a challenge this way so that
    every challenge goes through the same checks and the same writer."""
    folder = Path(folder).resolve()
    _check_keys(table, CHALLENGE_KEYS, {"slug", "year", "title", "classes", "tracks"}, "challenge")
    slug = _slug(table, "challenge")
    year = _int(table, "year", "challenge", 1900, 2999)
    classes_file = _file(folder, table, "classes", "challenge")
    tracks_raw = table["tracks"]
    if not isinstance(tracks_raw, list) or not tracks_raw:
        raise BundleError("challenge.tracks: expected at least one [[tracks]] table")
    own_reader = [isinstance(t, dict) and t.get("task") in scorer.tasks.names()
                  and not scorer.tasks.get(t["task"]).artifacts for t in tracks_raw]
    # A detection year's meta_det.mat is read by its task only (scorer.tasks.detection).
    classes = None if all(own_reader) else _classes(classes_file)
    tracks = [_track(folder, t, f"tracks[{i}]", classes, classes_file) for i, t in enumerate(tracks_raw)]
    _unique([t.slug for t in tracks], "tracks")
    return BundleSpec(
        slug=slug, year=year, title=_string(table, "title", "challenge"),
        description=_string(table, "description", "challenge", default=""),
        classes=classes_file, tracks=tracks, parsed_classes=classes,
        rules=_rules(folder, table) if "rules" in table else None,
    )


def _rules(folder: Path, table: dict[str, Any]) -> str:
    """The rules file's Markdown (UTF-8), checked like the console checks it."""
    file = _file(folder, table, "rules", "challenge")
    try:
        text = rules_service.clean(file.data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise BundleError(f"challenge.rules: file {file.name!r} is not UTF-8 text ({exc.reason} at "
                          f"byte {exc.start})") from None
    if len(text) > rules_service.MAX_RULES:
        raise BundleError(f"challenge.rules: file {file.name!r} has {len(text)} characters; rules are at "
                          f"most {rules_service.MAX_RULES}")
    return text


# ---------------------------------------------------------------- writing


def _files(spec: BundleSpec) -> list[BundleFile]:
    files = [spec.classes] + [t.classes for t in spec.tracks if t.classes is not None]
    for track in spec.tracks:
        for phase in track.phases:
            files += [f for f in (phase.labels, phase.boxes, phase.blacklist, phase.real, phase.sample)
                      if f]
    return files


def _blobs(spec: BundleSpec) -> dict[str, Blob]:
    """The stored copy of every file, by checksum: one row per distinct content.

    Done before any challenge row is touched, so no half-built row is flushed."""
    blobs: dict[str, Blob] = {}
    for file in _files(spec):
        if file.sha256 in blobs:
            continue
        blob = db.session.scalar(select(Blob).where(Blob.sha256 == file.sha256))
        if blob is None:
            blob = Blob(sha256=file.sha256, filename=Path(file.name).name, size=len(file.data),
                        data=file.data)
            db.session.add(blob)
        blobs[file.sha256] = blob
    db.session.flush()
    return blobs


def _scored_count(phase: Phase) -> int:
    return db.session.scalar(select(func.count()).select_from(Submission).where(
        Submission.phase_id == phase.id, Submission.status == "scored")) or 0


def _keep_scored_truth(track: Track, phase: Phase, spec: PhaseSpec) -> None:
    """Refuse to swap the hidden files under scores computed against them.

    Such scores would silently stop matching the files; ``challenge truth replace`` adds a
    new version instead, which the organizer rescores, previews and publishes."""
    stored = tuple(b.sha256 if b is not None else None
                   for b in (phase.labels_blob, phase.boxes_blob, phase.blacklist_blob, phase.real_blob))
    wanted = tuple(f.sha256 if f is not None else None
                   for f in (spec.labels, spec.boxes, spec.blacklist, spec.real))
    if stored == wanted:
        return
    scored = _scored_count(phase)
    if scored:
        name = f"{track.challenge.slug}/{track.slug}/{phase.slug}"
        raise BundleError(
            f"tracks[{track.slug}].phases[{phase.slug}]: its ground truth (labels, boxes, blacklist "
            "or ReaL labels) "
            f"differs from the stored files, and {scored} submission(s) are scored against them; "
            f"use 'challenge truth replace {name} ...' to add a new version and rescore, "
            "or keep the old files in the bundle")


def _write_phase(track: Track, spec: PhaseSpec, blobs: dict[str, Blob]) -> None:
    phase = next((p for p in track.phases if p.slug == spec.slug), None)
    if phase is None:
        phase = Phase(slug=spec.slug)
        track.phases.append(phase)
    elif phase.id is not None:
        _keep_scored_truth(track, phase, spec)
    phase.title = spec.title
    phase.opens_at, phase.closes_at = spec.opens, spec.closes
    phase.quota_count, phase.quota_period = spec.quota_count, spec.quota_period
    phase.leaderboard, phase.images = spec.leaderboard, spec.images
    phase.labels_blob = blobs[spec.labels.sha256]
    phase.boxes_blob = blobs[spec.boxes.sha256] if spec.boxes else None
    phase.blacklist_blob = blobs[spec.blacklist.sha256] if spec.blacklist else None
    phase.real_blob = blobs[spec.real.sha256] if spec.real else None
    phase.sample_blob = blobs[spec.sample.sha256] if spec.sample else None
    phase.public_fraction, phase.public_images = spec.public_fraction, spec.public_images
    if spec.split_secret is not None:  # an exported phase: the same images stay public
        phase.split_secret = spec.split_secret
    if not phase.split_secret:  # never derivable: a fresh random secret per phase
        phase.split_secret = new_split_secret()
    phase.frozen_at, phase.final_picks = spec.frozen_at, spec.final_picks
    phase.separate_outside_data = spec.separate_outside_data
    phase.private_published_at = spec.private_published_at


def _keep_class_numbers(track: Track, old: Blob, new: BundleFile) -> None:
    """Refuse a class list under which the track's scored entries would name other classes
    (``scoring.renumbering``, as the console's replace checks)."""
    if old.sha256 == new.sha256:
        return
    scored = sum(_scored_count(p) for p in track.phases)
    if not scored:
        return
    task = scorer.tasks.get(track.task)
    change = scoring.renumbering(task.load_classes(old.data), task.load_classes(new.data), task.needs_costs)
    if change is None:
        return
    held = f"tracks[{track.slug}]: {scored} submission(s) are scored with the stored"
    if change.costs:
        raise BundleError(f"{held} hierarchy; the bundle's {change.detail}")
    raise BundleError(f"{held} class list; in the bundle's list {change.detail}")


def _write(spec: BundleSpec) -> Challenge:
    blobs = _blobs(spec)
    with db.session.no_autoflush:
        challenge = db.session.scalar(select(Challenge).where(Challenge.slug == spec.slug))
        if challenge is None:
            challenge = Challenge(slug=spec.slug)
            db.session.add(challenge)
        stored_classes = challenge.classes_blob if challenge.id is not None else None
        challenge.year, challenge.title = spec.year, spec.title
        challenge.description = spec.description
        challenge.classes_blob = blobs[spec.classes.sha256]
        # Tracks and phases absent from the bundle are kept: they may hold submissions.
        for position, track_spec in enumerate(spec.tracks):
            track = next((t for t in challenge.tracks if t.slug == track_spec.slug), None)
            if track is None:
                track = Track(slug=track_spec.slug)
                challenge.tracks.append(track)
            if track.id is not None and (track.task, track.guesses) != (track_spec.task, track_spec.guesses) \
                    and any(_scored_count(p) for p in track.phases):
                raise BundleError(f"tracks[{track.slug}]: task and guesses cannot change once submissions "
                                  f"are scored (stored: {track.task}, {track.guesses} guesses)")
            if track.id is not None:
                stored = track.classes_blob or stored_classes
                if stored is not None:
                    _keep_class_numbers(track, stored, track_spec.classes or spec.classes)
            track.title, track.task = track_spec.title, track_spec.task
            track.guesses, track.position = track_spec.guesses, position
            track.classes_blob = blobs[track_spec.classes.sha256] if track_spec.classes else None
            for phase_spec in track_spec.phases:
                _write_phase(track, phase_spec, blobs)
    return challenge


def describe(challenge: Challenge) -> dict[str, Any]:
    """What a bundle sets on a challenge, for the audit log's before and after: settings,
    and each file by the first 12 hex digits of its checksum (never its content)."""
    def sha(blob: Blob | None) -> str | None:
        return blob.sha256[:12] if blob is not None else None

    return {
        "slug": challenge.slug, "year": challenge.year, "title": challenge.title,
        "classes": sha(challenge.classes_blob),
        "tracks": [{
            "slug": t.slug, "task": t.task, "guesses": t.guesses, "classes": sha(t.classes_blob),
            "phases": [{
                "slug": p.slug, "opens": p.opens_at.isoformat(), "closes": p.closes_at.isoformat(),
                "quota": f"{p.quota_count}/{p.quota_period}", "leaderboard": p.leaderboard,
                "images": p.images, "labels": sha(p.labels_blob), "boxes": sha(p.boxes_blob),
                "blacklist": sha(p.blacklist_blob), "real": sha(p.real_blob), "sample": sha(p.sample_blob),
            } for p in t.phases],
        } for t in challenge.tracks],
    }


def _remember_parsed(spec: BundleSpec) -> None:
    """Store the artifacts of what the check parsed, in the load's own transaction."""
    classes_sha = spec.classes.sha256
    if spec.parsed_classes is not None:
        artifacts.remember_classes(classes_sha, spec.parsed_classes)
    for track in spec.tracks:
        if not scorer.tasks.get(track.task).artifacts or track.classes is not None:
            continue  # parsed per process from the files, or under another class list
        for phase in track.phases:
            if phase.truth is not None:
                artifacts.remember_truth(classes_sha, phase.labels.sha256,
                                         phase.boxes.sha256 if phase.boxes else None,
                                         phase.blacklist.sha256 if phase.blacklist else None, phase.truth)


def load_bundle(path: str | Path, *, actor: User | None = None) -> Challenge:
    """Check the bundle at ``path``, then create or update its challenge in one transaction."""
    return save_bundle(read_bundle(path), actor=actor, note=f"bundle {Path(path).resolve()}")


def save_bundle(spec: BundleSpec, *, actor: User | None = None, action: str = "challenge.load",
                note: str = "") -> Challenge:
    """Create or update the checked bundle's challenge in one transaction, with its audit entry
    (``actor`` None: the command line)."""
    try:
        existing = db.session.scalar(select(Challenge).where(Challenge.slug == spec.slug))
        before = describe(existing) if existing is not None else None
        challenge = _write(spec)
        db.session.flush()
        _remember_parsed(spec)
        if spec.rules is not None:  # a changed text is a new version, audited on its own
            rules_service.set_rules(actor, challenge, spec.rules, commit=False, note=note)
        audit.record(actor, action, f"challenge:{challenge.id}", challenge_id=challenge.id,
                     before=before, after=describe(challenge), note=note)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return challenge
