"""What the console does: create and edit challenges, tracks and phases, list and export
submissions, add reference entries. Every change is audited in its own transaction.

Files go through the bundle loader's own checks (``challenge.bundles``): a class list, a
phase's ground truth and sample are accepted by the console exactly when ``challenge load``
would accept them, with the same messages. Bad input raises ``ConsoleError`` naming the
field, and changes nothing.
"""

from __future__ import annotations

import logging
import secrets
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import redis
from flask import current_app
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.results import Result
from sqlalchemy import func, select
from werkzeug.utils import secure_filename

import scorer
import scorer.tasks
from challenge import audit, bundles, csv_export, scoring, storage
from challenge.extensions import db
from challenge.leaderboards import cache
from challenge.models import (
    QUOTA_PERIODS,
    VISIBILITIES,
    Blob,
    Challenge,
    Membership,
    Phase,
    Score,
    Submission,
    Team,
    Track,
    User,
    utcnow,
)
from challenge.queue import get_redis
from challenge.submissions.service import enqueue_or_leave_to_sweeper

log = logging.getLogger(__name__)

CHALLENGE_FIELDS = ("slug", "year", "title", "description", "classes_blob_id")
TRACK_FIELDS = ("slug", "title", "task", "guesses", "position")
PHASE_FIELDS = ("slug", "title", "opens_at", "closes_at", "quota_count", "quota_period", "leaderboard",
                "images", "labels_blob_id", "boxes_blob_id", "blacklist_blob_id", "real_blob_id",
                "sample_blob_id")
MAX_QUOTA = 10_000
#: The quota period key of reference entries: outside every team's quota.
REFERENCE_PERIOD = "reference"


