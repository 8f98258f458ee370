"""The scoring job: scores land in one transaction, re-runs replace them, failures say why."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import traceback
from pathlib import Path

import pytest
from rq.job import Job, JobStatus
from sqlalchemy import func, select, text
from submit_helpers import drain, team_with_token

from challenge import jobs, quota, scoring
from challenge.models import MAX_ATTEMPTS, Blob, Score, Submission, utcnow
from challenge.queue import get_redis
from challenge.submissions.service import Metadata, submit
from challenge.sweeper import sweep
from challenge.worker import limit_memory
from tests.conftest import TINY_WNIDS, make_blob, perfect_predictions


@pytest.fixture
def queued(app, db, redis, make_user, make_challenge, make_team):
    t = team_with_token(make_user, make_challenge, make_team, task="localization")
    submission = submit(t["user"], t["phase"], "p.txt", perfect_predictions("localization"),
                        Metadata(method="M"))
    return submission.id


def _row(db, submission_id: int) -> Submission:
    db.remove()
    return db.get(Submission, submission_id)


def test_job_scores_and_a_second_delivery_scores_nothing_twice(app, db, queued):
    assert jobs.score_submission(queued) == "scored"
    first = _row(db, queued)
    assert first.status == "scored" and first.attempts == 1
    assert first.started_at <= first.finished_at
    score = first.score
    assert score.error == 0.0 and score.cls_error == 0.0 and score.images == 20
    assert set(score.details) == {"warnings", "timings"}
    assert set(score.details["timings"]) == {"read_s", "score_s", "peak_rss_mb", "truth_s", "truth_from"}
    assert score.per_class is not None and score.outcomes is not None

    assert jobs.score_submission(queued) == "scored"  # the same job delivered again
    again = _row(db, queued)
    assert again.attempts == 1 and again.finished_at == first.finished_at
    assert db.scalar(select(func.count()).select_from(Score)) == 1

    # A submission put back in the queue (the sweeper, an organizer) is scored again,
    # replacing its score.
    again.status = "queued"
    db.commit()
    assert jobs.score_submission(queued) == "scored"
    assert _row(db, queued).attempts == 2
    assert db.scalar(select(func.count()).select_from(Score)) == 1


def test_missing_file_fails_with_a_reason_to_act_on_and_gives_the_slot_back(app, db, queued):
    row = _row(db, queued)
    (Path(app.config["UPLOAD_FOLDER"]) / row.stored_path).unlink()
    assert jobs.score_submission(queued) == "failed"
    row = _row(db, queued)
    assert row.status == "failed" and row.error == jobs.MISSING_FILE and row.score is None
    assert row.quota_refunded_at is not None


def test_file_broken_on_disk_fails_with_the_line(app, db, queued):
    row = _row(db, queued)
    (Path(app.config["UPLOAD_FOLDER"]) / row.stored_path).write_bytes(b"1 10 10 50 50\nnonsense\n")
    assert jobs.score_submission(queued) == "failed"
    row = _row(db, queued)
    assert row.error.startswith("the file could not be scored: ")
    assert "line" in row.error
    assert row.quota_refunded_at is None  # the file's fault: the upload counts


def test_an_internal_failure_is_retried_by_the_sweeper_then_fails_generically_with_a_refund(
        app, db, queued):
    # Corrupt the hidden labels: the competitor must learn nothing about them.
    row = _row(db, queued)
    blob = db.get(Blob, row.phase.labels_blob_id)
    secret = b"SECRET-LABEL-TOKEN\n" * 20
    blob.data, blob.sha256 = secret, hashlib.sha256(secret).hexdigest()
    db.commit()
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert drain(app)
        row = _row(db, queued)
        # Back in the queue, not failed: RQ keeps the traceback, the sweeper tries again.
        assert (row.status, row.attempts, row.error) == ("queued", attempt, jobs.INTERNAL)
        assert row.retry_note == f"retrying (attempt {attempt + 1} of {MAX_ATTEMPTS})"
        job = Job.fetch(row.job_id, connection=get_redis(app))
        assert job.get_status() == JobStatus.FAILED
        [action] = sweep()
        assert action.action == ("requeued" if attempt < MAX_ATTEMPTS else "failed")
    row = _row(db, queued)
    assert row.status == "failed" and row.error == jobs.INTERNAL
    assert "SECRET" not in row.error
    assert row.quota_refunded_at is not None  # the slot is given back
    assert quota.status(row.phase, row.team, utcnow()).used == 0


def test_transient_database_errors_are_retried_inside_the_job(app, db, queued, monkeypatch):
    """A real 'database is locked' (SQLite) or a real dropped connection (PostgreSQL)
    on the job's first try; the job tries again and scores."""
    real_score, calls = jobs._score, []

    def flaky(submission_id: int) -> str:
        calls.append(submission_id)
        if len(calls) == 1:
            engine = db.get_bind()
            if engine.dialect.name == "sqlite":
                db.execute(text("PRAGMA query_only = 1"))  # the next write errors for real
                try:
                    db.execute(text("UPDATE submission SET method = method"))
                finally:
                    db.execute(text("PRAGMA query_only = 0"))
            else:
                pid = db.scalar(text("SELECT pg_backend_pid()"))
                with engine.connect() as other:
                    other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
                db.execute(text("SELECT 1"))
        return real_score(submission_id)

    monkeypatch.setattr(jobs, "_score", flaky)
    monkeypatch.setattr(jobs, "TRANSIENT_BACKOFF", (0.01,))
    assert jobs.score_submission(queued) == "scored"
    assert len(calls) == 2
    assert _row(db, queued).attempts == 1


