"""/metrics (Prometheus text format, counted in Redis so every process adds to one set of
figures) and the console's "Workers and queues" page with its retry of a failed job.

Real uploads, a real RQ worker (SimpleWorker in this process), real Redis and SQL; the
whole-fleet version with separate processes is in tests/reliability/test_rel_metrics.py.
"""

from __future__ import annotations

from typing import Any

import pytest
import redis as redis_lib
from prometheus_client.parser import text_string_to_metric_families
from rq.registry import FailedJobRegistry
from submit_helpers import api_upload, drain, team_with_token
from test_admin import login

from challenge import metrics
from challenge.models import Phase, Submission
from challenge.queue import get_queue
from tests.conftest import make_blob, perfect_predictions


@pytest.fixture(autouse=True)
def _recording() -> None:
    metrics._paused_until = 0.0  # another test's Redis outage must not mute these


def scrape(client: Any, **headers: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.data
    assert response.mimetype == "text/plain"
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_metrics_count_uploads_jobs_timings_queues_and_boards(app, client, db, redis, make_user,
                                                              make_challenge, make_team) -> None:
    t = team_with_token(make_user, make_challenge, make_team, quota=(10, "day"))
    data = perfect_predictions("classification")
    assert api_upload(client, t["token"], data).status_code == 202
    assert api_upload(client, t["token"], b"dog\n" * 20).status_code == 400
    waiting = scrape(client)
    assert waiting[("challenge_queue_jobs", (("queue", "scoring"), ("state", "queued")))] == 1
    assert waiting[("challenge_submissions", (("status", "queued"),))] == 1
    assert waiting[("challenge_oldest_queued_seconds", ())] >= 0
    assert waiting[("challenge_workers", (("state", "busy"),))] == 0

    assert drain(app)
    assert client.get("/c/tiny2012/cls").status_code == 200
    assert client.get("/api/v1/challenges/tiny2012/tracks/cls/leaderboard").status_code == 200
    got = scrape(client)
    assert got[("challenge_uploads_total", (("outcome", "accepted"),))] == 1
    assert got[("challenge_uploads_total", (("outcome", "bad_file"),))] == 1
    assert got[("challenge_upload_bytes_count", ())] == 1
    assert got[("challenge_upload_bytes_sum", ())] == len(data)
    assert got[("challenge_jobs_started_total", (("queue", "scoring"),))] == 1
    assert got[("challenge_jobs_finished_total", (("outcome", "scored"), ("queue", "scoring")))] == 1
    assert got[("challenge_scoring_seconds_count", (("queue", "scoring"),))] == 1
    assert got[("challenge_scoring_seconds_bucket", (("le", "+Inf"), ("queue", "scoring")))] == 1
    assert 0 < got[("challenge_scoring_seconds_sum", (("queue", "scoring"),))] < 60
    assert got[("challenge_board_render_seconds_count", (("format", "html"),))] == 1
    assert got[("challenge_board_render_seconds_count", (("format", "json"),))] == 1
    assert got[("challenge_queue_jobs", (("queue", "scoring"), ("state", "queued")))] == 0
    assert got[("challenge_submissions", (("status", "scored"),))] == 1
    assert got[("challenge_oldest_queued_seconds", ())] == 0


def test_metrics_token_guards_the_page_when_set(app, client, redis) -> None:
    app.config["METRICS_TOKEN"] = "s3cret-token"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert scrape(client, Authorization="Bearer s3cret-token")


def _redis_away(app) -> None:
    """This app's Redis client now points at a port where nothing listens (one app per test:
    a second app would rebind the suite's global session to an engine of its own)."""
    app.extensions["redis_client"] = redis_lib.Redis.from_url("redis://127.0.0.1:1/0")


def test_recording_never_fails_or_stalls_the_caller_when_redis_is_away(app) -> None:
    import time

    _redis_away(app)
    started = time.monotonic()
    metrics.inc("uploads", outcome="accepted")  # refused connection: dropped, logged
    first = time.monotonic() - started
    for _ in range(100):
        metrics.observe("upload_bytes", 10)  # paused: Redis is not asked again
    assert metrics._paused_until > time.monotonic()
    assert time.monotonic() - started < first + 0.5
    with pytest.raises(ValueError, match="expected"):
        metrics.inc("uploads", queue="scoring")  # a programming error still raises


def test_workers_page_lists_queues_and_failed_jobs_and_retries_one(app, client, db, redis, make_user,
                                                                   make_challenge, make_team) -> None:
    t = team_with_token(make_user, make_challenge, make_team)
    assert api_upload(client, t["token"], perfect_predictions("classification")).status_code == 202
    # The organizers' ground truth is broken: scoring fails as an internal error, in RQ.
    phase_id, good = t["phase"].id, t["phase"].labels_blob_id
    t["phase"].labels_blob = make_blob(db, "labels.txt", b"not a label\n" * 20)
    db.commit()
    drain(app)
    sid = db.query(Submission.id).scalar()
    registry = FailedJobRegistry(queue=get_queue(app))
    assert registry.get_job_ids() == [f"submission-{sid}"]

    organizer = make_user("org@example.org", organizer=True)
    login(client, organizer)
    page = client.get("/admin/workers").get_data(as_text=True)
    cells = '<td class="num">0</td><td class="num">0</td><td class="num">1</td>'
    assert f"<code>scoring</code></td>{cells}" in page
    assert f'href="/admin/submissions/{sid}">score submission {sid}</a>' in page
    assert "No worker is running" in page  # SimpleWorker burst has ended
    assert 'href="/admin/workers"' in client.get("/admin/").get_data(as_text=True)

    db.get(Phase, phase_id).labels_blob_id = good  # fixed; now retry from the console
    db.commit()
    done = client.post("/admin/workers/retry", data={"queue": "scoring", "job_id": f"submission-{sid}"},
                       follow_redirects=True).get_data(as_text=True)
    assert f"Job submission-{sid} is back on scoring." in done
    assert registry.get_job_ids() == []
    assert drain(app)
    db.expire_all()
    assert db.get(Submission, sid).status == "scored"
    again = client.post("/admin/workers/retry", data={"queue": "scoring", "job_id": f"submission-{sid}"},
                        follow_redirects=True).get_data(as_text=True)
    assert "is not among the failed jobs of scoring" in again

    client.get("/logout")
    login(client, make_user("someone@example.org"))
    assert client.get("/admin/workers").status_code == 404
    assert client.post("/admin/workers/retry", data={"queue": "scoring", "job_id": "x"}).status_code == 404


def test_healthz_says_whether_database_and_redis_answer(app, client, redis) -> None:
    ok = client.get("/healthz")
    assert (ok.status_code, ok.get_json()) == (200, {"status": "ok", "database": "ok", "redis": "ok"})
    _redis_away(app)
    away = client.get("/healthz")
    assert away.status_code == 503
    assert away.get_json() == {"status": "unavailable", "database": "ok",
                               "redis": "unreachable (ConnectionError)"}
