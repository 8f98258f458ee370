"""Nothing is lost: a worker killed with -9 mid-job, or Redis losing its jobs, ends with
the submission re-enqueued and scored. Real worker processes, real Redis, real SQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import redis as redis_lib
from rq.job import Job
from sqlalchemy import func, select
from submit_helpers import api_upload, drain, team_with_token

from challenge.db import read_only
from challenge.jobs import HEARTBEAT_TTL, heartbeat_key
from challenge.models import MAX_ATTEMPTS, AuditEntry, Submission, utcnow
from challenge.queue import get_queue, get_redis
from challenge.submissions.service import submit
from challenge.sweeper import GAVE_UP, LEFT_QUEUE_GRACE, sweep, sweep_files
from tests.conftest import perfect_predictions
from tests.reliability.reliability_harness import children_of

pytestmark = pytest.mark.slow
CLI = [sys.executable, "-c", "from challenge.cli import main; main()"]


def _env(app, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(DATABASE_URL=app.config["DATABASE_URL"], REDIS_URL=app.config["REDIS_URL"],
               CHALLENGE_INSTANCE=app.config["CHALLENGE_INSTANCE"], SECRET_KEY=app.config["SECRET_KEY"])
    env.update(extra)
    return env


def _start_worker(app, tmp_path: Path, name: str, *args: str, **env: str) -> subprocess.Popen:
    log = open(tmp_path / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
    proc = subprocess.Popen([*CLI, "worker", *args], env=_env(app, **env), stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    proc.log = log  # type: ignore[attr-defined]
    return proc


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(timeout=10)
    proc.log.close()  # type: ignore[attr-defined]


def _wait_for(db, submission_id: int, status: str, timeout: float, procs=()) -> Submission:
    deadline = time.monotonic() + timeout
    while True:
        db.remove()
        with read_only():  # polling must not hold SQLite's write lock from the workers
            row = db.get(Submission, submission_id)
            db.commit()
        if row.status == status:
            return row
        for proc in procs:
            assert proc.poll() is None, f"worker exited early with {proc.returncode}"
        assert time.monotonic() < deadline, f"submission {submission_id} is {row.status}, not {status}"
        time.sleep(0.2)


@pytest.fixture
def queued(app, db, redis, make_user, make_challenge, make_team) -> int:
    t = team_with_token(make_user, make_challenge, make_team)
    return submit(t["user"], t["phase"], "p.txt", perfect_predictions("classification")).id


def test_worker_killed_mid_job_is_recovered_by_the_next_workers_sweeper(app, db, queued, tmp_path):
    row = db.get(Submission, queued)
    stored = Path(app.config["UPLOAD_FOLDER"]) / row.stored_path
    content = stored.read_bytes()
    # Reading a FIFO blocks until someone writes: the job hangs right after
    # marking the row 'running', which is where a crash hurts.
    stored.unlink()
    os.mkfifo(stored)
    first = _start_worker(app, tmp_path, "first")
    second = None
    try:
        _wait_for(db, queued, "running", timeout=60, procs=[first])
        horses = children_of(first.pid)
        assert horses, "the worker forked no work horse"
        os.killpg(first.pid, signal.SIGKILL)
        for horse in horses:  # RQ puts the horse in its own process group
            os.killpg(horse, signal.SIGKILL)
        first.wait(timeout=10)
        job = Job.fetch(f"submission-{queued}", connection=get_redis(app))
        assert job.get_status().value == "started"  # RQ cannot tell the job is dead

        stored.unlink()
        stored.write_bytes(content)
        second = _start_worker(app, tmp_path, "second", SCORING_TIMEOUT="2", SWEEP_INTERVAL="1")
        row = _wait_for(db, queued, "scored", timeout=90, procs=[second])
        assert row.attempts == 2
        assert row.score.error == 0.0
        log = (tmp_path / "second.log").read_text()
        assert f"submission {queued} requeued" in log
    finally:
        _stop(first)
        if second is not None:
            _stop(second)


def test_redis_losing_its_jobs_is_repaired_by_challenge_requeue(app, db, redis, queued):
    redis.flushdb()
    done = subprocess.run([*CLI, "requeue"], env=_env(app), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"submission {queued}: requeued (its job is missing from Redis)" in done.stdout
    assert "1 submission(s) repaired" in done.stdout
    drain(app)
    row = _wait_for(db, queued, "scored", timeout=5)
    assert row.score.error == 0.0


def test_redis_losing_its_jobs_is_repaired_by_a_burst_worker(app, db, redis, queued, tmp_path):
    redis.flushdb()
    worker = _start_worker(app, tmp_path, "burst", "--burst")
    try:
        assert worker.wait(timeout=60) == 0
        row = _wait_for(db, queued, "scored", timeout=5)
        assert row.attempts == 1
    finally:
        _stop(worker)


def test_sweep_leaves_live_jobs_alone(app, db, redis, queued):
    assert sweep() == []
    row = db.get(Submission, queued)
    row.status, row.started_at, row.attempts = "running", utcnow(), 1
    db.commit()
    get_queue(app).fetch_job(row.job_id).set_status("started")
    assert sweep() == []  # just started: its heartbeat may not be there yet
    # Long running, but beating: alive, even if Redis lost the job (FLUSHALL) meanwhile.
    redis.set(heartbeat_key(queued), 1, ex=HEARTBEAT_TTL)
    later = utcnow() + timedelta(seconds=HEARTBEAT_TTL * 10)
    assert sweep(later) == []
    redis.delete(f"rq:job:{row.job_id}")
    assert sweep(later) == []


def test_sweep_requeues_failed_jobs_and_dead_workers(app, db, queued):
    job = get_queue(app).fetch_job(f"submission-{queued}")
    job.set_status("failed")
    [action] = sweep()
    assert (action.submission_id, action.action) == (queued, "requeued")
    assert action.why == "its job is failed"
    assert Job.fetch(f"submission-{queued}", connection=get_redis(app)).get_status().value == "queued"

    row = db.get(Submission, queued)
    row.status, row.attempts, row.started_at = "running", 1, utcnow()
    db.commit()
    get_queue(app).fetch_job(row.job_id).set_status("started")
    assert sweep(utcnow()) == []  # no heartbeat yet, but it only just started
    later = utcnow() + timedelta(seconds=HEARTBEAT_TTL + 1)
    [action] = sweep(later)
    assert action.action == "requeued"
    assert action.why == f"its worker stopped (no heartbeat for {HEARTBEAT_TTL} s)"
    row = db.get(Submission, queued)
    assert row.status == "queued" and row.retry_note == "retrying (attempt 2 of 3)"
    drain(app)
    assert _wait_for(db, queued, "scored", timeout=5).attempts == 2


def test_sweep_gives_up_after_three_attempts(app, db, redis, queued):
    row = db.get(Submission, queued)
    row.status, row.attempts, row.started_at = "running", MAX_ATTEMPTS, utcnow()
    db.commit()
    redis.flushdb()
    [action] = sweep()
    assert action.action == "failed"
    db.remove()
    row = db.get(Submission, queued)
    assert row.status == "failed" and row.error == GAVE_UP
    assert row.quota_refunded_at is not None  # our failure, not the file's


def test_upload_while_redis_is_down_is_kept_and_swept_later(app, db, redis, client, make_user,
                                                            make_challenge, make_team, tmp_path):
    t = team_with_token(make_user, make_challenge, make_team)
    working = app.extensions["redis_client"] = get_redis(app)
    app.extensions["redis_client"] = redis_lib.Redis(unix_socket_path=str(tmp_path / "nobody.sock"))
    try:
        response = api_upload(client, t["token"], perfect_predictions("classification"))
    finally:
        app.extensions["redis_client"] = working
    assert response.status_code == 202
    sid = response.get_json()["id"]
    assert db.get(Submission, sid).status == "queued"
    [action] = sweep()
    assert (action.submission_id, action.action) == (sid, "requeued")
    drain(app)
    assert _wait_for(db, sid, "scored", timeout=5).score.error == 0.0


def test_organizers_retry_a_failed_submission_from_the_console_and_the_cli(app, db, client, redis, queued,
                                                                          make_user):
    organizer = make_user("boss@example.org", organizer=True)
    row = db.get(Submission, queued)
    row.status, row.error, row.attempts = "failed", GAVE_UP, MAX_ATTEMPTS
    row.quota_refunded_at = utcnow()
    db.commit()
    client.post("/login", data={"email": organizer.email, "password": "password123"})
    page = client.get(f"/admin/submissions/{queued}").get_data(as_text=True)
    assert "Retry scoring" in page
    response = client.post(f"/admin/submissions/{queued}/retry")
    assert response.status_code == 302
    db.remove()
    row = db.get(Submission, queued)
    assert (row.status, row.attempts, row.error) == ("queued", 0, None)
    assert row.quota_refunded_at is not None  # the retry does not take a slot again
    entry = db.scalar(select(AuditEntry).where(AuditEntry.action == "submission.retry"))
    assert entry.actor_id == organizer.id and entry.before["status"] == "failed"
    assert entry.after["status"] == "queued"
    drain(app)
    assert _wait_for(db, queued, "scored", timeout=5).attempts == 1

    # Only failed submissions: a scored one is rescored instead.
    refused = client.post(f"/admin/submissions/{queued}/retry", follow_redirects=True)
    assert "only a failed submission can be retried" in refused.get_data(as_text=True)

    row = db.get(Submission, queued)
    row.status, row.error = "failed", "scoring failed because of an internal error"
    db.commit()
    done = subprocess.run([*CLI, "requeue", str(queued)], env=_env(app), capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"submission {queued}: queued again" in done.stdout
    db.remove()
    assert db.get(Submission, queued).status == "queued"
    assert db.scalar(select(func.count()).select_from(AuditEntry)
                     .where(AuditEntry.action == "submission.retry")) == 2
    db.commit()  # end this read: on SQLite it holds the write lock the CLI needs
    missing = subprocess.run([*CLI, "requeue", "999999"], env=_env(app), capture_output=True, text=True,
                             timeout=60)
    assert missing.returncode != 0 and "no submission with id 999999" in missing.stderr


def test_the_sweeper_removes_stored_files_no_submission_owns(app, db, queued):
    root = Path(app.config["UPLOAD_FOLDER"])
    owned = root / db.get(Submission, queued).stored_path
    orphan = owned.parent / "0123456789abcdef-deadbeef.txt"
    orphan.write_bytes(b"1\n")  # the web process died between storing and committing
    half = owned.parent / ".upload-x.tmp"
    half.write_bytes(b"1\n")  # ... or while writing
    fresh = owned.parent / "fedcba9876543210-cafe.txt"
    fresh.write_bytes(b"1\n")  # an upload being stored right now
    old = time.time() - 2 * 3600
    for path in (owned, orphan, half):
        os.utime(path, (old, old))
    removed = sweep_files()
    assert sorted(removed) == sorted(p.relative_to(root).as_posix() for p in (orphan, half))
    assert owned.exists() and fresh.exists() and not orphan.exists() and not half.exists()


def test_one_unreadable_job_does_not_stop_the_sweep(app, db, redis, make_user, make_challenge, make_team):
    """What a killed worker leaves half-written in Redis must not abort the sweep (it
    did, every cycle, for minutes): both submissions are queued again."""
    t = team_with_token(make_user, make_challenge, make_team)
    first = submit(t["user"], t["phase"], "a.txt", perfect_predictions("classification")).id
    second = submit(t["user"], t["phase"], "b.txt", perfect_predictions("classification")).id
    redis.delete(f"rq:job:submission-{first}", f"rq:job:submission-{second}")
    redis.set(f"rq:job:submission-{first}", "not a job")  # a foreign or broken key
    actions = sweep()
    assert sorted((a.submission_id, a.action) for a in actions) == [(first, "requeued"), (second, "requeued")]
    drain(app)
    assert _wait_for(db, first, "scored", timeout=5).score.error == 0.0
    assert _wait_for(db, second, "scored", timeout=5).score.error == 0.0


def test_a_worker_killed_right_after_taking_a_job_is_found_too(app, db, queued):
    """Killed between RQ starting the job and the row saying 'running': the row is still
    queued, the job 'started' for ever; RQ's start time and the missing heartbeat tell."""
    job = get_queue(app).fetch_job(f"submission-{queued}")
    job.set_status("started")
    job.started_at = utcnow() - timedelta(seconds=HEARTBEAT_TTL + 5)
    job.save()
    [action] = sweep()
    assert (action.submission_id, action.action) == (queued, "requeued")
    assert action.why == f"its worker stopped (no heartbeat for {HEARTBEAT_TTL} s)"
    drain(app)
    assert _wait_for(db, queued, "scored", timeout=5).attempts == 1


