"""RQ jobs: thin adapters from a submission id to ``scorer/`` and back.

A job takes only the submission's id; the row is the source of truth. Each
step commits on its own short transaction so the row shows 'running' while the
scorer works, and no transaction is open while it works (on SQLite an open
write transaction would hold the database's write lock). Running a job again
replaces the previous Score (idempotent).

What can go wrong, and what happens:
- a transient database error (SQLite busy, a PostgreSQL serialization failure or
  deadlock, a dropped connection): the whole job is tried again, with backoff,
  inside the job (``run_with_retries``);
- any other internal error: the submission goes back to ``queued`` and the job
  fails in RQ (which keeps the traceback); the sweeper re-enqueues it, up to
  ``sweeper.MAX_ATTEMPTS`` attempts, then marks it failed and refunds its quota;
- the file's own fault (bad format, too slow, too much memory): failed at once,
  with a reason the team can act on.
While a job runs it keeps a heartbeat in Redis, so the sweeper can tell a dead
worker's job within ``HEARTBEAT_TTL`` seconds.
"""

from __future__ import annotations

import logging
import math
import os
import resource
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import redis
from flask import current_app
from rq.timeouts import JobTimeoutException
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import joinedload

import scorer
from challenge import artifacts, metrics, notify, scoring, splits, storage
from challenge.db import read_only
from challenge.extensions import db
from challenge.job_app import job_app
from challenge.models import Challenge, Phase, Score, Submission, Track, utcnow
from challenge.queue import get_redis

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Reasons shown to competitors; none of them may say anything about the ground truth.
MISSING_FILE = "the uploaded file is missing on the server; please upload it again"
INTERNAL = "scoring failed because of an internal error; the organizers can see the details"
#: Tries of a job that meets transient database errors, and the waits between them.
TRANSIENT_BACKOFF = (0.2, 0.5, 1.0, 2.0, 4.0)
#: A running job refreshes its heartbeat this often; the key lives HEARTBEAT_TTL seconds.
HEARTBEAT_EVERY = 5
HEARTBEAT_TTL = 15

_app = job_app  # the app a job runs in (challenge.job_app)


def score_submission(submission_id: int) -> str:
    """Score one submission; returns its final status."""
    app = _app()
    with app.app_context(), read_only(False), heartbeat(submission_id), \
            metrics.job(app.config["RQ_QUEUE"]) as outcome:
        try:
            outcome["outcome"] = status = run_with_retries(_score, submission_id)
            return status
        except Exception:
            _back_to_queue(submission_id)
            raise