class ConsoleError(Exception):
    """A refused console action; ``message`` names the field and what is wrong."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Upload:
    """An uploaded file: its name as the browser sent it, and its bytes."""

    filename: str
    data: bytes


# ------------------------------------------------------------------ helpers

def _text(value: str | None, field: str, *, required: bool = True, limit: int = 200) -> str:
    value = (value or "").strip()
    if required and not value:
        raise ConsoleError(f"{field}: required")
    if len(value) > limit:
        raise ConsoleError(f"{field}: at most {limit} characters (got {len(value)})")
    return value


def _slug(value: str | None, field: str) -> str:
    value = (value or "").strip()
    if not bundles.SLUG.match(value):
        raise ConsoleError(f"{field}: {value!r} is not a slug (lower-case letters, digits, '-' or '_', "
                           "at most 64 characters)")
    return value


def _choice(value: str | None, field: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ConsoleError(f"{field}: {value!r} is not one of {' | '.join(choices)}")
    return value


def _number(value: int | None, field: str, low: int, high: int) -> int:
    if value is None or not low <= value <= high:
        raise ConsoleError(f"{field}: expected a whole number from {low} to {high}, got {value!r}")
    return value


def _dates(opens: datetime | None, closes: datetime | None) -> tuple[datetime, datetime]:
    if opens is None or closes is None or opens.tzinfo is None or closes.tzinfo is None:
        raise ConsoleError("opens/closes: both dates are required, in UTC")
    if closes <= opens:
        raise ConsoleError(f"closes: {closes.isoformat()} is not after opens {opens.isoformat()}")
    return opens, closes


def _blob(file: bundles.BundleFile) -> Blob:
    """The stored copy of a file (one row per distinct content, as the bundle loader keeps them)."""
    blob = db.session.scalar(select(Blob).where(Blob.sha256 == file.sha256))
    if blob is None:
        blob = Blob(sha256=file.sha256, filename=Path(file.name).name[:255], size=len(file.data),
                    data=file.data)
        db.session.add(blob)
        db.session.flush()
    return blob


def _file_name(upload: Upload, default: str) -> str:
    return secure_filename(upload.filename or "") or default


def _class_list(upload: Upload, reader: Callable[[bytes], Any] | None = None
                ) -> tuple[bundles.BundleFile, Any]:
    """The uploaded class list, read as a bundle's ``classes`` file, or by ``reader`` (a
    task's own class-list reader, e.g. detection's for a meta_det.mat)."""
    if not upload.data:
        raise ConsoleError("classes: choose a class list file")
    file = bundles.BundleFile(name=_file_name(upload, "classes.txt"), data=upload.data)
    if reader is not None:
        try:
            return file, reader(upload.data)
        except scorer.FormatError as exc:
            raise ConsoleError(f"classes: {exc}") from None
    try:
        return file, bundles._classes(file)
    except bundles.BundleError as exc:
        raise ConsoleError(str(exc)) from None


def _invalidate_challenge(challenge: Challenge) -> None:
    for track in challenge.tracks:
        for phase in track.phases:
            cache.invalidate(phase.id)


# ------------------------------------------------------------------ challenges

def create_challenge(actor: User, *, slug: str, year: int | None, title: str, description: str,
                     classes: Upload) -> Challenge:
    """A new challenge with its class list (tracks and phases are added next)."""
    slug = _slug(slug, "slug")
    if db.session.scalar(select(Challenge.id).where(Challenge.slug == slug)) is not None:
        raise ConsoleError(f"slug: a challenge {slug!r} exists already")
    year = _number(year, "year", 1900, 2999)
    title = _text(title, "title")
    description = _text(description, "description", required=False, limit=20_000)
    file, _ = _class_list(classes)
    challenge = Challenge(slug=slug, year=year, title=title, description=description,
                          classes_blob=_blob(file))
    db.session.add(challenge)
    db.session.flush()
    audit.record(actor, "challenge.create", f"challenge:{challenge.id}", challenge_id=challenge.id,
                 after=audit.snapshot(challenge, CHALLENGE_FIELDS))
    db.session.commit()
    return challenge


def update_challenge(actor: User, challenge: Challenge, *, year: int | None, title: str,
                     description: str) -> Challenge:
    year = _number(year, "year", 1900, 2999)
    title = _text(title, "title")
    description = _text(description, "description", required=False, limit=20_000)
    before = audit.snapshot(challenge, CHALLENGE_FIELDS)
    challenge.year, challenge.title, challenge.description = year, title, description
    audit.record(actor, "challenge.update", f"challenge:{challenge.id}", challenge_id=challenge.id,
                 before=before, after=audit.snapshot(challenge, CHALLENGE_FIELDS))
    db.session.commit()
    _invalidate_challenge(challenge)
    return challenge


def _check_fits(track: Track, parsed: Any) -> None:
    """Refuse a class list under which ``track`` would no longer load: a hierarchical track
    without a cost matrix, or a phase whose ground truth does not fit it."""
    if scoring.task_of(track).needs_costs and not getattr(parsed, "has_costs", False):
        raise ConsoleError(f"classes: track {track.slug!r} is {track.task} and needs a class list "
                           "with a cost matrix (the 2010 devkit's meta.mat)")
    for phase in track.phases:
        # The phase's files must still be valid ground truth under the new list.
        try:
            scoring.task_of(track).load_truth(
                parsed, labels=phase.labels_blob.data,
                boxes=phase.boxes_blob.data if phase.boxes_blob else None,
                blacklist=phase.blacklist_blob.data if phase.blacklist_blob else None)
        except scorer.FormatError as exc:
            raise ConsoleError(f"classes: the ground truth of {track.slug}/{phase.slug} does not fit "
                               f"the new class list: {exc}") from None


def _entered(track: Track) -> int:
    """Submissions of ``track`` that are scored, or queued or running (to be scored soon)."""
    return db.session.scalar(
        select(func.count(Submission.id)).join(Phase).where(
            Phase.track_id == track.id, Submission.status.in_(("scored", "queued", "running")))) or 0


def _keep_class_meaning(track: Track, parsed: Any) -> None:
    """Refuse a class list under which the track's entries would name other classes.

    Labels, predictions and scores hold class numbers: number ``i`` is the list's ``i``-th
    wnid, and a localization track's boxes name wnids. Once submissions are in, a new list
    must keep every old number's wnid (a fixed description, or new classes at the end), and
    a hierarchical track the costs between the old classes; otherwise the stored scores would
    stop matching the files they were computed from."""
    entered = _entered(track)
    if not entered:
        return
    change = scoring.renumbering(scoring.class_list(track), parsed, scoring.task_of(track).needs_costs)
    if change is None:
        return
    held = f"classes: track {track.slug!r} has {entered} submission(s) scored or being scored"
    if change.costs:
        raise ConsoleError(f"{held} with the current hierarchy; the new list's {change.detail}")
    raise ConsoleError(f"{held}, whose class numbers mean the current list's classes; in the new list "
                       f"{change.detail}")


def replace_classes(actor: User, challenge: Challenge, classes: Upload) -> Challenge:
    """A new class list, accepted only if every track and phase still loads with it, and no
    track's submissions would change meaning under it (``_keep_class_meaning``)."""
    users = [t for t in challenge.tracks if t.classes_blob_id is None]  # others read their own list
    readers = {scoring.task_of(t).load_classes for t in users}
    # Only tracks of a task with a reader of its own (DET's meta_det.mat) use the list: read it so.
    own = readers.pop() if len(readers) == 1 and scorer.load_classes not in readers else None
    file, parsed = _class_list(classes, own)
    for track in users:
        _check_fits(track, parsed)
        _keep_class_meaning(track, parsed)
    before = audit.snapshot(challenge, CHALLENGE_FIELDS)
    challenge.classes_blob = _blob(file)
    db.session.flush()
    audit.record(actor, "challenge.classes", f"challenge:{challenge.id}", challenge_id=challenge.id,
                 before=before, after=audit.snapshot(challenge, CHALLENGE_FIELDS),
                 note=f"class list {file.name} ({len(parsed.wnids)} classes)")
    db.session.commit()
    return challenge


