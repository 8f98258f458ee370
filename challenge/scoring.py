"""The platform's one small, typed surface onto ``scorer/``.

Class lists and ground truth are kept once per process, cached by the checksums
of their files, so a worker scores a phase's hundredth submission without
re-reading its hidden files. A process meeting them first loads their parsed
artifact (challenge.artifacts: milliseconds) and parses the files only when
there is none yet. The scoring worker fills these caches for every open phase
before it forks (``preload``), so its work horses inherit them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

import numpy as np
from flask import current_app
from rq.exceptions import StopRequested
from sqlalchemy import select
from sqlalchemy.orm import joinedload

import scorer
import scorer.real
import scorer.tasks
from challenge import artifacts
from challenge.extensions import db
from challenge.models import Blob, Challenge, Phase, Track, utcnow
from scorer.real import RealLabels

log = logging.getLogger(__name__)

FormatError = scorer.FormatError


def task_of(track: Track) -> scorer.tasks.Task:
    """The track's task from the registry (``scorer.tasks``): its parser, metric, columns."""
    return scorer.tasks.get(track.task)


def _blob_bytes(blob_id: int) -> bytes:
    blob = db.session.get(Blob, blob_id)
    assert blob is not None, f"blob {blob_id} missing"
    return blob.data


@lru_cache(maxsize=32)
def _classes_by_sha(sha256: str, blob_id: int) -> scorer.ClassList:
    return artifacts.load_classes(sha256, lambda: scorer.load_classes(_blob_bytes(blob_id)))


@lru_cache(maxsize=8)
def _task_classes(task: str, sha256: str, blob_id: int) -> object:
    # A task with its own class-list reader (detection's meta_det.mat): no artifact.
    return scorer.tasks.get(task).load_classes(_blob_bytes(blob_id))


@dataclass(frozen=True)
class Renumbering:
    """How a new class list would change what stored class numbers mean (``renumbering``)."""

    costs: bool  # False: a class moved (``detail`` says which); True: the costs between them changed
    detail: str


def renumbering(old: scorer.ClassList, new: scorer.ClassList, needs_costs: bool) -> Renumbering | None:
    """What replacing ``old`` by ``new`` under entries would change (None: nothing). Labels,
    predictions and scores hold numbers: number ``i`` is the list's ``i``-th wnid, so the new
    list must keep the old wnids first, in their order (new classes may only be added at the
    end), and a hierarchical track the costs between them. Shared by the console's replace
    and a bundle reload, which each say it in their words."""
    kept = len(old.wnids)
    if tuple(new.wnids[:kept]) != tuple(old.wnids):
        moved = next(i for i, wnid in enumerate(old.wnids) if i >= len(new.wnids) or new.wnids[i] != wnid)
        now = new.wnids[moved] if moved < len(new.wnids) else "nothing"
        return Renumbering(False, f"class {moved + 1} is {now}, not {old.wnids[moved]}. Keep the first "
                                  f"{kept} wnids in their order (new classes may only be added at the end)")
    if needs_costs and not np.array_equal(old.cost_matrix, new.cost_matrix[:kept, :kept]):
        return Renumbering(True, f"costs between its first {kept} classes differ")
    return None


def classes_blob(track: Track) -> Blob:
    """The track's own class list file, else its challenge's."""
    if track.classes_blob_id is None:
        # The column, not the relationship: no lazy load for the usual track (a worker's
        # preloaded phases are used outside the session that loaded them).
        return track.challenge.classes_blob
    return track.classes_blob


def class_list(track: Track) -> scorer.ClassList:
    """The track's class list, read by its task's reader (a ``ClassList`` for the
    per-image tasks; what the task's ``load_classes`` returns for the others)."""
    blob = classes_blob(track)
    if task_of(track).artifacts:
        return _classes_by_sha(blob.sha256, blob.id)
    return _task_classes(track.task, blob.sha256, blob.id)  # type: ignore[return-value]


