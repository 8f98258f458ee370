"""Versioned ground truth: replacing a phase's hidden files adds a version.

The phase keeps scoring against its current version (its ``labels_blob`` ...,
numbered ``Phase.truth_version``) and every published score stays attached to
the version it was scored against (``Score.truth_version``). A new version
becomes current when a rescoring run against it is published
(challenge.rescoring), or at once when the phase has no scores yet, since then
nothing needs rescoring.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import func, select

import scorer
import scorer.real
import scorer.tasks
from challenge import artifacts, audit, scoring, splits
from challenge.challenges import service as challenges
from challenge.extensions import db
from challenge.models import Blob, Phase, Score, Submission, TruthVersion, User
from scorer.real import RealLabels

MAX_NOTE = 2000


class TruthError(Exception):
    """A refused ground-truth change; the message (for organizers) says why. Nothing changed."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class TruthFile:
    name: str
    data: bytes


def find_phase(path: str) -> Phase:
    """The phase named ``SLUG/TRACK/PHASE`` (TruthError naming the missing part)."""
    try:
        return challenges.find_phase(path)
    except LookupError as exc:
        raise TruthError(str(exc)) from None


phase_label = challenges.phase_path


def _first(phase: Phase) -> TruthVersion:
    """Version 1 as the phase's own files (a phase never replaced has no row for it)."""
    return TruthVersion(phase_id=phase.id, phase=phase, number=1, images=phase.images,
                        labels_blob=phase.labels_blob, boxes_blob=phase.boxes_blob,
                        blacklist_blob=phase.blacklist_blob, real_blob=phase.real_blob,
                        note="the phase's original ground truth",
                        created_at=phase.labels_blob.created_at)  # when its labels were stored


def versions(phase: Phase) -> list[TruthVersion]:
    """Every version of the phase's ground truth, oldest first.

    Version 1 of a phase whose truth was never replaced is built from the phase and
    not stored (reading never writes)."""
    rows = list(db.session.scalars(
        select(TruthVersion).where(TruthVersion.phase_id == phase.id).order_by(TruthVersion.number)
    ))
    if not rows or rows[0].number != 1:
        first = _first(phase)
        # Built only to be looked at: keep it out of the session and its next flush.
        if first in db.session:
            db.session.expunge(first)
        rows.insert(0, first)
    return rows


def get_version(phase: Phase, number: int) -> TruthVersion | None:
    return next((v for v in versions(phase) if v.number == number), None)


def scores_by_version(phase: Phase) -> dict[int, int]:
    """How many published scores of the phase were scored against each version."""
    rows = db.session.execute(
        select(Score.truth_version, func.count(Score.id))
        .join(Submission, Submission.id == Score.submission_id)
        .where(Submission.phase_id == phase.id)
        .group_by(Score.truth_version)
    )
    return {number: count for number, count in rows}


def ground_truth(version: TruthVersion) -> scorer.GroundTruth:
    """The version's ground truth, parsed (cached by checksum like the phase's own)."""
    return scoring.truth_from_files(version.phase, version.labels_blob, version.boxes_blob,
                                    version.blacklist_blob)


def real_labels(version: TruthVersion) -> RealLabels | None:
    """The version's ReaL labels, parsed (cached by checksum); None: it has none."""
    return scoring.real_from_file(version.phase, version.real_blob, version.images)


def make_current(phase: Phase, version: TruthVersion) -> None:
    """Point the phase (its files, image count and number) at ``version``; the caller commits."""
    phase.labels_blob, phase.boxes_blob = version.labels_blob, version.boxes_blob
    phase.blacklist_blob, phase.real_blob = version.blacklist_blob, version.real_blob
    phase.images, phase.truth_version = version.images, version.number


def _blob(file: TruthFile) -> Blob:
    digest = hashlib.sha256(file.data).hexdigest()
    blob = db.session.scalar(select(Blob).where(Blob.sha256 == digest))
    if blob is None:
        blob = Blob(sha256=digest, filename=file.name.rsplit("/", 1)[-1][-255:] or "truth.txt",
                    size=len(file.data), data=file.data)
        db.session.add(blob)
    return blob


def _sha(blob: Blob | None) -> str | None:
    return blob.sha256 if blob is not None else None


def _ensure_first(phase: Phase) -> TruthVersion:
    first = db.session.scalar(select(TruthVersion).where(TruthVersion.phase_id == phase.id,
                                                         TruthVersion.number == 1))
    if first is None:
        first = _first(phase)
        db.session.add(first)
    return first


def check_real(phase: Phase, data: bytes, images: int, name: str = "the ReaL file") -> RealLabels:
    """Parse ReaL labels for the phase (TruthError saying why they do not fit): only a
    classification phase without a public/private split (ReaL labels are a validation
    set's, and a whole-set ReaL error would tell the public board about private images)."""
    track = phase.track
    if not scorer.tasks.get(track.task).real_ok:
        raise TruthError(f"only {scorer.tasks.with_real()} tracks have ReaL labels (track "
                         f"{track.slug!r} is {track.task})")
    if splits.is_split(phase):
        raise TruthError("ReaL labels are for a phase without a public/private split "
                         "(a validation set); this phase has one")
    try:
        return scorer.real.load_real(data, scoring.class_list(track), images=images)
    except scorer.FormatError as exc:
        raise TruthError(f"{name}: {exc}") from None