def replace_track_classes(actor: User, track: Track, classes: Upload) -> Track:
    """A new class list of the track's own (e.g. a DET track's meta_det.mat), read by its
    task's reader, with ``replace_classes``'s checks for this one track. From then on the
    track reads this list, not its challenge's."""
    file, parsed = _class_list(classes, scoring.task_of(track).load_classes)
    _check_fits(track, parsed)
    _keep_class_meaning(track, parsed)
    fields = (*TRACK_FIELDS, "classes_blob_id")
    before = audit.snapshot(track, fields)
    track.classes_blob = _blob(file)
    db.session.flush()
    audit.record(actor, "track.classes", f"track:{track.id}", challenge_id=track.challenge_id,
                 before=before, after=audit.snapshot(track, fields),
                 note=f"class list {file.name} ({len(parsed.wnids)} classes)")
    db.session.commit()  # bumps its phases' board versions (leaderboards.cache)
    return track


# ------------------------------------------------------------------ tracks

def _has_submissions(track: Track) -> bool:
    return db.session.scalar(
        select(func.count(Submission.id)).join(Phase).where(Phase.track_id == track.id)) != 0


def create_track(actor: User, challenge: Challenge, *, slug: str, title: str, task: str,
                 guesses: int | None, classes: Upload | None = None) -> Track:
    """A new track; ``classes``, if given, is its own class list (a DET track's 200 classes),
    read by its task's reader."""
    slug = _slug(slug, "slug")
    if any(t.slug == slug for t in challenge.tracks):
        raise ConsoleError(f"slug: {challenge.slug} has a track {slug!r} already")
    title = _text(title, "title", required=False) or slug
    task = _choice(task, "task", scorer.tasks.names())
    guesses = _number(guesses, "guesses", 1, bundles.MAX_GUESSES)
    own = None
    if classes is not None and classes.data:
        own = bundles.BundleFile(name=_file_name(classes, "classes.txt"), data=classes.data)
        try:
            parsed = scorer.tasks.get(task).load_classes(own.data)
        except scorer.FormatError as exc:
            raise ConsoleError(f"classes: file {own.name!r}: {exc}") from None
    elif scorer.tasks.get(task).needs_costs:
        parsed = scorer.load_classes(challenge.classes_blob.data)
    if scorer.tasks.get(task).needs_costs and not getattr(parsed, "has_costs", False):
        raise ConsoleError(f"task: a {task} track needs a class list with a cost matrix "
                           "(the 2010 devkit's meta.mat)")
    track = Track(slug=slug, title=title, task=task, guesses=guesses,
                  position=max((t.position for t in challenge.tracks), default=-1) + 1,
                  classes_blob=_blob(own) if own is not None else None)
    challenge.tracks.append(track)
    db.session.flush()
    audit.record(actor, "track.create", f"track:{track.id}", challenge_id=challenge.id,
                 after=audit.snapshot(track, TRACK_FIELDS))
    db.session.commit()
    return track