@lru_cache(maxsize=16)
def _truth_by_sha(
    classes_key: tuple[str, int],
    labels_key: tuple[str, int],
    boxes_key: tuple[str, int] | None,
    blacklist_key: tuple[str, int] | None,
) -> scorer.GroundTruth:
    classes = _classes_by_sha(*classes_key)
    return artifacts.load_truth(
        classes, classes_key[0], labels_key[0], boxes_key[0] if boxes_key else None,
        blacklist_key[0] if blacklist_key else None,
        lambda: scorer.load_ground_truth(
            classes,
            labels=_blob_bytes(labels_key[1]),
            boxes=_blob_bytes(boxes_key[1]) if boxes_key else None,
            blacklist=_blob_bytes(blacklist_key[1]) if blacklist_key else None,
        ),
    )


def _key(blob: Blob | None) -> tuple[str, int] | None:
    return (blob.sha256, blob.id) if blob is not None else None


def ground_truth(phase: Phase) -> scorer.GroundTruth:
    """The phase's hidden ground truth, parsed (cached per process by checksum)."""
    return truth_from_files(phase, phase.labels_blob, phase.boxes_blob, phase.blacklist_blob)


def truth_from_files(phase: Phase, labels: Blob, boxes: Blob | None,
                     blacklist: Blob | None) -> scorer.GroundTruth:
    """Ground truth from these files and the phase's class list (another version of the
    phase's truth, see challenge.truth), parsed and cached like ``ground_truth``."""
    classes = classes_blob(phase.track)
    task = task_of(phase.track)
    if not task.artifacts:
        return _task_truth(task.name, (classes.sha256, classes.id), (labels.sha256, labels.id),
                           _key(boxes), _key(blacklist))
    return _truth_by_sha(
        (classes.sha256, classes.id), (labels.sha256, labels.id), _key(boxes), _key(blacklist),
    )


@lru_cache(maxsize=8)
def _task_truth(task_name: str, classes_key: tuple[str, int], labels_key: tuple[str, int],
                boxes_key: tuple[str, int] | None, blacklist_key: tuple[str, int] | None) -> object:
    """Ground truth of a task that reads its own files (no artifact format for it)."""
    task = scorer.tasks.get(task_name)
    return task.load_truth(
        _task_classes(task_name, *classes_key), labels=_blob_bytes(labels_key[1]),
        boxes=_blob_bytes(boxes_key[1]) if boxes_key else None,
        blacklist=_blob_bytes(blacklist_key[1]) if blacklist_key else None)
@lru_cache(maxsize=16)
def _real_by_sha(classes_key: tuple[str, int], real_key: tuple[str, int], images: int) -> RealLabels:
    # Parsed in about 0.1 s for 50,000 images: cached per process and preloaded by the
    # worker like the labels; no artifact needed.
    return scorer.real.load_real(_blob_bytes(real_key[1]), _classes_by_sha(*classes_key), images=images)


def real_from_file(phase: Phase, real: Blob | None, images: int) -> RealLabels | None:
    """The ReaL labels in ``real`` for the phase's class list and ``images`` images (None:
    no ReaL file), parsed and cached by checksum; FormatError if the file does not fit."""
    if real is None:
        return None
    classes = classes_blob(phase.track)
    return _real_by_sha((classes.sha256, classes.id), (real.sha256, real.id), images)


def real_labels(phase: Phase) -> RealLabels | None:
    """The phase's hidden ReaL labels (None: the phase has none)."""
    return real_from_file(phase, phase.real_blob, phase.images)


def _max_decompressed() -> int:
    """The platform's cap on an upload's unpacked size, in bytes (``MAX_DECOMPRESSED_MB``)."""
    return int(current_app.config["MAX_DECOMPRESSED_MB"]) * 1024**2


def check_upload(data: bytes, phase: Phase) -> scorer.Predictions:
    """Validate an upload's format without touching the ground truth.

    Raises ``FormatError`` (line number, token, sentence) for a bad file; a bomb is
    refused at its first line past the phase's shape, within ``MAX_DECOMPRESSED_MB``.
    """
    track = phase.track
    task = task_of(track)
    # Detection checks image ids against the image list (public in the devkit), not a count.
    images = ground_truth(phase).images if task.parse_with_truth else phase.images
    return task.parse(data, guesses=track.guesses, classes=class_list(track), images=images,
                      max_decompressed=_max_decompressed())


