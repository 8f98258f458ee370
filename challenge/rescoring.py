"""Rescoring: score a phase's submissions (or one) again, preview, publish, roll back.

A run scores each submission against a ground-truth version in an RQ job
(``rescore-<run>-<submission>``) into a candidate ``Score`` row that is not
attached to its submission, so boards, pages, exports and the API keep showing
the published score. Publishing swaps, in one transaction, every published
score with its candidate; the replaced rows stay (detached) so that a rollback
can swap them back. No Submission row is created or changed by a run, so no
quota slot is used. What goes wrong in a rescoring job is recorded on the
run's item for organizers only: it may describe the hidden ground truth.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import redis
from flask import current_app
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import Select, select, update

from challenge import audit, jobs, metrics, scoring, storage, truth
from challenge.db import read_only
from challenge.extensions import db
from challenge.leaderboards import cache as leaderboard_cache
from challenge.leaderboards import service as boards
from challenge.models import Phase, RescoreItem, RescoreRun, Score, Submission, Track, User, utcnow
from challenge.queue import get_redis, rescore_queue
from challenge.submissions.service import enqueue as enqueue_scoring

log = logging.getLogger(__name__)

CHUNK = 500  # keeps IN lists modest
MISSING_FILE = "the submission's file is missing on the server"
_LIVE = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED}


class RescoreError(Exception):
    """A refused rescoring action; the message (for organizers) says why. Nothing changed."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Progress:
    total: int
    queued: int
    running: int
    scored: int
    failed: int

    @property
    def done(self) -> int:
        return self.scored + self.failed

    @property
    def finished(self) -> bool:
        return self.done == self.total

    @property
    def percent(self) -> int:
        return 100 if self.total == 0 else int(100 * self.done / self.total)


@dataclass(frozen=True)
class Change:
    """One team on the board now and as the run would make it (None: not on that board)."""

    team_id: int
    team: str
    old_rank: int | None
    new_rank: int | None
    old_error: float | None
    new_error: float | None

    @property
    def moved(self) -> int | None:
        """Places gained (positive) or lost (negative)."""
        if self.old_rank is None or self.new_rank is None:
            return None
        return self.old_rank - self.new_rank


# ---------------------------------------------------------------- reading

def get_run(run_id: int) -> RescoreRun | None:
    return db.session.get(RescoreRun, run_id)


def runs(phase: Phase | None = None, limit: int = 100,
         within: Select[tuple[int]] | None = None) -> Sequence[RescoreRun]:
    """The newest runs, of one phase or of all (``within``: of the challenges whose ids it selects)."""
    query = select(RescoreRun).order_by(RescoreRun.id.desc()).limit(limit)
    if phase is not None:
        query = query.where(RescoreRun.phase_id == phase.id)
    if within is not None:
        query = query.where(RescoreRun.phase_id.in_(
            select(Phase.id).join(Track).where(Track.challenge_id.in_(within))))
    return db.session.scalars(query).all()


def progress(run: RescoreRun) -> Progress:
    counts = Counter(db.session.scalars(select(RescoreItem.status).where(RescoreItem.run_id == run.id)))
    return Progress(total=sum(counts.values()), queued=counts["queued"], running=counts["running"],
                    scored=counts["scored"], failed=counts["failed"])


def failures(run: RescoreRun) -> list[RescoreItem]:
    return [item for item in run.items if item.status == "failed"]


def _scored_submissions(phase: Phase) -> list[int]:
    return list(db.session.scalars(
        select(Submission.id).join(Score, Score.submission_id == Submission.id)
        .where(Submission.phase_id == phase.id, Submission.status == "scored")
        .order_by(Submission.id)
    ))


def _missing(run: RescoreRun) -> list[int]:
    """Scored submissions of a whole-phase run's phase that the run has not rescored
    (uploaded after it started, or added since)."""
    if run.submission_id is not None:
        return []
    covered = {i.submission_id for i in run.items if i.status == "scored"}
    return [s for s in _scored_submissions(run.phase) if s not in covered]


def missing(run: RescoreRun) -> list[int]:
    """Ids of the phase's scored submissions an open whole-phase run has no item for
    (uploaded after it started); its queued and failed items are counted by ``progress``."""
    if run.status != "open":
        return []
    have = {item.submission_id for item in run.items}
    return [s for s in _missing(run) if s not in have]


# ---------------------------------------------------------------- starting

def _enqueue(item: RescoreItem) -> None:
    rescore_queue().enqueue(
        "challenge.rescoring.rescore_item", item.run_id, item.submission_id,
        job_id=item.job_id, job_timeout=current_app.config["SCORING_TIMEOUT"],
        description=f"rescore submission {item.submission_id} (run {item.run_id})",
    )