def test_a_worker_killed_as_it_took_a_job_off_the_queue_is_found_too(app, db, redis, queued):
    """A worker on several queues pops a job with a plain LPOP; killed before the job
    starts, it leaves the job 'queued' on no queue (found by `make soak`: a submission
    queued for minutes). A sweep notes it; one LEFT_QUEUE_GRACE seconds later (a live
    worker starts what it pops at once) queues it again; a job on its queue is left alone."""
    queue = get_queue(app)
    job_id = f"submission-{queued}"
    assert sweep() == []  # on its queue: waiting its turn
    assert redis.lrem(queue.key, 1, job_id) == 1  # what the killed worker's pop did
    assert queue.fetch_job(job_id).get_status() == "queued"
    assert sweep() == []  # first seen off its queue: perhaps a worker starting it now
    seen = f"challenge:off-queue:{job_id}"
    redis.set(seen, float(redis.get(seen)) - LEFT_QUEUE_GRACE)  # as if the grace had passed
    [action] = sweep()
    assert (action.submission_id, action.action) == (queued, "requeued")
    assert action.why.startswith("its job left the queue but never started")
    assert job_id in queue.job_ids
    assert sweep() == []  # back on its queue
    drain(app)
    assert _wait_for(db, queued, "scored", timeout=5).attempts == 1
