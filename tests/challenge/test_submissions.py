"""Submitting through the pages: upload form, submission page, file download, team list."""

from __future__ import annotations

import re
from datetime import timedelta
from io import BytesIO
from pathlib import Path
from xml.etree import ElementTree

from flask import g, render_template_string
from flask_login import login_user
from sqlalchemy import func, select
from submit_helpers import drain, team_with_token

from challenge import jobs
from challenge.leaderboards import chart
from challenge.models import Phase, Submission
from challenge.submissions import live, results
from tests.conftest import TINY_LABELS, TINY_WNIDS, perfect_predictions

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


# ---------------------------------------------------------------- live status

def drain_between_requests(app) -> None:
    """drain(), then let the next request load its user afresh.

    The app fixture keeps one app context open for the whole test, so Flask-Login's
    per-request cache (g._login_user) outlives a request, and the job's own app
    context removes the thread's session on exit, detaching that cached user. In
    production every request has its own app context.
    """
    drain(app)
    g.pop("_login_user", None)


def _upload(client, data: bytes | None = None, **fields) -> int:
    response = client.post(UPLOAD, data=form(data or perfect_predictions("classification"), **fields),
                           content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)
    return int(re.search(r"/submissions/(\d+)$", response.headers["Location"]).group(1))


def test_status_json_follows_a_submission_from_queued_to_scored(app, client, db, redis, make_user,
                                                                make_challenge, make_team):
    t = team_with_token(make_user, make_challenge, make_team)
    login(client, t["user"])
    sid = _upload(client)
    queued = client.get(f"/submissions/{sid}/status.json")
    assert queued.status_code == 200 and queued.headers["Cache-Control"] == "no-store"
    body = queued.get_json()
    assert (body["id"], body["status"], body["pending"], body["scores"]) == (sid, "queued", True, None)
    assert body["queue"]["ahead"] == 0 and body["queue"]["position"] == 1
    # Nothing scored yet: the default scoring time, once (position 1).
    assert body["queue"]["estimate_seconds"] == live.DEFAULT_SCORING_SECONDS
    # The badge is the partial's markup, the same the pages render.
    badge = body["badge_html"]
    assert 'class="status status-queued"' in badge and "number 1 in the queue" in badge
    assert f'data-status-url="/submissions/{sid}/status.json"' in body["badge_html"]

    drain_between_requests(app)
    scored = client.get(f"/submissions/{sid}/status.json").get_json()
    assert (scored["status"], scored["pending"], scored["queue"], scored["error"]) == (
        "scored", False, None, None)
    assert scored["scores"]["error"] == 0.0 and scored["scores"]["images"] == 20
    assert "status-scored" in scored["badge_html"] and "queue" not in scored["badge_html"]


def test_status_json_is_for_the_team_and_organizers_only(app, client, db, redis, make_user,
                                                         make_challenge, make_team):
    t = team_with_token(make_user, make_challenge, make_team)
    login(client, t["user"])
    sid = _upload(client)
    client.post("/logout")
    anonymous = client.get(f"/submissions/{sid}/status.json")
    assert anonymous.status_code == 404 and anonymous.get_json() == {"error": "no such submission"}

    other = make_user()
    make_team(t["challenge"], other)
    login(client, other)
    assert client.get(f"/submissions/{sid}/status.json").status_code == 404
    assert client.get(f"/submissions/{sid + 1000}/status.json").status_code == 404
    client.post("/logout")

    login(client, make_user(organizer=True))
    assert client.get(f"/submissions/{sid}/status.json").get_json()["status"] == "queued"


def test_status_json_never_carries_hidden_scores(app, client, db, redis, make_user, make_challenge,
                                                 make_team):
    t = team_with_token(make_user, make_challenge, make_team, leaderboard="hidden")
    login(client, t["user"])
    sid = _upload(client)
    drain_between_requests(app)
    body = client.get(f"/submissions/{sid}/status.json").get_json()
    assert body["status"] == "scored" and body["scores"] is None and body["error"] is None
    # No other field carries a number from the score.
    assert set(body) == {"id", "status", "pending", "note", "error", "queue", "started_at", "finished_at",
                         "badge_html", "scores"}
    assert "0.00" not in body["badge_html"]
    page = client.get(f"/submissions/{sid}").get_data(as_text=True)
    assert 'id="scores"' not in page and "does not show these scores to teams" in page
    client.post("/logout")
    login(client, make_user(organizer=True))
    assert client.get(f"/submissions/{sid}/status.json").get_json()["scores"]["error"] == 0.0


