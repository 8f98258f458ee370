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
from submit_helpers import api_upload, drain, team_with_token

from challenge.models import Submission, utcnow
from challenge.queue import get_queue, get_redis
from challenge.submissions.service import submit
from challenge.sweeper import GAVE_UP, MAX_ATTEMPTS, sweep
from tests.conftest import perfect_predictions

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


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _wait_for(db, submission_id: int, status: str, timeout: float, procs=()) -> Submission:
    deadline = time.monotonic() + timeout
    while True:
        db.remove()
        row = db.get(Submission, submission_id)
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
        horses = _children(first.pid)
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


def test_sweep_leaves_live_jobs_alone(app, db, queued):
    assert sweep() == []
    row = db.get(Submission, queued)
    row.status, row.started_at, row.attempts = "running", utcnow(), 1
    db.commit()
    get_queue(app).fetch_job(row.job_id).set_status("started")
    assert sweep() == []  # running within its lease


def test_sweep_requeues_failed_jobs_and_expired_leases(app, db, queued):
    job = get_queue(app).fetch_job(f"submission-{queued}")
    job.set_status("failed")
    [action] = sweep()
    assert (action.submission_id, action.action) == (queued, "requeued")
    assert action.why == "its job is failed"
    assert Job.fetch(f"submission-{queued}", connection=get_redis(app)).get_status().value == "queued"

    row = db.get(Submission, queued)
    row.status, row.attempts = "running", 1
    row.started_at = utcnow() - timedelta(seconds=app.config["SCORING_TIMEOUT"] + 5)
    db.commit()
    get_queue(app).fetch_job(row.job_id).set_status("started")
    assert sweep(utcnow()) == []  # still within SCORING_TIMEOUT + SWEEP_INTERVAL
    later = utcnow() + timedelta(seconds=app.config["SWEEP_INTERVAL"])
    [action] = sweep(later)
    assert action.action == "requeued" and "past its lease" in action.why
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