def _enqueue_all(items: list[RescoreItem]) -> None:
    for item in items:
        try:
            _enqueue(item)
        except redis.RedisError:
            # The item stays queued; "rescore what is missing" enqueues it again.
            log.exception("could not enqueue rescore item %s", item.job_id)


def start(phase: Phase, *, version: int | None = None, submission: Submission | None = None,
          actor: User | None = None) -> RescoreRun:
    """Start rescoring the whole phase (default: against its newest version) or one
    submission (against the current version) in the background."""
    known = {v.number for v in truth.versions(phase)}
    if submission is not None:
        if submission.phase_id != phase.id:
            raise RescoreError(f"submission {submission.id} is not in phase {truth.phase_label(phase)}")
        if submission.status != "scored" or submission.score is None:
            raise RescoreError(f"submission {submission.id} is {submission.status}, not scored; "
                               "only scored submissions are rescored")
        version = phase.truth_version if version is None else version
        if version != phase.truth_version:
            # One submission on another version would mix versions on one board.
            raise RescoreError(f"one submission is rescored against the current version "
                               f"({phase.truth_version}); rescore the whole phase to move it to "
                               f"version {version}")
        ids = [submission.id]
    else:
        version = max(known) if version is None else version
        ids = _scored_submissions(phase)
        if not ids:
            raise RescoreError(f"phase {truth.phase_label(phase)} has no scored submissions to rescore")
    if version not in known:
        raise RescoreError(f"phase {truth.phase_label(phase)} has no ground-truth version {version} "
                           f"(versions: {', '.join(map(str, sorted(known)))})")
    run = RescoreRun(phase=phase, version=version, submission_id=submission.id if submission else None,
                     status="open", created_by_id=actor.id if actor is not None else None)
    run.items = [RescoreItem(submission_id=i, status="queued") for i in ids]
    db.session.add(run)
    db.session.flush()
    audit.record(actor, "rescore.start", f"rescore_run:{run.id}", challenge_id=phase.track.challenge_id,
                 after={"phase": truth.phase_label(phase), "version": version, "submissions": len(ids),
                        "submission": run.submission_id})
    db.session.commit()
    _enqueue_all(run.items)
    return run


def fill(run: RescoreRun, actor: User | None = None) -> int:
    """Queue again what a run lacks: failed or lost items, and (whole-phase runs) the
    submissions scored since it started. Returns how many were queued."""
    if run.status != "open":
        raise RescoreError(f"rescore run {run.id} is {run.status}; only an open run can be completed")
    redo = [item for item in run.items if item.status == "failed" or (
        item.status in ("queued", "running") and not _job_alive(item.job_id))]
    for item in redo:
        item.status, item.error, item.finished_at = "queued", None, None
    have = {item.submission_id for item in run.items}
    new = [RescoreItem(submission_id=s, status="queued") for s in _missing(run) if s not in have]
    run.items.extend(new)
    if not redo and not new:
        raise RescoreError(f"rescore run {run.id} lacks nothing: every item is scored or still queued")
    audit.record(actor, "rescore.fill", f"rescore_run:{run.id}", challenge_id=run.phase.track.challenge_id,
                 after={"requeued": len(redo), "added": len(new)})
    db.session.commit()
    _enqueue_all(redo + new)
    return len(redo) + len(new)


def _job_alive(job_id: str) -> bool:
    try:
        job = Job.fetch(job_id, connection=get_redis())
    except NoSuchJobError:
        return False
    except redis.RedisError:
        return True  # cannot tell; do not run it twice
    return job.get_status(refresh=False) in _LIVE


# ---------------------------------------------------------------- the job

def rescore_item(run_id: int, submission_id: int) -> str:
    """RQ job: score one submission of a run into its candidate Score; returns the item's status."""
    app = jobs._app()
    with app.app_context(), read_only(False), metrics.job(app.config["RQ_RESCORE_QUEUE"]) as outcome:
        outcome["outcome"] = status = jobs.run_with_retries(_rescore, run_id, submission_id)
        return status


def _fail(item: RescoreItem, reason: str) -> str:
    item.status, item.error, item.finished_at = "failed", reason, utcnow()
    db.session.commit()
    log.info("rescore %s failed: %s", item.job_id, reason)
    return "failed"