def transient(exc: BaseException) -> bool:
    """A database error that may pass if the same work is tried again."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True  # the connection dropped
    # SQLite "database is locked"/"busy"; PostgreSQL serialization failures, deadlocks
    # and lost connections all arrive as OperationalError (InterfaceError: closed).
    return isinstance(exc, OperationalError | InterfaceError)


def run_with_retries(work: Callable[..., T], *args: Any) -> T:
    """``work(*args)``, tried again after transient database errors, with backoff."""
    for wait in (*TRANSIENT_BACKOFF, None):
        try:
            return work(*args)
        except Exception as exc:
            db.session.rollback()
            if wait is None or not transient(exc):
                raise
            log.warning("%s%s met a transient database error (%s); again in %.1f s",
                        getattr(work, "__name__", "job"), args, exc.__class__.__name__, wait)
            db.session.remove()  # a fresh connection next time
            time.sleep(wait)
    raise AssertionError("unreachable")


def _back_to_queue(submission_id: int) -> None:
    """After an internal failure: leave the submission ``queued`` for the sweeper, which
    tries again or, past the attempt limit, fails it with ``INTERNAL`` (its ``error``
    until then) and gives the quota slot back. If even this write fails, the row stays
    ``running`` and the sweeper finds it just the same (its RQ job has failed)."""
    log.exception("scoring submission %s failed", submission_id)
    try:
        db.session.rollback()
        fresh = db.session.get(Submission, submission_id)
        if fresh is not None and fresh.status == "running":
            fresh.status, fresh.error, fresh.started_at = "queued", INTERNAL, None
            db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("could not put submission %s back in the queue; the sweeper will", submission_id)


def heartbeat_key(submission_id: int) -> str:
    return f"challenge:heartbeat:submission-{submission_id}"


@contextmanager
def heartbeat(submission_id: int) -> Iterator[None]:
    """Keep ``heartbeat_key`` alive in Redis while the block runs (a thread of this
    process), so the sweeper knows the job's worker lives. A worker killed with -9
    stops beating and its job is re-queued HEARTBEAT_TTL seconds later."""
    key, stop = heartbeat_key(submission_id), threading.Event()
    client = get_redis()

    def beat() -> None:
        while True:
            try:
                client.set(key, os.getpid(), ex=HEARTBEAT_TTL)
            except redis.RedisError:
                log.warning("heartbeat of submission %s not recorded", submission_id, exc_info=True)
            if stop.wait(HEARTBEAT_EVERY):
                return

    thread = threading.Thread(target=beat, name=f"heartbeat-{submission_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=2)
        try:
            client.delete(key)
        except redis.RedisError:
            pass  # it expires on its own


def _fail(submission: Submission, reason: str, *, refund: bool = False) -> str:
    submission.status, submission.error, submission.finished_at = "failed", reason, utcnow()
    if refund:
        submission.quota_refunded_at = submission.finished_at
    db.session.commit()
    notify.submission_finished(submission)  # queues the uploader's e-mail; never raises
    log.info("submission %s failed: %s", submission.id, reason)
    return "failed"


def _peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux: this process's (the work horse's) peak so far.
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


class _Refused(Exception):
    """The submission fails with ``reason``: its file's fault, or (``refund``) a lost file."""

    def __init__(self, reason: str, refund: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.refund = reason, refund


def _evaluate(submission: Submission, phase: Phase) -> tuple[Any, dict[str, float]]:
    """Read and score the file; the timings and the horse's peak memory go with the score."""
    started = time.perf_counter()
    try:
        data = storage.read(submission.stored_path)
    except FileNotFoundError:
        raise _Refused(MISSING_FILE, refund=True) from None
    read_s = time.perf_counter() - started
    config = current_app.config
    try:
        result = scoring.score(data, phase)
    except scoring.FormatError as exc:
        raise _Refused(f"the file could not be scored: {exc}") from None
    except MemoryError:
        raise _Refused(f"scoring this file needed more than the {config['SCORING_MEMORY_MB']} MB of "
                       "memory a scoring job may use; check its size and format") from None
    except JobTimeoutException:
        raise _Refused(f"scoring this file took longer than the {config['SCORING_TIMEOUT']} s a "
                       "scoring job may take; check its size and format") from None
    score_s = time.perf_counter() - started - read_s
    return result, {"read_s": round(read_s, 4), "score_s": round(score_s, 4), "peak_rss_mb": _peak_rss_mb()}


#: What a job reads about its submission, in one query: a forked horse would otherwise
#: pay a round trip and a statement compile for each lazy load (the phase, its track,
#: the challenge, each hidden file's checksum, the previous score, the uploader).
_JOB_GRAPH = (
    joinedload(Submission.phase).options(
        joinedload(Phase.track).joinedload(Track.challenge).joinedload(Challenge.classes_blob),
        joinedload(Phase.labels_blob), joinedload(Phase.boxes_blob), joinedload(Phase.blacklist_blob),
        joinedload(Phase.real_blob)),
    joinedload(Submission.score), joinedload(Submission.user),
)


def prime() -> None:
    """Run the job's query once for no submission, in this process: its compiled form is
    cached, and a horse forked from here reuses it instead of compiling it (tens of ms)."""
    db.session.get(Submission, -1, options=_JOB_GRAPH)


def _score(submission_id: int) -> str:
    submission = db.session.get(Submission, submission_id, options=_JOB_GRAPH)
    if submission is None:
        log.warning("submission %s no longer exists; nothing to score", submission_id)
        return "missing"
    if submission.status not in ("queued", "running"):
        # A second delivery of a job already done (the sweeper re-enqueued it while
        # the first was finishing): scoring it again would count it twice.
        log.warning("submission %s is %s; not scoring it again", submission_id, submission.status)
        return submission.status
    if submission.status == "queued":
        # A new delivery; a retry after a transient error (already running) is the same attempt.
        submission.attempts += 1
    submission.status, submission.started_at = "running", utcnow()
    submission.error, submission.finished_at = None, None
    db.session.commit()
    phase = submission.phase
    # Load the hidden ground truth outside the FormatError handler below: a
    # problem with it is the organizers' to fix, and its message must never
    # reach a competitor. Loaded before the transaction ends, so scoring below
    # reads nothing from the database.
    started, before = time.perf_counter(), artifacts.loads.copy()
    scoring.ground_truth(phase)
    scoring.class_list(phase.track)
    scoring.real_labels(phase)
    # Where the ground truth came from: "memory" (the worker preloaded it before forking
    # this horse), "artifact" or "parsed" (a cold horse: see challenge.artifacts).
    truth = {"truth_s": round(time.perf_counter() - started, 4),
             "truth_from": truth_source(before, artifacts.loads)}
    try:
        with db.released():
            result, timings = _evaluate(submission, phase)
    except _Refused as refused:
        return _fail(submission, refused.reason, refund=refused.refund)
    _write_score(submission, result, {**truth, **timings})
    submission.status, submission.finished_at = "scored", utcnow()
    # The commit bumps the phase's board version as "a new score" (leaderboards.cache's
    # session hook): the next read moves only this team's entry.
    db.session.commit()
    notify.submission_finished(submission)  # queues the uploader's e-mail; never raises
    return "scored"


def truth_source(before: Counter[tuple[str, str]], after: Counter[tuple[str, str]]) -> str:
    """How a load between two snapshots of ``artifacts.loads`` was served: "parsed" if any
    file was parsed, else "artifact" if any artifact was read, else "memory"."""
    done = after - before
    if any(how == "parsed" for _kind, how in done):
        return "parsed"
    return "artifact" if done else "memory"


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
    # Per-image outcomes, or what the task's board comparisons need (detection: replicates).
    row.outcomes = scoring.task_of(submission.phase.track).pack_outcomes(result.outcomes)
    row.cls_outcomes = None if result.cls_outcomes is None else scorer.pack_outcomes(result.cls_outcomes)
    # Public/private boards of a split phase read these, not the outcomes.
    row.subsets = splits.subset_scores(submission.phase, result.outcomes, result.cls_outcomes)
    row.details = {"warnings": list(result.warnings), "timings": timings}
    if result.real_error_at_k is not None:
        # ReaL error at k = 1..K (None where no image counts) and the images counted.
        row.details["real"] = {"error_at_k": [None if math.isnan(x) else float(x)
                                              for x in result.real_error_at_k],
                               "images": int(result.real_images or 0)}
    row.scored_at = utcnow()
    db.session.add(row)
