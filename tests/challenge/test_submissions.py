"""Submitting through the pages: upload form, submission page, file download, team list."""

from __future__ import annotations

import re
from io import BytesIO
from pathlib import Path

from flask import render_template_string
from flask_login import login_user
from sqlalchemy import func, select
from submit_helpers import drain, team_with_token

from challenge.models import Submission
from tests.conftest import TINY_LABELS, perfect_predictions

UPLOAD = "/c/tiny2012/cls/submissions"


def login(client, user, password="password123"):
    response = client.post("/login", data={"email": user.email, "password": password})
    assert response.status_code == 302


def form(data: bytes, **fields):
    return {"file": (BytesIO(data), "preds.txt"), "method": "Net", "description": "d", "extra_data": "no",
            **fields}


def _count(db) -> int:
    return db.scalar(select(func.count()).select_from(Submission))


def test_upload_form_then_submission_page_shows_scores(app, client, db, redis, make_user,
                                                       make_challenge, make_team):
    t = team_with_token(make_user, make_challenge, make_team)
    login(client, t["user"])
    response = client.post(UPLOAD, data=form(perfect_predictions("classification"), phase="test"),
                           content_type="multipart/form-data")
    assert response.status_code == 302
    sid = int(re.search(r"/submissions/(\d+)$", response.headers["Location"]).group(1))
    page = client.get(f"/submissions/{sid}").get_data(as_text=True)
    assert "queued" in page and "Net" in page and "queued for scoring" in page

    drain(app)
    page = client.get(f"/submissions/{sid}").get_data(as_text=True)
    assert 'status-scored' in page and 'id="scores"' in page and "0.00000" in page

    download = client.get(f"/submissions/{sid}/file")
    assert download.status_code == 200
    assert download.data == perfect_predictions("classification")
    assert "attachment" in download.headers["Content-Disposition"]

    listing = client.get(f"/teams/{t['team'].id}/submissions").get_data(as_text=True)
    assert f"/submissions/{sid}" in listing


def test_bad_file_flashes_the_line_and_stores_nothing(app, client, db, make_user, make_challenge,
                                                      make_team):
    t = team_with_token(make_user, make_challenge, make_team)
    login(client, t["user"])
    bad = b"".join(b"%d\n" % x for x in TINY_LABELS[:6]) + b"oops\n"
    bad += b"".join(b"%d\n" % x for x in TINY_LABELS[7:])
    response = client.post(UPLOAD, data=form(bad), content_type="multipart/form-data")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/c/tiny2012/cls?phase=test")
    with client.session_transaction() as session:
        flashes = session["_flashes"]
    assert any("Upload refused" in message and "7" in message for _, message in flashes)
    assert _count(db) == 0
    assert not any(Path(app.config["UPLOAD_FOLDER"]).rglob("*.txt"))


def test_other_teams_and_strangers_cannot_see_a_submission(app, client, db, redis, make_user,
                                                           make_challenge, make_team):
    t = team_with_token(make_user, make_challenge, make_team)
    login(client, t["user"])
    response = client.post(UPLOAD, data=form(perfect_predictions("classification")),
                           content_type="multipart/form-data")
    sid = int(response.headers["Location"].rsplit("/", 1)[1])
    client.post("/logout")
    assert client.get(f"/submissions/{sid}").status_code == 302  # to the login page

    other = make_user()
    make_team(t["challenge"], other)
    login(client, other)
    assert client.get(f"/submissions/{sid}").status_code == 404
    assert client.get(f"/submissions/{sid}/file").status_code == 404
    assert client.get(f"/teams/{t['team'].id}/submissions").status_code == 404


def test_upload_without_a_team_is_refused(app, client, db, make_user, make_challenge):
    make_challenge()
    user = make_user()
    login(client, user)
    response = client.post(UPLOAD, data=form(perfect_predictions("classification")),
                           content_type="multipart/form-data")
    assert response.status_code == 302
    with client.session_transaction() as session:
        assert any("not on a team" in m for _, m in session["_flashes"])
    assert _count(db) == 0


def test_upload_needs_the_csrf_token(app, client, db, make_user, make_challenge, make_team):
    app.config["WTF_CSRF_ENABLED"] = True
    t = team_with_token(make_user, make_challenge, make_team)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"',
                      client.get("/login").get_data(as_text=True)).group(1)
    client.post("/login", data={"email": t["user"].email, "password": "password123",
                                "csrf_token": token})
    refused = client.post(UPLOAD, data=form(perfect_predictions("classification")),
                          content_type="multipart/form-data")
    assert refused.status_code == 400
    assert _count(db) == 0
    accepted = client.post(UPLOAD, data=form(perfect_predictions("classification"), csrf_token=token),
                           content_type="multipart/form-data")
    assert accepted.status_code == 302 and "/submissions/" in accepted.headers["Location"]
    assert _count(db) == 1