def _rescore(run_id: int, submission_id: int) -> str:
    item = db.session.scalar(select(RescoreItem).where(RescoreItem.run_id == run_id,
                                                       RescoreItem.submission_id == submission_id))
    if item is None or item.run.status != "open":
        return "skipped"
    item.status, item.error = "running", None
    db.session.commit()
    try:
        run, submission = item.run, item.submission
        version = truth.get_version(run.phase, run.version)
        if version is None:
            return _fail(item, f"ground-truth version {run.version} no longer exists")
        started = time.perf_counter()
        try:
            data = storage.read(submission.stored_path)
        except FileNotFoundError:
            return _fail(item, MISSING_FILE)
        read_s = time.perf_counter() - started
        # Parsed outside the FormatError handler below: a problem with the truth is
        # not the submission's, and is reported as an internal error.
        expected = truth.ground_truth(version)
        real = truth.real_labels(version)
        try:
            result = scoring.score(data, run.phase, truth=expected, real=real)
        except scoring.FormatError as exc:
            return _fail(item, f"the file could not be scored against version {run.version}: {exc}")
        timings = {"read_s": round(read_s, 4), "score_s": round(time.perf_counter() - started - read_s, 4)}
        candidate = item.score or Score(for_submission_id=submission.id)
        jobs._write_score(submission, result, timings, row=candidate)
        candidate.truth_version = run.version
        item.score = candidate
        item.status, item.finished_at = "scored", utcnow()
        db.session.commit()
        return "scored"
    except Exception as exc:
        db.session.rollback()
        if jobs.transient(exc):
            raise  # tried again by run_with_retries
        log.exception("rescore %s-%s failed", run_id, submission_id)
        fresh = db.session.scalar(select(RescoreItem).where(RescoreItem.run_id == run_id,
                                                            RescoreItem.submission_id == submission_id))
        if fresh is not None:
            _fail(fresh, f"internal error: {type(exc).__name__}: {exc}"[:2000])
        raise


# ---------------------------------------------------------------- preview

def preview(run: RescoreRun, board: str = "public") -> list[Change]:
    """Each team's rank and error on ``board`` now and as publishing the run would make
    them, in the new board's order (teams that would leave it last). Ranked by the
    leaderboards' own rules, without the paired comparisons."""
    candidates = {item.submission_id: item.score for item in run.items
                  if item.status == "scored" and item.score is not None}
    which = boards.Board(board)
    now = [e for e in boards.ranked_with(run.phase, {}, which) if not e.reference]
    then = [e for e in boards.ranked_with(run.phase, candidates, which) if not e.reference]
    old = {e.team_id: e for e in now}
    new = {e.team_id: e for e in then}
    changes = []
    for e in then:
        was = old.get(e.team_id)
        changes.append(Change(team_id=e.team_id, team=e.team, old_rank=was.rank if was else None,
                              new_rank=e.rank, old_error=was.error if was else None, new_error=e.error))
    changes += [Change(team_id=e.team_id, team=e.team, old_rank=e.rank, new_rank=None, old_error=e.error,
                       new_error=None) for e in now if e.team_id not in new]
    return changes


# ---------------------------------------------------------------- publishing

def _chunks(ids: list[int]) -> list[list[int]]:
    return [ids[i:i + CHUNK] for i in range(0, len(ids), CHUNK)]


def _swap(detach_ids: list[int], attach_ids: list[int]) -> None:
    """Detach the published scores ``detach_ids`` and attach ``attach_ids`` to their submissions.

    Detach first: a submission has one published score (unique submission_id)."""
    db.session.flush()
    for chunk in _chunks(detach_ids):
        db.session.execute(
            update(Score).where(Score.id.in_(chunk), Score.submission_id.is_not(None))
            .values(for_submission_id=Score.submission_id, submission_id=None)
            .execution_options(synchronize_session=False)
        )
    for chunk in _chunks(attach_ids):
        db.session.execute(
            update(Score).where(Score.id.in_(chunk))
            .values(submission_id=Score.for_submission_id)
            .execution_options(synchronize_session=False)
        )
    db.session.expire_all()