def test_failed_status_carries_the_reason(app, client, db, redis, make_user, make_challenge, make_team):
    t = team_with_token(make_user, make_challenge, make_team)
    login(client, t["user"])
    sid = _upload(client)
    Path(app.config["UPLOAD_FOLDER"], db.get(Submission, sid).stored_path).unlink()
    drain_between_requests(app)
    body = client.get(f"/submissions/{sid}/status.json").get_json()
    assert body["status"] == "failed" and body["error"] == jobs.MISSING_FILE
    assert jobs.MISSING_FILE in body["badge_html"]  # the lists show the reason beside the badge
    listing = client.get(f"/teams/{t['team'].id}/submissions").get_data(as_text=True)
    assert "status-failed" in listing and jobs.MISSING_FILE in listing
    page = client.get(f"/submissions/{sid}").get_data(as_text=True)
    assert page.count(jobs.MISSING_FILE) == 1 and 'id="reason"' in page  # once, in its own row


def test_queue_position_counts_earlier_queued_submissions_across_the_platform(
        app, client, db, redis, make_user, make_challenge, make_team):
    first = team_with_token(make_user, make_challenge, make_team)
    rival_user = make_user()
    make_team(first["challenge"], rival_user)
    login(client, rival_user)
    rival_ids = [_upload(client), _upload(client)]
    client.post("/logout")
    login(client, first["user"])
    mine = _upload(client)
    # Scoring times of earlier work set the estimate: the median of 2 s, 4 s and 30 s is 4 s.
    earlier = db.get(Submission, rival_ids[0])
    for seconds in (2, 4, 30):
        db.add(Submission(phase_id=earlier.phase_id, team_id=earlier.team_id, filename="old.txt",
                          stored_path="x", sha256="0" * 64, size=1, status="scored",
                          quota_period="old", quota_slot=seconds,
                          created_at=earlier.created_at - timedelta(hours=1),
                          started_at=earlier.created_at - timedelta(minutes=30),
                          finished_at=earlier.created_at - timedelta(minutes=30, seconds=-seconds)))
    db.commit()

    body = client.get(f"/submissions/{mine}/status.json").get_json()
    assert (body["queue"]["ahead"], body["queue"]["position"]) == (2, 3)
    assert body["queue"]["estimate_seconds"] == 12.0 and body["queue"]["estimate"] == "about 10 s"
    # The page renders the same position without JavaScript.
    assert "number 3 in the queue" in client.get(f"/submissions/{mine}").get_data(as_text=True)

    # The rival's first submission is picked up: ours moves up; running ones are not counted.
    db.get(Submission, rival_ids[0]).status = "running"
    db.commit()
    assert client.get(f"/submissions/{mine}/status.json").get_json()["queue"]["ahead"] == 1


def test_wait_text_is_rough_and_readable():
    assert [live.wait_text(s) for s in (0.2, 12, 89, 600, 7200)] == [
        "a few seconds", "about 10 s", "about 90 s", "about 10 min", "about 2 h"]


def test_pages_load_the_live_status_script_and_say_to_reload_without_it(
        app, client, db, redis, make_user, make_challenge, make_team):
    t = team_with_token(make_user, make_challenge, make_team)
    login(client, t["user"])
    sid = _upload(client)
    page = client.get(f"/submissions/{sid}").get_data(as_text=True)
    assert 'src="/static/live-status.js"' in page and 'id="submission-live"' in page
    assert "reload the page to see the result" in page
    listing = client.get(f"/teams/{t['team'].id}/submissions").get_data(as_text=True)
    assert 'src="/static/live-status.js"' in listing and f"/submissions/{sid}/status.json" in listing
    track = client.get("/c/tiny2012/cls").get_data(as_text=True)
    assert 'src="/static/live-status.js"' in track and 'src="/static/upload-progress.js"' in track
    assert "<progress" in track and 'class="upload-form"' in track
    for script in ("live-status.js", "upload-progress.js"):
        response = client.get(f"/static/{script}")
        assert response.status_code == 200 and b"use strict" in response.data
        response.close()


def test_the_upload_script_gets_the_redirect_as_json_and_the_flash_survives(
        app, client, db, redis, make_user, make_challenge, make_team):
    t = team_with_token(make_user, make_challenge, make_team)
    login(client, t["user"])
    xhr = {"X-Requested-With": "XMLHttpRequest"}
    accepted = client.post(UPLOAD, data=form(perfect_predictions("classification")),
                           content_type="multipart/form-data", headers=xhr)
    assert accepted.status_code == 200
    target = accepted.get_json()["redirect"]
    assert re.fullmatch(r"/submissions/\d+", target)
    assert "uploaded and queued for scoring" in client.get(target).get_data(as_text=True)

    refused = client.post(UPLOAD, data=form(b"oops\n"), content_type="multipart/form-data", headers=xhr)
    assert refused.get_json() == {"redirect": "/c/tiny2012/cls?phase=test"}
    assert "Upload refused" in client.get(refused.get_json()["redirect"]).get_data(as_text=True)
    assert _count(db) == 1


