"""RQ jobs: thin adapters from a submission id to ``scorer/`` and back.

A job takes only the submission's id; the row is the source of truth. Each
step commits on its own short transaction so the row shows 'running' while the
scorer works. Running a job again replaces the previous Score (idempotent).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Flask, current_app, has_app_context

import challenge
import scorer
from challenge import scoring, splits, storage
from challenge.extensions import db
from challenge.leaderboards import cache as leaderboard_cache
from challenge.models import Score, Submission, utcnow

log = logging.getLogger(__name__)

#: Reasons shown to competitors; none of them may say anything about the ground truth.
MISSING_FILE = "the uploaded file is missing on the server; please upload it again"
INTERNAL = "scoring failed because of an internal error; the organizers can see the details"

_worker_app: Flask | None = None


def _app() -> Flask:
    """The current app (tests, SimpleWorker) or one app per worker process."""
    global _worker_app
    if has_app_context():
        return current_app._get_current_object()  # type: ignore[attr-defined]
    if _worker_app is None:
        # Looked up at call time: the app factory imports modules (the demo)
        # that import this one, so ``create_app`` is not defined yet at import.
        _worker_app = challenge.create_app()
    return _worker_app


def score_submission(submission_id: int) -> str:
    """Score one submission; returns its final status."""
    with _app().app_context():
        return _score(submission_id)


def _fail(submission: Submission, reason: str) -> str:
    submission.status, submission.error, submission.finished_at = "failed", reason, utcnow()
    db.session.commit()
    log.info("submission %s failed: %s", submission.id, reason)
    return "failed"


def _score(submission_id: int) -> str:
    submission = db.session.get(Submission, submission_id)
    if submission is None:
        log.warning("submission %s no longer exists; nothing to score", submission_id)
        return "missing"
    submission.status, submission.started_at = "running", utcnow()
    submission.attempts += 1
    submission.error, submission.finished_at = None, None
    db.session.commit()
    try:
        started = time.perf_counter()
        try:
            data = storage.read(submission.stored_path)
        except FileNotFoundError:
            return _fail(submission, MISSING_FILE)
        read_s = time.perf_counter() - started
        # Load the hidden ground truth outside the FormatError handler below: a
        # problem with it is the organizers' to fix, and its message must never
        # reach a competitor.
        scoring.ground_truth(submission.phase)
        try:
            result = scoring.score(data, submission.phase)
        except scoring.FormatError as exc:
            return _fail(submission, f"the file could not be scored: {exc}")
        score_s = time.perf_counter() - started - read_s
        _write_score(submission, result, {"read_s": round(read_s, 4), "score_s": round(score_s, 4)})
        submission.status, submission.finished_at = "scored", utcnow()
        db.session.commit()
        leaderboard_cache.invalidate(submission.phase_id)
        return "scored"
    except Exception:
        db.session.rollback()
        log.exception("scoring submission %s failed", submission_id)
        fresh = db.session.get(Submission, submission_id)
        if fresh is not None:
            _fail(fresh, INTERNAL)
        raise


def _write_score(submission: Submission, result: Any, timings: dict[str, float],
                 row: Score | None = None) -> None:
    """Fill the submission's published Score, or ``row`` (a rescoring candidate, which
    challenge.rescoring then marks with the truth version it was scored against)."""
    row = row if row is not None else (submission.score or Score(submission=submission))
    row.truth_version = submission.phase.truth_version
    row.error = float(result.error)
    row.error_at_k = [float(x) for x in result.error_at_k]
    row.cls_error = None if result.cls_error is None else float(result.cls_error)
    row.cls_error_at_k = (
        None if result.cls_error_at_k is None else [float(x) for x in result.cls_error_at_k]
    )
    row.ci_low, row.ci_high = (float(x) for x in result.ci95)
    row.images = int(result.images)
    row.per_class = scorer.pack_array(result.per_class)
    row.outcomes = scorer.pack_outcomes(result.outcomes)
    row.cls_outcomes = None if result.cls_outcomes is None else scorer.pack_outcomes(result.cls_outcomes)
    # Public/private boards of a split phase read these, not the outcomes.
    row.subsets = splits.subset_scores(submission.phase, result.outcomes, result.cls_outcomes)
    row.details = {"warnings": list(result.warnings), "timings": timings}
    row.scored_at = utcnow()
    db.session.add(row)
