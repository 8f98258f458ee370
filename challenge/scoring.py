"""The platform's one small, typed surface onto ``scorer/``.

Class lists and ground truth are parsed once per process and cached by the
checksums of their files, so a worker scores a phase's hundredth submission
without re-reading its hidden files.
"""

from __future__ import annotations

from functools import lru_cache

from flask import current_app

import scorer
from challenge.extensions import db
from challenge.models import Blob, Phase, Track

FormatError = scorer.FormatError


def _blob_bytes(blob_id: int) -> bytes:
    blob = db.session.get(Blob, blob_id)
    assert blob is not None, f"blob {blob_id} missing"
    return blob.data


@lru_cache(maxsize=32)
def _classes_by_sha(sha256: str, blob_id: int) -> scorer.ClassList:
    return scorer.load_classes(_blob_bytes(blob_id))


def class_list(track: Track) -> scorer.ClassList:
    blob = track.challenge.classes_blob
    return _classes_by_sha(blob.sha256, blob.id)


@lru_cache(maxsize=16)
def _truth_by_sha(
    classes_key: tuple[str, int],
    labels_key: tuple[str, int],
    boxes_key: tuple[str, int] | None,
    blacklist_key: tuple[str, int] | None,
) -> scorer.GroundTruth:
    return scorer.load_ground_truth(
        _classes_by_sha(*classes_key),
        labels=_blob_bytes(labels_key[1]),
        boxes=_blob_bytes(boxes_key[1]) if boxes_key else None,
        blacklist=_blob_bytes(blacklist_key[1]) if blacklist_key else None,
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
    classes = phase.track.challenge.classes_blob
    return _truth_by_sha(
        (classes.sha256, classes.id), (labels.sha256, labels.id), _key(boxes), _key(blacklist),
    )


def _max_decompressed() -> int:
    """The platform's cap on an upload's unpacked size, in bytes (``MAX_DECOMPRESSED_MB``)."""
    return int(current_app.config["MAX_DECOMPRESSED_MB"]) * 1024**2


def check_upload(data: bytes, phase: Phase) -> scorer.Predictions:
    """Validate an upload's format without touching the ground truth.

    Raises ``FormatError`` (line number, token, sentence) for a bad file; a bomb is
    refused at its first line past the phase's shape, within ``MAX_DECOMPRESSED_MB``.
    """
    track = phase.track
    return scorer.parse_predictions(
        data, task=track.task, guesses=track.guesses, classes=class_list(track), images=phase.images,
        max_decompressed=_max_decompressed(),
    )


def score(data: bytes, phase: Phase, truth: scorer.GroundTruth | None = None) -> scorer.Result:
    """Parse and score a submission against the phase's ground truth, or against
    ``truth`` (a version being rescored, which may have another number of images)."""
    track = phase.track
    if truth is None:
        truth, predictions = ground_truth(phase), check_upload(data, phase)
    else:
        predictions = scorer.parse_predictions(data, task=track.task, guesses=track.guesses,
                                               classes=class_list(track), images=truth.images,
                                               max_decompressed=_max_decompressed())
    return scorer.evaluate(
        predictions, truth, task=track.task, guesses=track.guesses, classes=class_list(track),
    )