def update_track(actor: User, track: Track, *, title: str, task: str, guesses: int | None) -> Track:
    title = _text(title, "title")
    task = _choice(task, "task", scorer.tasks.names())
    guesses = _number(guesses, "guesses", 1, bundles.MAX_GUESSES)
    if (task, guesses) != (track.task, track.guesses):
        if _has_submissions(track):
            # Existing scores were computed for the old task and guesses; changing them
            # under the scores would make one board mix two metrics.
            raise ConsoleError("task/guesses: this track has submissions; its task and number of "
                               "guesses can no longer change")
        new = scorer.tasks.get(task)
        if new.needs_costs and not scoring.class_list(track).has_costs:
            raise ConsoleError(f"task: a {task} track needs a class list with a cost matrix")
        for phase in track.phases:
            if new.needs_boxes != (phase.boxes_blob_id is not None):
                raise ConsoleError(f"task: phase {phase.slug!r} "
                                   f"{'has no' if new.needs_boxes else 'has'} boxes; "
                                   f"only {scorer.tasks.boxed()} tracks have boxes")
    before = audit.snapshot(track, TRACK_FIELDS)
    track.title, track.task, track.guesses = title, task, guesses
    audit.record(actor, "track.update", f"track:{track.id}", challenge_id=track.challenge_id,
                 before=before, after=audit.snapshot(track, TRACK_FIELDS))
    db.session.commit()  # bumps its phases' board versions (leaderboards.cache)
    return track


# ------------------------------------------------------------------ phases

@dataclass(frozen=True)
class PhaseSettings:
    """What the phase form sets (files aside)."""

    title: str
    opens: datetime | None
    closes: datetime | None
    quota_count: int | None
    quota_period: str
    leaderboard: str


@dataclass(frozen=True)
class _Checked:
    title: str
    opens: datetime
    closes: datetime
    quota_count: int
    quota_period: str
    leaderboard: str


def _settings(settings: PhaseSettings) -> _Checked:
    opens, closes = _dates(settings.opens, settings.closes)
    return _Checked(
        title=_text(settings.title, "title", required=False), opens=opens, closes=closes,
        quota_count=_number(settings.quota_count, "quota_count", 1, MAX_QUOTA),
        quota_period=_choice(settings.quota_period, "quota_period", QUOTA_PERIODS),
        leaderboard=_choice(settings.leaderboard, "leaderboard", VISIBILITIES),
    )


def create_phase(actor: User, track: Track, *, slug: str, settings: PhaseSettings, labels: Upload,
                 boxes: Upload | None = None, blacklist: Upload | None = None,
                 sample: Upload | None = None, real: Upload | None = None) -> Phase:
    """A new phase with its hidden ground truth, checked exactly as ``challenge load`` checks it."""
    slug = _slug(slug, "slug")
    if any(p.slug == slug for p in track.phases):
        raise ConsoleError(f"slug: track {track.slug!r} has a phase {slug!r} already")
    checked = _settings(settings)
    if not labels.data:
        raise ConsoleError("labels: choose the ground-truth labels file")
    files = {"labels": labels, "boxes": boxes, "blacklist": blacklist, "sample": sample, "real": real}
    with tempfile.TemporaryDirectory(prefix="console-phase-") as tmp:
        folder = Path(tmp)
        table: dict[str, Any] = {
            "slug": slug, "title": checked.title or slug, "opens": checked.opens,
            "closes": checked.closes, "quota": f"{checked.quota_count}/{checked.quota_period}",
            "leaderboard": checked.leaderboard,
        }
        for key, upload in files.items():
            if upload is None or not upload.data:
                continue
            # One folder per field, so the loader's messages name both field and file.
            (folder / key).mkdir()
            name = f"{key}/{_file_name(upload, key + '.txt')}"
            (folder / name).write_bytes(upload.data)
            table[key] = name
        try:
            spec = bundles._phase(folder.resolve(), table, "phase", track.task, track.guesses,
                                  scoring.class_list(track))
        except bundles.BundleError as exc:
            raise ConsoleError(str(exc)) from None
    blobs = {f.sha256: _blob(f) for f in (spec.labels, spec.boxes, spec.blacklist, spec.real, spec.sample)
             if f}
    with db.session.no_autoflush:
        bundles._write_phase(track, spec, blobs)
    db.session.flush()
    phase = next(p for p in track.phases if p.slug == slug)
    audit.record(actor, "phase.create", f"phase:{phase.id}", challenge_id=track.challenge_id,
                 after=audit.snapshot(phase, PHASE_FIELDS))
    db.session.commit()
    return phase


def update_phase(actor: User, phase: Phase, settings: PhaseSettings) -> Phase:
    """Change a phase's title, dates, quota and visibility.

    Submissions keep their quota slots: a slot is stored with its submission under the
    period it was taken in, so a lower quota only limits uploads from now on and a new
    period kind (day -> week) counts under the new period's keys."""
    checked = _settings(settings)
    before = audit.snapshot(phase, PHASE_FIELDS)
    phase.title = checked.title or phase.slug
    phase.opens_at, phase.closes_at = checked.opens, checked.closes
    phase.quota_count, phase.quota_period = checked.quota_count, checked.quota_period
    phase.leaderboard = checked.leaderboard
    audit.record(actor, "phase.update", f"phase:{phase.id}", challenge_id=phase.track.challenge_id,
                 before=before, after=audit.snapshot(phase, PHASE_FIELDS))
    db.session.commit()  # bumps the phase's board version (leaderboards.cache)
    return phase


