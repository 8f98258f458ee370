"""The console's "Workers and queues": what RQ's registries say, read live, and a retry
for a failed job.

Nothing here is cached: the page is for an operator watching a deadline burst, so each
view reads the worker hashes, the queues and the failed registries (a few Redis calls
per worker and queue, bounded by FAILED_SHOWN for the failed jobs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from rq import Worker
from rq.job import Job
from rq.registry import FailedJobRegistry, StartedJobRegistry

from challenge import audit
from challenge.extensions import db
from challenge.models import Submission, User, utcnow
from challenge.queue import fetch_job, get_redis, worker_queues
from challenge.submissions import service as submit_service

#: Failed jobs listed per queue (newest first); older ones stay in RQ's registry.
FAILED_SHOWN = 50
_SUBMISSION_JOB = re.compile(r"^submission-(\d+)$")
_RESCORE_JOB = re.compile(r"^rescore-(\d+)-(\d+)$")


@dataclass
class WorkerRow:
    name: str
    hostname: str
    pid: int | None
    state: str
    queues: list[str]
    job_id: str | None
    job_description: str
    submission_id: int | None
    heartbeat_age_s: float | None
    started: datetime | None
    done: int
    failed: int


@dataclass
class QueueRow:
    name: str
    queued: int
    running: int
    failed: int


@dataclass
class FailedRow:
    queue: str
    job_id: str
    description: str
    ended_at: datetime | None
    reason: str  # the exception's last line: organizers only (it may name the ground truth)
    submission_id: int | None


@dataclass
class Overview:
    workers: list[WorkerRow]
    queues: list[QueueRow]
    failed: list[FailedRow]


def _aware(when: datetime | None) -> datetime | None:
    return when.replace(tzinfo=UTC) if when is not None and when.tzinfo is None else when


def submission_of(job_id: str | None) -> int | None:
    """The submission a job scores (``submission-N``, or a rescore ``rescore-RUN-N``)."""
    if not job_id:
        return None
    match = _SUBMISSION_JOB.match(job_id) or _RESCORE_JOB.match(job_id)
    return int(match.groups()[-1]) if match else None


def _reason(job: Job) -> str:
    result = job.latest_result()
    text = (result.exc_string if result is not None else None) or ""
    lines = [line for line in str(text).strip().splitlines() if line.strip()]
    return lines[-1][:500] if lines else ""


def overview() -> Overview:
    connection = get_redis()
    now = utcnow()
    workers = []
    for worker in sorted(Worker.all(connection=connection), key=lambda w: w.name):
        job_id = worker.get_current_job_id()
        job = fetch_job(job_id) if job_id else None
        beat = _aware(worker.last_heartbeat)
        workers.append(WorkerRow(
            name=worker.name, hostname=worker.hostname or "", pid=worker.pid, state=str(worker.get_state()),
            queues=[q.name for q in worker.queues], job_id=job_id,
            job_description=(job.description or "") if job is not None else "",
            submission_id=submission_of(job_id),
            heartbeat_age_s=(now - beat).total_seconds() if beat is not None else None,
            started=_aware(worker.birth_date), done=worker.successful_job_count,
            failed=worker.failed_job_count))
    queues, failed = [], []
    for queue in worker_queues():
        registry = FailedJobRegistry(queue=queue)
        running = StartedJobRegistry(queue=queue).count
        queues.append(QueueRow(queue.name, queue.count, running, registry.count))
        for job_id in registry.get_job_ids(0, FAILED_SHOWN - 1, desc=True):
            job = fetch_job(job_id)
            if job is None:
                continue
            failed.append(FailedRow(queue.name, job_id, job.description or "", _aware(job.ended_at),
                                    _reason(job), submission_of(job_id)))
    return Overview(workers, queues, failed)


class RetryError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def retry(actor: User, queue_name: str, job_id: str) -> str:
    """Queue a failed job again; returns what was done, in words.

    A failed submission goes through the submission's own retry (fresh attempts, audited,
    its quota standing unchanged); any other job (a rescore item, a submission the sweeper
    left queued) is put back on its queue by RQ with the same id."""
    queue = next((q for q in worker_queues() if q.name == queue_name), None)
    if queue is None:
        raise RetryError(f"no queue {queue_name!r}")
    registry = FailedJobRegistry(queue=queue)
    if job_id not in registry.get_job_ids():
        raise RetryError(f"job {job_id} is not among the failed jobs of {queue_name} (retried already?)")
    sid = _SUBMISSION_JOB.match(job_id)
    submission = db.session.get(Submission, int(sid.group(1))) if sid else None
    if submission is not None and submission.status == "failed":
        try:
            submit_service.retry(actor, submission)
        except submit_service.SubmitError as exc:
            raise RetryError(exc.message) from None
        return f"submission {submission.id} is queued again"
    registry.requeue(job_id)
    audit.record(actor, "job.retry", f"job:{job_id}", after={"queue": queue_name})
    db.session.commit()
    return f"job {job_id} is back on {queue_name}"