def test_upload_partial_renders_the_form_and_the_teams_submissions(app, client, db, redis, make_user,
                                                                   make_challenge, make_team):
    t = team_with_token(make_user, make_challenge, make_team)
    login(client, t["user"])
    client.post(UPLOAD, data=form(perfect_predictions("classification")),
                content_type="multipart/form-data")
    # Rendered the way the track page includes it, with the user logged in.
    with app.test_request_context():
        login_user(t["user"])
        html = render_template_string('{% include "submissions/_upload_form.html" %}',
                                      phase=t["phase"], track=t["track"], challenge=t["challenge"])
    assert f'action="{UPLOAD}"' in html and 'name="csrf_token"' in html
    assert "Your team's submissions" in html and "queued" in html


def test_metadata_is_recorded_and_editable_until_the_phase_closes(app, client, db, redis, make_user,
                                                                  make_challenge, make_team):
    t = team_with_token(make_user, make_challenge, make_team)
    login(client, t["user"])
    response = client.post(UPLOAD, data=form(perfect_predictions("classification"), extra_data="yes",
                                             link="https://example.org/net"),
                           content_type="multipart/form-data")
    sid = int(re.search(r"/submissions/(\d+)$", response.headers["Location"]).group(1))
    submission = db.get(Submission, sid)
    assert (submission.link, submission.extra_data) == ("https://example.org/net", True)
    page = client.get(f"/submissions/{sid}").get_data(as_text=True)
    assert 'href="https://example.org/net"' in page and f"/submissions/{sid}/edit" in page

    # The edit page is prefilled; saving changes the fields, never the file.
    edit = client.get(f"/submissions/{sid}/edit").get_data(as_text=True)
    assert 'value="https://example.org/net"' in edit and 'value="yes" checked' in edit
    saved = client.post(f"/submissions/{sid}/edit", data={"method": "  Net   v2 ", "description": "new",
                                                         "link": "", "extra_data": "no"})
    assert saved.status_code == 302
    db.expire_all()
    submission = db.get(Submission, sid)
    assert (submission.method, submission.description, submission.link, submission.extra_data) == (
        "Net v2", "new", "", False)

    # A script URL is refused with the reason, and nothing changes.
    refused = client.post(f"/submissions/{sid}/edit", data={"method": "x", "link": "javascript:alert(1)",
                                                            "extra_data": "no"})
    assert "must be an http:// or https:// URL" in refused.get_data(as_text=True)
    db.expire_all()
    assert db.get(Submission, sid).method == "Net v2"

    # The outside-data question must be answered on the web form.
    unanswered = form(perfect_predictions("classification"))
    del unanswered["extra_data"]
    before = _count(db)
    client.post(UPLOAD, data=unanswered, content_type="multipart/form-data")
    assert _count(db) == before

    # After the phase closes the page offers no edit and a post is refused.
    phase = db.get(type(t["phase"]), t["phase"].id)
    phase.closes_at = phase.opens_at + (phase.closes_at - phase.opens_at) / 1000000
    db.commit()
    assert f"/submissions/{sid}/edit" not in client.get(f"/submissions/{sid}").get_data(as_text=True)
    late = client.post(f"/submissions/{sid}/edit", data={"method": "late", "extra_data": "no"},
                       follow_redirects=True)
    assert "can no longer be edited" in late.get_data(as_text=True)
    db.expire_all()
    assert db.get(Submission, sid).method == "Net v2"


def test_track_page_shows_the_remaining_quota(app, client, db, redis, make_user, make_challenge,
                                              make_team):
    t = team_with_token(make_user, make_challenge, make_team, quota=(1, "day"))
    login(client, t["user"])
    page = client.get("/c/tiny2012/cls").get_data(as_text=True)
    assert re.search(r"<strong>1</strong> of 1 uploads left\s+this day", page), page
    client.post(UPLOAD, data=form(perfect_predictions("classification")), content_type="multipart/form-data")
    page = client.get("/c/tiny2012/cls").get_data(as_text=True)
    assert "<strong>0</strong> of 1 uploads left" in page and "The next slot opens" in page