# ------------------------------------------------------------------ submissions

@dataclass(frozen=True)
class TeamRow:
    team: Team
    members: int
    submissions: int


def challenge_teams(challenge: Challenge) -> list[TeamRow]:
    """The challenge's teams by name, with member and submission counts (for moderation)."""
    members = dict(db.session.execute(
        select(Membership.team_id, func.count(Membership.id)).where(Membership.challenge_id == challenge.id)
        .group_by(Membership.team_id)).all())
    uploads = dict(db.session.execute(
        select(Submission.team_id, func.count(Submission.id)).join(Team, Team.id == Submission.team_id)
        .where(Team.challenge_id == challenge.id).group_by(Submission.team_id)).all())
    teams = db.session.scalars(select(Team).where(Team.challenge_id == challenge.id).order_by(Team.name))
    return [TeamRow(t, members.get(t.id, 0), uploads.get(t.id, 0)) for t in teams]


def failure_details(submission: Submission) -> str | None:
    """For organizers: the traceback RQ kept of the submission's last failed scoring job
    (the team is shown only a plain sentence). None when there is none, or Redis is away.
    A queued submission may have one too: an internal failure waiting to be tried again."""
    if submission.status not in ("failed", "queued"):
        return None
    try:
        job = Job.fetch(submission.job_id, connection=get_redis())
        result = job.latest_result()
    except (NoSuchJobError, redis.RedisError):
        return None
    return result.exc_string if result is not None and result.type == Result.Type.FAILED else None


def team_submissions(team: Team) -> list[Submission]:
    return list(db.session.scalars(
        select(Submission).where(Submission.team_id == team.id).order_by(Submission.id.desc())))


@dataclass(frozen=True)
class OverviewRow:
    """A team's best scored submission of a phase, as organizers see it: moderated ones too."""

    submission: Submission
    team: Team
    error: float
    state: str  # "" (on the public board), "reference", "hidden", "disqualified" (own or its team's)
    reason: str


def phase_overview(phase: Phase) -> list[OverviewRow]:
    """Every team's best scored submission, best first, with moderation marked: the public
    board leaves out the hidden and disqualified ones; organizers see them here."""
    result = db.session.execute(
        select(Submission, Score.error, Team)
        .join(Score, Score.submission_id == Submission.id).join(Team, Team.id == Submission.team_id)
        .where(Submission.phase_id == phase.id, Submission.status == "scored")
        .order_by(Score.error, Submission.created_at, Submission.id))
    best: dict[tuple[int, bool], OverviewRow] = {}
    for s, error, team in result:
        # A team's best listed entry, and separately its best moderated one (if better).
        state = team.moderation or s.moderation or ("reference" if team.is_reference else "")
        reason = team.moderation_reason or s.moderation_reason
        key = (team.id, state in ("hidden", "disqualified"))
        best.setdefault(key, OverviewRow(s, team, error, state, reason))
    return sorted(best.values(), key=lambda r: (r.error, r.submission.created_at, r.submission.id))


EXPORT_COLUMNS = (
    "submission_id", "team_id", "team", "reference", "team_moderation", "user", "method", "description",
    "link", "extra_data", "filename", "size", "sha256", "status", "error", "attempts", "created_at",
    "started_at", "finished_at", "quota_period", "quota_slot", "moderation", "moderation_reason",
    "score_error", "score_top1", "score_cls_error", "ci95_low", "ci95_high", "images", "scored_at",
)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def export_rows(phase: Phase) -> list[dict[str, Any]]:
    """Every submission of the phase (oldest first) with its team, timings and scores."""
    rows: list[dict[str, Any]] = []
    result = db.session.execute(
        select(Submission, Team, Score)
        .join(Team, Team.id == Submission.team_id)
        .outerjoin(Score, Score.submission_id == Submission.id)
        .where(Submission.phase_id == phase.id)
        .order_by(Submission.created_at, Submission.id))
    for s, team, score in result:
        rows.append({
            "submission_id": s.id, "team_id": team.id, "team": team.name, "reference": team.is_reference,
            "team_moderation": team.moderation, "user": s.user.email if s.user else None,
            "method": s.method, "description": s.description, "link": s.link, "extra_data": s.extra_data,
            "filename": s.filename, "size": s.size, "sha256": s.sha256, "status": s.status,
            "error": s.error, "attempts": s.attempts, "created_at": _iso(s.created_at),
            "started_at": _iso(s.started_at), "finished_at": _iso(s.finished_at),
            "quota_period": s.quota_period, "quota_slot": s.quota_slot,
            "moderation": s.moderation, "moderation_reason": s.moderation_reason,
            "score_error": score.error if score else None,
            "score_top1": score.error_at_k[0] if score and score.error_at_k else None,
            "score_cls_error": score.cls_error if score else None,
            "ci95_low": score.ci_low if score else None, "ci95_high": score.ci_high if score else None,
            "images": score.images if score else None, "scored_at": _iso(score.scored_at) if score else None,
        })
    return rows


