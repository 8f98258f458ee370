"""The sweeper: re-enqueue submissions that no live job holds, and tidy the uploads.

The database is the source of truth and Redis may lose what it holds (a
restart without persistence, a FLUSHDB), and a worker killed with -9 leaves its
job 'started' in Redis for ever: RQ cannot tell it from a slow job, but the
job's heartbeat can (``jobs.heartbeat``: a key the running job refreshes every
few seconds): a row 'running' without a heartbeat has no live worker. The
submission's lease (SCORING_TIMEOUT plus SWEEP_INTERVAL) stays as a backstop.
A job that failed for an internal reason leaves its row 'queued' and is tried
again here, up to MAX_ATTEMPTS; past that the submission fails and its quota
slot is given back. Workers sweep at start and every SWEEP_INTERVAL;
``challenge requeue`` sweeps once, and ``challenge requeue ID`` retries one
failed submission for an organizer.

Once an hour a sweep also deletes stored upload files that no submission owns
(a web process that died between storing a file and committing its row).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import click
import redis
from flask import Flask
from rq.job import Job, JobStatus
from sqlalchemy import select

from challenge import mail, storage
from challenge.db import read_only
from challenge.extensions import db
from challenge.jobs import HEARTBEAT_EVERY, HEARTBEAT_TTL, INTERNAL, heartbeat_key
from challenge.models import MAX_ATTEMPTS, Submission, utcnow
from challenge.queue import delete_job, fetch_job, get_queue, get_redis
from challenge.submissions.service import SubmitError, enqueue, retry

log = logging.getLogger(__name__)

GAVE_UP = (
    f"scoring was interrupted {MAX_ATTEMPTS} times (the worker stopped or timed out); "
    "a very large file may take too long: check its size and format, or ask the organizers"
)
#: Job states in which a job will still run (or is running) for its submission.
LIVE = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED}
NO_HEARTBEAT = f"its worker stopped (no heartbeat for {HEARTBEAT_TTL} s)"
#: A worker on several queues takes a job off its queue with a plain pop (RQ keeps its
#: reliable, intermediate-list pop for one-queue workers), so a worker killed between the
#: pop and the job's start leaves the job 'queued' on no queue: nothing would ever run it.
LEFT_QUEUE = "its job left the queue but never started (its worker stopped as it took it)"
#: How long a job must have been seen 'queued' on no queue before it is queued again: a
#: live worker starts what it pops at once, or after loading a phase's ground truth.
LEFT_QUEUE_GRACE = 30
#: How long the sweeper waits to see a running job's heartbeat again before re-queueing it.
CONFIRM_WAIT = HEARTBEAT_EVERY + 1
#: A stored file no submission owns is deleted once it is this old (an upload being
#: stored right now has no row yet), at most once per FILE_SWEEP_EVERY.
ORPHAN_FILE_AGE = timedelta(hours=1)
FILE_SWEEP_EVERY = timedelta(hours=1)


@dataclass
class Action:
    submission_id: int
    action: str  # "requeued" | "failed"
    why: str


def _waiting(queues: dict[str, set[str]], job: Job) -> bool:
    """Whether a queued job's id is on its queue (``queues``: each queue's ids, read once
    a sweep: one LRANGE, not a search of the list per job)."""
    if job.origin not in queues:
        queues[job.origin] = set(get_queue(name=job.origin).get_job_ids())
    return job.id in queues[job.origin]


def _off_queue_key(job_id: str) -> str:
    return f"challenge:off-queue:{job_id}"


def _orphan_reason(submission: Submission, now: datetime,
                   queues: dict[str, set[str]] | None = None) -> str | None:
    """Why no live job holds this submission, or None when one does."""
    if submission.status == "running" and get_redis().exists(heartbeat_key(submission.id)):
        return None  # its worker is alive and scoring it, whatever Redis lost of the job
    job = fetch_job(submission.job_id)
    status = job.get_status(refresh=False) if job is not None else None
    if job is None or status is None:
        return "its job is missing from Redis"
    if status not in LIVE:
        return f"its job is {status.value}"
    if status == JobStatus.QUEUED and not _waiting({} if queues is None else queues, job):
        return LEFT_QUEUE  # or a worker is taking it this very moment: confirmed below
    # A started job without a heartbeat: its worker died while scoring, or just after
    # taking the job, before the row said 'running' (then only RQ's clock says when).
    began = submission.started_at if submission.status == "running" else None
    if status == JobStatus.STARTED and began is None and job.started_at is not None:
        began = job.started_at if job.started_at.tzinfo else job.started_at.replace(tzinfo=UTC)
        if get_redis().exists(heartbeat_key(submission.id)):
            return None
    if began is not None and now - began > timedelta(seconds=HEARTBEAT_TTL):
        return NO_HEARTBEAT
    return None


def sweep(now: datetime | None = None) -> list[Action]:
    """Re-enqueue (or give up on) every queued/running submission no live job holds."""
    with read_only(False):
        actions = _sweep(now or utcnow())
    mail.release_due_retries()  # e-mail retries whose wait is over (no RQ scheduler runs)
    return actions


def _sweep(now: datetime) -> list[Action]:
    lock = get_redis().lock("challenge:sweeper", timeout=60, blocking=False)
    if not lock.acquire():
        return []  # another process is sweeping right now
    try:
        actions: list[Action | None] = []
        with db.released():  # the scan reads only; on SQLite it must not hold the write lock
            pending = db.session.scalars(
                select(Submission).where(Submission.status.in_(("queued", "running")))
                .order_by(Submission.id)
            ).all()
        suspects = []
        queues: dict[str, set[str]] = {}
        for submission in pending:
            try:
                reason = _orphan_reason(submission, now, queues)
            except redis.ResponseError:
                log.exception("could not look at submission %s's job", submission.id)
                continue
            if reason is None:
                continue
            if reason == NO_HEARTBEAT:
                suspects.append((submission, reason))
            elif reason == LEFT_QUEUE:
                if _off_queue_for(submission.job_id) >= LEFT_QUEUE_GRACE:
                    actions.append(_repair_one(submission, reason))
            else:
                actions.append(_repair_one(submission, reason))
        if suspects:
            # A live job's heartbeat may be missing for a moment (Redis restarted or
            # flushed): look again after a beat before declaring its worker dead.
            time.sleep(CONFIRM_WAIT)
            for submission, reason in suspects:
                if not get_redis().exists(heartbeat_key(submission.id)):
                    actions.append(_repair_one(submission, reason))
        _sweep_files_hourly()
        return [a for a in actions if a is not None]
    finally:
        lock.release()
        db.session.remove()


def _off_queue_for(job_id: str) -> float:
    """Seconds since a sweep first saw this job 'queued' on no queue (0 the first time)."""
    key, now = _off_queue_key(job_id), time.time()
    if get_redis().set(key, now, nx=True, ex=LEFT_QUEUE_GRACE * 10):
        return 0.0
    return now - float(get_redis().get(key) or now)


def _sweep_files_hourly() -> None:
    if get_redis().set("challenge:file-sweep", 1, nx=True, ex=int(FILE_SWEEP_EVERY.total_seconds())):
        removed = sweep_files()
        if removed:
            log.warning("removed %s stored file(s) that no submission owns", len(removed))


def sweep_files(older_than: timedelta = ORPHAN_FILE_AGE) -> list[str]:
    """Delete stored files older than ``older_than`` that no submission names; returns them."""
    cutoff = time.time() - older_than.total_seconds()
    candidates = list(storage.stored_before(cutoff))
    if not candidates:
        return []
    with db.released():
        owned = set(db.session.scalars(select(Submission.stored_path)))
    orphans = [path for path in candidates if path not in owned]
    for path in orphans:
        storage.remove(path)
    return orphans


def _repair_one(submission: Submission, reason: str) -> Action | None:
    """``_repair``, but a failure with one submission never stops the sweep of the rest."""
    try:
        return _repair(submission, reason)
    except Exception:
        db.session.rollback()
        log.exception("could not repair submission %s (%s); the next sweep tries again",
                      submission.id, reason)
        return None


def _repair(submission: Submission, reason: str) -> Action | None:
    seen = (submission.status, submission.attempts)
    # Read the row again inside the write transaction (locked on PostgreSQL; SQLite's
    # write lock is taken by this first statement): a job that finished since the scan
    # must not be queued again.
    db.session.refresh(submission, with_for_update=True)
    if (submission.status, submission.attempts) != seen:
        db.session.rollback()
        return None
    delete_job(submission.job_id)
    get_redis().delete(_off_queue_key(submission.job_id))  # a new job: a new grace
    if submission.attempts >= MAX_ATTEMPTS:
        # Our failure, not the file's (that fails at once): the quota slot goes back.
        now = utcnow()
        why = INTERNAL if submission.error == INTERNAL else GAVE_UP
        submission.status, submission.error, submission.finished_at = "failed", why, now
        submission.quota_refunded_at = now
        db.session.commit()
        log.warning("submission %s: %s; gave up after %s attempts", submission.id, reason,
                    submission.attempts)
        return Action(submission.id, "failed", reason)
    submission.status, submission.started_at = "queued", None
    db.session.commit()
    enqueue(submission, at_front=True)  # it has waited its turn once already
    log.warning("submission %s: %s; re-enqueued", submission.id, reason)
    return Action(submission.id, "requeued", reason)


@click.command("requeue")
@click.argument("submission_ids", nargs=-1, type=int)
def requeue_command(submission_ids: tuple[int, ...]) -> None:
    """Without IDs: re-enqueue submissions that no live job holds (run once).
    With IDs: retry those failed submissions (audited)."""
    for ident in submission_ids:
        submission = db.session.get(Submission, ident)
        if submission is None:
            raise click.ClickException(f"no submission with id {ident}")
        try:
            retry(None, submission)
        except SubmitError as exc:
            raise click.ClickException(exc.message) from None
        click.echo(f"submission {ident}: queued again")
    if submission_ids:
        return
    actions = sweep()
    for a in actions:
        click.echo(f"submission {a.submission_id}: {a.action} ({a.why})")
    click.echo(f"{len(actions)} submission(s) repaired")


def init_app(app: Flask) -> None:
    app.cli.add_command(requeue_command)