def publish(run: RescoreRun, actor: User | None = None) -> int:
    """Make the run's candidates the published scores (and its version the phase's
    current one) in one transaction; returns how many scores changed."""
    phase = run.phase
    if run.status != "open":
        raise RescoreError(f"rescore run {run.id} is {run.status}; only an open run can be published")
    state = progress(run)
    if not state.finished:
        raise RescoreError(f"rescore run {run.id} is still running ({state.done} of {state.total} done)")
    if state.failed:
        raise RescoreError(f"{state.failed} of the run's submissions could not be rescored (see the run); "
                           "fix the cause and rescore what is missing, or discard the run")
    if run.submission_id is not None and run.version != phase.truth_version:
        raise RescoreError(f"the phase moved to version {phase.truth_version} since this run started "
                           f"(it rescored against version {run.version}); start a new one")
    late = _missing(run)
    if late:
        raise RescoreError(f"{len(late)} scored submission(s) have no rescored result in this run "
                           f"(ids {', '.join(map(str, late[:10]))}{' ...' if len(late) > 10 else ''}), "
                           "e.g. uploaded after it started; rescore what is missing, then publish")
    version = truth.get_version(phase, run.version)
    if version is None:
        raise RescoreError(f"ground-truth version {run.version} no longer exists")
    items = [item for item in run.items if item.score_id is not None]
    published: dict[int, int] = {}
    for chunk in _chunks([item.submission_id for item in items]):
        published.update((submission_id, score_id) for submission_id, score_id in db.session.execute(
            select(Score.submission_id, Score.id).where(Score.submission_id.in_(chunk))
        ))
    for item in items:
        item.previous_score_id = published.get(item.submission_id)
    before = {"version": phase.truth_version}
    if run.submission_id is None:
        if version not in db.session:
            db.session.add(version)  # version 1's row, first needed now: a rollback returns to it
        run.previous_version = phase.truth_version
        truth.make_current(phase, version)
    else:
        run.previous_version = phase.truth_version
    run.status, run.published_at = "published", utcnow()
    detach = [item.previous_score_id for item in items if item.previous_score_id is not None]
    attach = [item.score_id for item in items if item.score_id is not None]
    audit.record(actor, "rescore.publish", f"rescore_run:{run.id}", challenge_id=phase.track.challenge_id,
                 before=before, after={"version": run.version, "scores": len(attach)})
    try:
        _swap(detach, attach)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    leaderboard_cache.invalidate(phase.id)
    return len(attach)


def rollback(run: RescoreRun, actor: User | None = None) -> int:
    """Restore the scores a published run replaced (and the phase's previous version).

    Submissions scored against the run's version after it was published have no
    earlier result to restore: they are queued to be scored again, against the
    restored version. Returns how many scores were restored."""
    phase = run.phase
    if run.status != "published":
        raise RescoreError(f"rescore run {run.id} is {run.status}; only a published run can be rolled back")
    later = db.session.scalar(
        select(RescoreRun.id).where(RescoreRun.phase_id == phase.id, RescoreRun.status == "published",
                                    RescoreRun.published_at > run.published_at)
        .order_by(RescoreRun.published_at.desc()).limit(1)
    )
    if later is not None:
        raise RescoreError(f"rescore run {later} was published after run {run.id}; roll it back first")
    assert run.previous_version is not None
    previous = truth.get_version(phase, run.previous_version)
    if previous is None:
        raise RescoreError(f"ground-truth version {run.previous_version} no longer exists")
    items = [item for item in run.items if item.score_id is not None and item.previous_score_id is not None]
    covered = {item.submission_id for item in run.items}
    requeue: list[Submission] = []
    if run.submission_id is None and run.version != run.previous_version:
        requeue = [s for s in db.session.scalars(
            select(Submission).join(Score, Score.submission_id == Submission.id)
            .where(Submission.phase_id == phase.id, Score.truth_version == run.version)
        ) if s.id not in covered]
    if run.submission_id is None:
        truth.make_current(phase, previous)
    for submission in requeue:
        submission.status, submission.error = "queued", None
    run.status, run.finished_at = "rolled-back", utcnow()
    audit.record(actor, "rescore.rollback", f"rescore_run:{run.id}", challenge_id=phase.track.challenge_id,
                 before={"version": run.version}, after={"version": run.previous_version,
                                                         "scores": len(items), "requeued": len(requeue)})
    try:
        _swap([item.score_id for item in items if item.score_id is not None],
              [item.previous_score_id for item in items if item.previous_score_id is not None])
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    for submission in requeue:
        try:
            enqueue_scoring(submission)
        except redis.RedisError:
            log.exception("could not enqueue submission %s; the sweeper will", submission.id)
    leaderboard_cache.invalidate(phase.id)
    return len(items)


def discard(run: RescoreRun, actor: User | None = None) -> None:
    """Drop an open run and its candidate scores; the published scores never changed."""
    if run.status != "open":
        raise RescoreError(f"rescore run {run.id} is {run.status}; only an open run can be discarded")
    candidates = [item.score_id for item in run.items if item.score_id is not None]
    for item in run.items:
        item.score_id = None
    run.status, run.finished_at = "discarded", utcnow()
    db.session.flush()
    for chunk in _chunks(candidates):
        # Only unpublished rows: a candidate is never attached while its run is open.
        db.session.execute(
            Score.__table__.delete().where(Score.id.in_(chunk), Score.submission_id.is_(None))
        )
    audit.record(actor, "rescore.discard", f"rescore_run:{run.id}", challenge_id=run.phase.track.challenge_id,
                 after={"candidates": len(candidates)})
    db.session.commit()