def record_export(actor: User, phase: Phase, kind: str) -> None:
    """Audit a download: it holds every team's scores, hidden ones included, and e-mails."""
    with db.writing():  # a download is a GET: its audit entry is a write of its own
        audit.record(actor, "phase.export_submissions", f"phase:{phase.id}",
                     challenge_id=phase.track.challenge_id, note=kind)


def export_json(phase: Phase) -> dict[str, Any]:
    track = phase.track
    return {"challenge": track.challenge.slug, "track": track.slug, "phase": phase.slug,
            "task": track.task, "guesses": track.guesses, "exported_at": utcnow().isoformat(),
            "submissions": export_rows(phase)}


def export_csv(phase: Phase) -> str:
    return csv_export.to_csv(EXPORT_COLUMNS, export_rows(phase))


# ------------------------------------------------------------------ reference entries

DEFAULT_REFERENCE = "Organizers' baseline"


def reference_team(actor: User, challenge: Challenge, name: str) -> Team:
    """The challenge's reference team called ``name`` (created, audited, on first use)."""
    name = _text(name, "name", limit=100)
    team = db.session.scalar(select(Team).where(Team.challenge_id == challenge.id, Team.name == name))
    if team is not None:
        if not team.is_reference:
            raise ConsoleError(f"name: {name!r} is a competing team's name; choose another")
        return team
    # Nobody is ever shown this code (the team has no members), and it is unguessable.
    team = Team(challenge_id=challenge.id, name=name, invite_code=secrets.token_hex(16),
                is_reference=True)
    db.session.add(team)
    db.session.flush()
    audit.record(actor, "team.create_reference", f"team:{team.id}", challenge_id=challenge.id,
                 after={"name": name, "is_reference": True})
    return team


def add_reference_entry(actor: User, phase: Phase, *, name: str, method: str, upload: Upload) -> Submission:
    """Upload a file as a reference entry of ``phase``: outside every quota and the phase's
    dates, checked like any upload, then scored by the normal worker."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if not upload.data.strip():
        raise ConsoleError("file: choose a prediction file (the one given is empty)")
    if len(upload.data) > limit:
        raise ConsoleError(f"file: {len(upload.data)} bytes; the limit is {limit} bytes")
    method = _text(method, "method", required=False)
    try:
        scoring.check_upload(upload.data, phase)
    except scoring.FormatError as exc:
        raise ConsoleError(f"file: {exc}") from None
    challenge = phase.track.challenge
    team = reference_team(actor, challenge, name or DEFAULT_REFERENCE)
    stored = storage.store(phase.id, upload.data)
    try:
        taken = db.session.scalar(select(func.count(Submission.id)).where(
            Submission.phase_id == phase.id, Submission.team_id == team.id,
            Submission.quota_period == REFERENCE_PERIOD)) or 0
        submission = Submission(
            phase_id=phase.id, team_id=team.id, user_id=actor.id, method=method,
            filename=_file_name(upload, "reference.txt")[-255:], stored_path=stored.path,
            sha256=stored.sha256, size=stored.size, quota_period=REFERENCE_PERIOD,
            quota_slot=taken + 1, status="queued", created_at=utcnow())
        db.session.add(submission)
        db.session.flush()
        audit.record(actor, "submission.add_reference", f"submission:{submission.id}",
                     challenge_id=challenge.id,
                     after={"team": team.name, "phase_id": phase.id, "method": method,
                            "sha256": stored.sha256, "size": stored.size})
        db.session.commit()
    except BaseException:
        db.session.rollback()
        storage.remove(stored.path)
        raise
    enqueue_or_leave_to_sweeper(submission)
    return submission