def replace(phase: Phase, *, labels: TruthFile | None = None, boxes: TruthFile | None = None,
            blacklist: TruthFile | None = None, drop_blacklist: bool = False,
            real: TruthFile | None = None, drop_real: bool = False,
            actor: User | None = None, note: str = "") -> TruthVersion:
    """Add a new version of the phase's ground truth; files not given are the current ones.

    Checked like a bundle's (the scorer parses it against the class list); a bad or
    unchanged truth raises TruthError and nothing is written. The version becomes
    current at once only when the phase has no scores; otherwise a rescore publishes it.
    """
    track = phase.track
    if labels is None and boxes is None and blacklist is None and real is None \
            and not drop_blacklist and not drop_real:
        raise TruthError("nothing to replace: give new labels, boxes, a blacklist or ReaL labels")
    if blacklist is not None and drop_blacklist:
        raise TruthError("give a new blacklist or drop the blacklist, not both")
    if real is not None and drop_real:
        raise TruthError("give new ReaL labels or drop them, not both")
    if boxes is not None and not scoring.task_of(track).needs_boxes:
        raise TruthError(f"only {scorer.tasks.boxed()} tracks have boxes "
                         f"(track {track.slug!r} is {track.task})")
    note = note.strip()
    if len(note) > MAX_NOTE:
        raise TruthError(f"the note is at most {MAX_NOTE} characters (got {len(note)})")
    for file in (labels, boxes, blacklist, real):
        if file is not None and not file.data.strip():
            raise TruthError(f"{file.name!r} is empty")
    # The phase's own files are the current truth (what scoring reads), whatever wrote them.
    cur_labels, cur_boxes, cur_blacklist = phase.labels_blob, phase.boxes_blob, phase.blacklist_blob
    cur_real = phase.real_blob
    labels_data = labels.data if labels is not None else cur_labels.data
    boxes_data = boxes.data if boxes is not None else (cur_boxes.data if cur_boxes is not None else None)
    blacklist_data = None if drop_blacklist else blacklist.data if blacklist is not None else (
        cur_blacklist.data if cur_blacklist is not None else None)
    real_data = None if drop_real else real.data if real is not None else (
        cur_real.data if cur_real is not None else None)
    given = ", ".join(repr(f.name) for f in (labels, boxes, blacklist, real) if f is not None)
    dropped = " and ".join(what for what, flag in (("the blacklist", drop_blacklist),
                                                   ("the ReaL labels", drop_real)) if flag)
    try:
        parsed = scoring.task_of(track).load_truth(scoring.class_list(track), labels=labels_data,
                                                   boxes=boxes_data, blacklist=blacklist_data)
    except scorer.FormatError as exc:
        raise TruthError(f"ground truth not replaced ({given or 'dropping ' + dropped}): {exc}") from None
    if real_data is not None:
        # New labels may change the number of images: the kept ReaL file must still fit.
        check_real(phase, real_data, parsed.images,
                   name=f"ReaL labels {real.name!r}" if real is not None else "the current ReaL labels")

    with db.session.no_autoflush:
        first = _ensure_first(phase)
        new_labels = _blob(labels) if labels is not None else cur_labels
        new_boxes = _blob(boxes) if boxes is not None else cur_boxes
        new_blacklist = None if drop_blacklist else (
            _blob(blacklist) if blacklist is not None else cur_blacklist)
        new_real = None if drop_real else (_blob(real) if real is not None else cur_real)
        same = (_sha(new_labels), _sha(new_boxes), _sha(new_blacklist), _sha(new_real)) == (
            _sha(cur_labels), _sha(cur_boxes), _sha(cur_blacklist), _sha(cur_real))
        if same:
            db.session.rollback()
            raise TruthError(f"these files are version {phase.truth_version}'s, the current one; "
                             "nothing changed")
        latest = db.session.scalar(select(func.max(TruthVersion.number))
                                   .where(TruthVersion.phase_id == phase.id))
        version = TruthVersion(
            phase=phase, number=max(latest or 0, first.number) + 1, images=scorer.tasks.image_count(parsed),
            labels_blob=new_labels, boxes_blob=new_boxes, blacklist_blob=new_blacklist,
            real_blob=new_real, note=note, created_by_id=actor.id if actor is not None else None,
        )
        db.session.add(version)
    # Parsed above: stored now, so no worker parses the new version again.
    if scoring.task_of(track).artifacts:
        artifacts.remember_truth(scoring.classes_blob(track).sha256, new_labels.sha256,
                                 _sha(new_boxes), _sha(new_blacklist), parsed)
    scored = sum(scores_by_version(phase).values())
    before = {"version": phase.truth_version, "images": phase.images}
    if scored == 0:
        make_current(phase, version)
    audit.record(actor, "truth.replace", f"phase:{phase.id}", challenge_id=track.challenge_id,
                 before=before,
                 after={"version": version.number, "images": version.images, "current": scored == 0,
                        "files": given or f"{dropped} dropped"},
                 note=note)
    try:
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return version