def score(data: bytes, phase: Phase, truth: scorer.GroundTruth | None = None,
          real: RealLabels | None = None) -> scorer.Result:
    """Parse and score a submission against the phase's ground truth (and its ReaL labels,
    if any), or against ``truth`` and ``real`` (a version being rescored, which may have
    another number of images)."""
    track = phase.track
    task = task_of(track)
    if truth is None:
        truth, predictions = ground_truth(phase), check_upload(data, phase)
        real = real_labels(phase)
    else:
        predictions = task.parse(data, guesses=track.guesses, classes=class_list(track),
                                 images=truth.images, max_decompressed=_max_decompressed())
    result = task.evaluate(predictions, truth, guesses=track.guesses, classes=class_list(track))
    if real is not None:
        result.real_error_at_k, result.real_images = scorer.real.score_real(
            predictions.labels, real, track.guesses)
    return result


#: Phases opening within this long are preloaded too, so their first uploads meet warm horses.
PRELOAD_AHEAD = timedelta(hours=1)


def open_phases(now: datetime | None = None) -> list[Phase]:
    """Phases that accept submissions now or open within ``PRELOAD_AHEAD``."""
    now = now or utcnow()
    return list(db.session.scalars(
        select(Phase).where(Phase.opens_at <= now + PRELOAD_AHEAD, Phase.closes_at > now)
        .options(joinedload(Phase.track).joinedload(Track.challenge).joinedload(Challenge.classes_blob),
                 joinedload(Phase.track).joinedload(Track.classes_blob),
                 joinedload(Phase.labels_blob), joinedload(Phase.boxes_blob),
                 joinedload(Phase.blacklist_blob), joinedload(Phase.real_blob))
        .order_by(Phase.id)
    ))


def truth_fingerprint(phase: Phase) -> tuple[str, str, str | None, str | None]:
    """The checksums that decide which ground truth a phase scores against (cheap: no bytes)."""
    return (classes_blob(phase.track).sha256, phase.labels_blob.sha256,
            phase.boxes_blob.sha256 if phase.boxes_blob else None,
            phase.blacklist_blob.sha256 if phase.blacklist_blob else None)


def warm_key(phase: Phase) -> tuple[tuple[str, str, str | None, str | None], str | None]:
    """What a warm worker holds for the phase: its ground truth and its ReaL labels (a new
    ReaL file alone changes no artifact key, but must be preloaded too)."""
    return truth_fingerprint(phase), phase.real_blob.sha256 if phase.real_blob else None


def rehearse(phase: Phase) -> None:
    """Score a made-up file of the phase's shape once in this process. A process's first
    scoring pays for lazy set-up (numpy's, the parser's, the allocator's first large
    buffers: 10-20 ms for 50,000 images); a horse forked afterwards inherits it done."""
    track = phase.track
    data = task_of(track).rehearsal(len(class_list(track)), track.guesses, phase.images)
    if data:
        score(data, phase)


def preload(phases: list[Phase]) -> int:
    """Fill this process's caches with the phases' class lists and ground truth (and the
    cost matrix of hierarchical tracks), and rehearse each shape of phase once; returns
    how many phases are warm. A phase whose files fail to load is logged and skipped:
    its jobs meet (and report) the problem."""
    warm, rehearsed = 0, set()
    for phase in phases:
        try:
            classes = class_list(phase.track)
            ground_truth(phase)
            real_labels(phase)
            if task_of(phase.track).needs_costs:
                classes.cost_matrix  # noqa: B018 (built once here, inherited by every horse)
            shape = (phase.track.task, phase.track.guesses, phase.images)
            if shape not in rehearsed:
                rehearse(phase)
                rehearsed.add(shape)
            warm += 1
        except StopRequested:
            raise  # SIGTERM arrived (RQ raises it from its handler): stop, do not log and go on
        except Exception:
            log.exception("could not preload the ground truth of phase %s", phase.id)
    return warm