# ---------------------------------------------------------------- the submission page's results

SVG = "{http://www.w3.org/2000/svg}"


def _svg(page: str) -> ElementTree.Element:
    match = re.search(r"<svg\b.*?</svg>", page, re.S)
    assert match, "no chart on the page"
    return ElementTree.fromstring(match.group(0))  # well-formed XML, or this raises


def _rename_phase(db, phase, slug: str) -> None:
    phase = db.get(type(phase), phase.id)
    phase.slug = slug
    db.commit()


def test_localization_page_charts_both_curves_and_no_per_class_on_test_phases(
        app, client, db, redis, make_user, make_challenge, make_team):
    t = team_with_token(make_user, make_challenge, make_team, task="localization", track_slug="loc")
    login(client, t["user"])
    response = client.post("/c/tiny2012/loc/submissions", data=form(perfect_predictions("localization")),
                           content_type="multipart/form-data")
    sid = int(response.headers["Location"].rsplit("/", 1)[1])
    drain_between_requests(app)
    page = client.get(f"/submissions/{sid}").get_data(as_text=True)
    svg = _svg(page)
    assert svg.get("role") == "img" and svg.get("aria-labelledby") == "error-chart-title error-chart-desc"
    assert svg.find(f"{SVG}title").text == f"Submission {sid}: error against the number of guesses"
    desc = svg.find(f"{SVG}desc").text
    assert "Localization error" in desc and "Classification error" in desc
    texts = [el.text for el in svg.iter(f"{SVG}text")]
    assert "Number of guesses (k)" in texts and "Error (lower is better)" in texts
    x_axis = str(chart.HEIGHT - chart.BOTTOM + 18)  # where the template puts the x ticks
    assert [el.text for el in svg.iter(f"{SVG}text") if el.get("y") == x_axis] == ["1", "2", "3", "4", "5"]
    assert len(list(svg.iter(f"{SVG}polyline"))) == 2  # localization and classification
    assert "Classification error at 1…5 guesses" in page
    # A test phase: aggregates only, no per-class errors.
    assert 'id="per-class"' not in page and "sortable-table.js" in page


def test_validation_pages_list_per_class_errors_worst_first(app, client, db, redis, make_user,
                                                            make_challenge, make_team):
    t = team_with_token(make_user, make_challenge, make_team)
    _rename_phase(db, t["phase"], "val")
    login(client, t["user"])
    # Wrong on both images of class 4 and on one of class 7's two.
    wrong_seven = TINY_LABELS.index(7)
    lines = [(label % 10) + 1 if label == 4 or i == wrong_seven else label
             for i, label in enumerate(TINY_LABELS)]
    sid = _upload(client, "".join(f"{x}\n" for x in lines).encode(), phase="val")
    drain_between_requests(app)
    page = client.get(f"/submissions/{sid}").get_data(as_text=True)
    table = re.search(r'<table class="per-class sortable" id="per-class".*?</table>', page, re.S)
    assert table, page
    rows = re.findall(r"<tr><td class=\"num\">(\d+)</td><td>([^<]*)</td><td><code>(n\d+)</code></td>\s*"
                      r"<td class=\"num\">(\d+)</td>\s*<td class=\"num\" data-value=\"[^\"]*\">([^<]*)</td>",
                      table.group(0))
    assert len(rows) == 10
    assert rows[0] == ("1", "class 4", TINY_WNIDS[3], "4", "1.0000")
    assert rows[1] == ("2", "class 7", TINY_WNIDS[6], "7", "0.5000")
    assert [r[3] for r in rows[2:]] == ["1", "2", "3", "5", "6", "8", "9", "10"]  # ties by ID
    assert all(r[4] == "0.0000" for r in rows[2:])
    assert 'aria-sort="descending"' in table.group(0) and 'data-sort="text"' in table.group(0)
    _svg(page)  # the chart too

    # Hidden scores hide the per-class errors along with everything else.
    phase = db.get(type(t["phase"]), t["phase"].id)
    phase.leaderboard = "hidden"
    db.commit()
    page = client.get(f"/submissions/{sid}").get_data(as_text=True)
    assert 'id="per-class"' not in page and "<svg" not in page


def test_validation_phase_rule():
    assert [results.is_validation(Phase(slug=s)) for s in ("val", "val2", "Validation", "test", "dev")] == [
        True, True, True, False, False]
