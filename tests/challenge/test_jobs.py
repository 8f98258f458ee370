"""The scoring job: scores land in one transaction, re-runs replace them, failures say why."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from rq.job import Job, JobStatus
from sqlalchemy import func, select
from submit_helpers import drain, team_with_token

from challenge import jobs
from challenge.models import Blob, Score, Submission
from challenge.queue import get_redis
from challenge.submissions.service import Metadata, submit
from tests.conftest import perfect_predictions


@pytest.fixture
def queued(app, db, redis, make_user, make_challenge, make_team):
    t = team_with_token(make_user, make_challenge, make_team, task="localization")
    submission = submit(t["user"], t["phase"], "p.txt", perfect_predictions("localization"),
                        Metadata(method="M"))
    return submission.id


def _row(db, submission_id: int) -> Submission:
    db.remove()
    return db.get(Submission, submission_id)


def test_job_scores_and_rerunning_replaces_the_score(app, db, queued):
    assert jobs.score_submission(queued) == "scored"
    first = _row(db, queued)
    assert first.status == "scored" and first.attempts == 1
    assert first.started_at <= first.finished_at
    score = first.score
    assert score.error == 0.0 and score.cls_error == 0.0 and score.images == 20
    assert set(score.details) == {"warnings", "timings"}
    assert score.per_class is not None and score.outcomes is not None

    assert jobs.score_submission(queued) == "scored"
    again = _row(db, queued)
    assert again.attempts == 2
    assert db.scalar(select(func.count()).select_from(Score)) == 1


def test_missing_file_fails_with_a_reason_to_act_on(app, db, queued):
    row = _row(db, queued)
    (Path(app.config["UPLOAD_FOLDER"]) / row.stored_path).unlink()
    assert jobs.score_submission(queued) == "failed"
    row = _row(db, queued)
    assert row.status == "failed" and row.error == jobs.MISSING_FILE and row.score is None


def test_file_broken_on_disk_fails_with_the_line(app, db, queued):
    row = _row(db, queued)
    (Path(app.config["UPLOAD_FOLDER"]) / row.stored_path).write_bytes(b"1 10 10 50 50\nnonsense\n")
    assert jobs.score_submission(queued) == "failed"
    row = _row(db, queued)
    assert row.error.startswith("the file could not be scored: ")
    assert "line" in row.error


def test_broken_ground_truth_fails_generically_and_rq_records_it(app, db, queued):
    # Corrupt the hidden labels: the competitor must learn nothing about them.
    row = _row(db, queued)
    blob = db.get(Blob, row.phase.labels_blob_id)
    secret = b"SECRET-LABEL-TOKEN\n" * 20
    blob.data, blob.sha256 = secret, hashlib.sha256(secret).hexdigest()
    db.commit()
    assert drain(app)
    row = _row(db, queued)
    assert row.status == "failed" and row.error == jobs.INTERNAL
    assert "SECRET" not in row.error
    job = Job.fetch(row.job_id, connection=get_redis(app))
    assert job.get_status() == JobStatus.FAILED


def test_job_for_a_deleted_submission_does_nothing(app, db):
    assert jobs.score_submission(424242) == "missing"