def test_job_for_a_deleted_submission_does_nothing(app, db):
    assert jobs.score_submission(424242) == "missing"


def test_a_job_over_the_memory_limit_fails_with_a_plain_reason(app, db, redis, make_user,
                                                               make_challenge, make_team, tmp_path):
    """RLIMIT_AS in a forked child, as in a work horse: a valid file whose scoring needs
    more memory than allowed fails the job with MemoryError and a plain reason."""
    challenge = make_challenge(task="localization")
    phase = challenge.tracks[0].phases[0]
    images = 250_000
    labels = "".join(f"{i % 10 + 1}\n" for i in range(images)).encode()
    phase.labels_blob = make_blob(db, "big-labels.txt", labels)
    rows = ["ImageId,PredictionString"] + [
        f"img_{i + 1:08d},{TINY_WNIDS[i % 10]} 10 10 50 50" for i in range(images)]
    phase.boxes_blob = make_blob(db, "big-boxes.csv", ("\n".join(rows) + "\n").encode())
    phase.images = images
    db.commit()
    user = make_user()
    make_team(challenge, user)
    line = " ".join(f"{k + 1} 10 10 50 50" for k in range(5)) + "\n"
    sid = submit(user, phase, "big.txt", line.encode() * images).id
    scoring.ground_truth(phase)  # parsed before the fork, as a warm worker has it
    db.commit()  # with its artifact stored, as the worker's preload commits

    def child() -> None:
        code = 1
        try:
            db.get_bind().dispose(close=False)  # the parent's connections stay the parent's
            vm_kb = next(int(x.split()[1]) for x in open("/proc/self/status") if x.startswith("VmSize"))
            limit_memory(vm_kb // 1024 + 24)  # 24 MB more than the child has now
            code = 0 if jobs.score_submission(sid) == "failed" else 2
        except BaseException:
            (tmp_path / "child.txt").write_text(traceback.format_exc())
        finally:
            os._exit(code)

    process = multiprocessing.get_context("fork").Process(target=child)
    process.start()
    process.join(120)
    assert process.exitcode == 0, (tmp_path / "child.txt").read_text() if process.exitcode == 1 else ""
    row = _row(db, sid)
    assert row.status == "failed"
    assert row.error.startswith("scoring this file needed more than the 2048 MB of memory")
    assert row.quota_refunded_at is None
