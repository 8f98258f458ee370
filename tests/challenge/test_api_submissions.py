"""The submissions API end to end: upload -> real RQ job -> scores; refusals; who sees what."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select
from submit_helpers import api_upload, drain, team_with_token
from werkzeug.serving import make_server

from challenge.extensions import db as database
from challenge.models import Submission
from challenge.tokens import create_token
from tests.conftest import TINY_LABELS, perfect_predictions


def _stored_files(app) -> list[Path]:
    return [p for p in Path(app.config["UPLOAD_FOLDER"]).rglob("*") if p.is_file()]


def _count(db) -> int:
    return db.scalar(select(func.count()).select_from(Submission))


@pytest.mark.parametrize("task", ["classification", "localization"])
def test_upload_is_scored_by_a_real_worker(app, client, db, redis, make_user, make_challenge,
                                           make_team, task):
    t = team_with_token(make_user, make_challenge, make_team, task=task)
    track = t["track"].slug
    response = api_upload(client, t["token"], perfect_predictions(task), track=track,
                          method="ResNet-0", description="a perfect file")
    assert response.status_code == 202
    body = response.get_json()
    assert body["status"] == "queued"
    queued = client.get(f"/api/v1/submissions/{body['id']}",
                        headers={"Authorization": f"Bearer {t['token']}"}).get_json()
    assert queued["status"] == "queued" and "scores" not in queued
    assert redis.llen(f"rq:queue:{app.config['RQ_QUEUE']}") == 1

    assert drain(app)

    got = client.get(f"/api/v1/submissions/{body['id']}",
                     headers={"Authorization": f"Bearer {t['token']}"}).get_json()
    assert got["status"] == "scored", got
    assert got["error"] is None
    assert got["method"] == "ResNet-0" and got["attempts"] == 1
    assert got["scores"]["error"] == 0.0
    assert got["scores"]["error_at_k"][-1] == 0.0
    assert got["scores"]["images"] == len(TINY_LABELS)
    if task == "localization":
        assert got["scores"]["cls_error"] == 0.0
    else:
        assert "cls_error" not in got["scores"]
    # The stored file is the uploaded bytes.
    row = db.get(Submission, body["id"])
    assert (Path(app.config["UPLOAD_FOLDER"]) / row.stored_path).read_bytes() == perfect_predictions(task)


def test_a_wrong_file_scores_worse(app, client, db, redis, make_user, make_challenge, make_team):
    t = team_with_token(make_user, make_challenge, make_team, guesses=1)
    wrong = "".join(f"{label % 10 + 1}\n" for label in TINY_LABELS).encode()
    sid = api_upload(client, t["token"], wrong).get_json()["id"]
    drain(app)
    scores = client.get(f"/api/v1/submissions/{sid}",
                        headers={"Authorization": f"Bearer {t['token']}"}).get_json()["scores"]
    assert scores["error"] == 1.0


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (b"".join(b"%d\n" % x for x in TINY_LABELS[:2]) + b"cat\n"
         + b"".join(b"%d\n" % x for x in TINY_LABELS[3:]), 3),
        (b"".join(b"%d\n" % x for x in TINY_LABELS[:4]) + b"99\n"
         + b"".join(b"%d\n" % x for x in TINY_LABELS[5:]), 5),
    ],
    ids=["not-a-number", "label-out-of-range"],
)
def test_bad_file_is_400_with_its_line_and_changes_nothing(app, client, db, redis, make_user,
                                                           make_challenge, make_team, data, line):
    t = team_with_token(make_user, make_challenge, make_team, quota=(1, "day"))
    response = api_upload(client, t["token"], data)
    assert response.status_code == 400
    body = response.get_json()
    assert body["line"] == line
    assert str(line) in body["error"]
    assert _count(db) == 0
    assert _stored_files(app) == []
    assert redis.llen(f"rq:queue:{app.config['RQ_QUEUE']}") == 0
    # No quota used: the one allowed upload of the day still goes through.
    assert api_upload(client, t["token"], perfect_predictions("classification")).status_code == 202


def test_short_and_empty_files_are_refused(client, db, redis, make_user, make_challenge, make_team):
    t = team_with_token(make_user, make_challenge, make_team)
    short = api_upload(client, t["token"], b"1\n2\n")
    assert short.status_code == 400
    assert short.get_json()["error"] == "expected 20 lines (one per image), found 2"
    empty = api_upload(client, t["token"], b"")
    assert empty.status_code == 400 and empty.get_json()["error"] == "the file is empty"
    assert _count(db) == 0


def test_missing_file_field_is_400(client, db, make_user, make_challenge, make_team):
    t = team_with_token(make_user, make_challenge, make_team)
    response = client.post("/api/v1/challenges/tiny2012/tracks/cls/submissions", data={"method": "x"},
                           headers={"Authorization": f"Bearer {t['token']}"})
    assert response.status_code == 400
    assert "multipart field 'file'" in response.get_json()["error"]


def test_too_large_is_413(app, client, db, make_user, make_challenge, make_team):
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    t = team_with_token(make_user, make_challenge, make_team)
    # A raw body: the test client would spool a dict form to a temp file nobody reads.
    body, content_type = _multipart(b"1\n" * 600_000)
    response = client.post("/api/v1/challenges/tiny2012/tracks/cls/submissions", data=body,
                           headers={"Authorization": f"Bearer {t['token']}",
                                    "Content-Type": content_type})
    assert response.status_code == 413
    assert "1048576 bytes" in response.get_json()["error"]
    assert _count(db) == 0


def test_without_a_valid_token_is_401(client, db, make_challenge):
    make_challenge()
    assert api_upload(client, None, b"1\n").status_code == 401
    assert api_upload(client, "not-a-token", b"1\n").status_code == 401
    assert client.get("/api/v1/submissions").status_code == 401


def test_not_on_a_team_is_403(client, db, make_user, make_challenge):
    make_challenge()
    response = api_upload(client, create_token(make_user()), perfect_predictions("classification"))
    assert response.status_code == 403
    assert "not on a team for Tiny 2012" in response.get_json()["error"]


def test_unknown_challenge_track_or_phase_is_404(client, db, make_user, make_challenge, make_team):
    t = team_with_token(make_user, make_challenge, make_team)
    good = perfect_predictions("classification")
    assert api_upload(client, t["token"], good, slug="nope").status_code == 404
    assert api_upload(client, t["token"], good, track="nope").status_code == 404
    assert api_upload(client, t["token"], good, phase="nope").status_code == 404


def test_only_the_own_team_sees_a_submission(app, client, db, redis, make_user, make_challenge,
                                             make_team):
    t = team_with_token(make_user, make_challenge, make_team)
    teammate = make_user()
    t["team"].memberships.append(type(t["team"].memberships[0])(
        user=teammate, challenge_id=t["challenge"].id))
    db.commit()
    outsider = make_user()
    make_team(t["challenge"], outsider)
    sid = api_upload(client, t["token"], perfect_predictions("classification")).get_json()["id"]

    def get(user):
        return client.get(f"/api/v1/submissions/{sid}",
                          headers={"Authorization": f"Bearer {create_token(user)}"})

    assert get(teammate).status_code == 200
    assert get(outsider).status_code == 404
    assert get(make_user(organizer=True)).status_code == 200
    assert client.get("/api/v1/submissions/999999",
                      headers={"Authorization": f"Bearer {t['token']}"}).status_code == 404
    mine = client.get("/api/v1/submissions?challenge=tiny2012&track=cls",
                      headers={"Authorization": f"Bearer {t['token']}"}).get_json()["submissions"]
    assert [s["id"] for s in mine] == [sid]
    assert client.get("/api/v1/submissions?challenge=other", headers={
        "Authorization": f"Bearer {t['token']}"}).get_json()["submissions"] == []
    theirs = client.get("/api/v1/submissions",
                        headers={"Authorization": f"Bearer {create_token(outsider)}"}).get_json()
    assert theirs["submissions"] == []


def test_hidden_phase_shows_members_the_status_only(app, client, db, redis, make_user,
                                                    make_challenge, make_team):
    t = team_with_token(make_user, make_challenge, make_team, leaderboard="hidden")
    sid = api_upload(client, t["token"], perfect_predictions("classification")).get_json()["id"]
    drain(app)
    got = client.get(f"/api/v1/submissions/{sid}",
                     headers={"Authorization": f"Bearer {t['token']}"}).get_json()
    assert got["status"] == "scored" and "scores" not in got
    organizer = client.get(f"/api/v1/submissions/{sid}", headers={
        "Authorization": f"Bearer {create_token(make_user(organizer=True))}"}).get_json()
    assert organizer["scores"]["error"] == 0.0


# ------------------------------------------------------------------ the quota race

def _multipart(data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.txt\"\r\n"
        f"Content-Type: text/plain\r\n\r\n"
    ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def test_racing_uploads_for_the_last_slot_on_postgresql(app, db, redis, make_user, make_challenge,
                                                        make_team):
    if database.engine.dialect.name != "postgresql":
        pytest.skip("the quota race needs concurrent transactions on PostgreSQL (set DATABASE_URL)")
    quota = 3
    t = team_with_token(make_user, make_challenge, make_team, quota=(quota, "day"))
    token = t["token"]
    db.remove()  # the server threads use their own sessions
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/api/v1/challenges/tiny2012/tracks/cls/submissions"
    body, content_type = _multipart(perfect_predictions("classification"))
    racers = 8
    barrier = threading.Barrier(racers)
    codes: list[int] = []

    def post() -> None:
        request = urllib.request.Request(url, data=body, method="POST", headers={
            "Authorization": f"Bearer {token}", "Content-Type": content_type})
        barrier.wait(timeout=10)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                codes.append(response.status)
        except urllib.error.HTTPError as exc:
            codes.append(exc.code)

    try:
        threads = [threading.Thread(target=post) for _ in range(racers)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=60)
    finally:
        server.shutdown()
        thread.join(timeout=10)
    assert sorted(codes) == [202] * quota + [429] * (racers - quota)
    slots = db.scalars(select(Submission.quota_slot).order_by(Submission.quota_slot)).all()
    assert slots == list(range(1, quota + 1))
    assert len(_stored_files(app)) == quota
