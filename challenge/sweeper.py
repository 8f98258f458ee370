"""The sweeper: re-enqueue submissions that no live job holds.

The database is the source of truth and Redis may lose what it holds (a
restart without persistence, a FLUSHDB), and a worker killed with -9 leaves its
job 'started' in Redis for ever: RQ cannot tell it from a slow job, but the
submission's lease can: a row 'running' for longer than SCORING_TIMEOUT plus a
grace period (SWEEP_INTERVAL) has no live worker, since RQ kills a job at its
timeout. Workers sweep at start and every SWEEP_INTERVAL; ``challenge requeue``
sweeps once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import click
from flask import Flask, current_app
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import select

from challenge.extensions import db
from challenge.models import Submission, utcnow
from challenge.queue import get_redis
from challenge.submissions.service import enqueue

log = logging.getLogger(__name__)

#: Scoring is tried this many times before the submission is marked failed.
MAX_ATTEMPTS = 3
GAVE_UP = (
    f"scoring was interrupted {MAX_ATTEMPTS} times (the worker stopped or timed out); "
    "a very large file may take too long: check its size and format, or ask the organizers"
)
#: Job states in which a job will still run (or is running) for its submission.
LIVE = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED}


@dataclass
class Action:
    submission_id: int
    action: str  # "requeued" | "failed"
    why: str


def _job(job_id: str) -> Job | None:
    try:
        return Job.fetch(job_id, connection=get_redis())
    except NoSuchJobError:
        return None


def _orphan_reason(submission: Submission, now: datetime) -> str | None:
    """Why no live job holds this submission, or None when one does."""
    job = _job(submission.job_id)
    status = job.get_status(refresh=False) if job is not None else None
    if job is None or status is None:
        return "its job is missing from Redis"
    if status not in LIVE:
        return f"its job is {status.value}"
    if submission.status == "running":
        lease = timedelta(seconds=current_app.config["SCORING_TIMEOUT"]
                          + current_app.config["SWEEP_INTERVAL"])
        if submission.started_at is not None and now - submission.started_at > lease:
            return f"it has been running since {submission.started_at:%H:%M:%S} UTC, past its lease"
    return None


def sweep(now: datetime | None = None) -> list[Action]:
    """Re-enqueue (or give up on) every queued/running submission no live job holds."""
    now = now or utcnow()
    lock = get_redis().lock("challenge:sweeper", timeout=60, blocking=False)
    if not lock.acquire():
        return []  # another process is sweeping right now
    try:
        actions = []
        pending = db.session.scalars(
            select(Submission).where(Submission.status.in_(("queued", "running")))
            .order_by(Submission.id)
        ).all()
        for submission in pending:
            reason = _orphan_reason(submission, now)
            if reason is None:
                continue
            actions.append(_repair(submission, reason))
        return actions
    finally:
        lock.release()
        db.session.remove()


def _repair(submission: Submission, reason: str) -> Action:
    stale = _job(submission.job_id)
    if stale is not None:
        stale.delete()
    if submission.attempts >= MAX_ATTEMPTS:
        submission.status, submission.error, submission.finished_at = "failed", GAVE_UP, utcnow()
        db.session.commit()
        log.warning("submission %s: %s; gave up after %s attempts", submission.id, reason,
                    submission.attempts)
        return Action(submission.id, "failed", reason)
    submission.status, submission.started_at = "queued", None
    db.session.commit()
    enqueue(submission)
    log.warning("submission %s: %s; re-enqueued", submission.id, reason)
    return Action(submission.id, "requeued", reason)


@click.command("requeue")
def requeue_command() -> None:
    """Re-enqueue submissions that no live job holds (run once)."""
    actions = sweep()
    for a in actions:
        click.echo(f"submission {a.submission_id}: {a.action} ({a.why})")
    click.echo(f"{len(actions)} submission(s) repaired")


def init_app(app: Flask) -> None:
    app.cli.add_command(requeue_command)
