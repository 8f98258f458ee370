"""The organizers' console: organizers only, and the audit log it shows."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from submit_helpers import drain
from test_openapi import validator

from challenge import audit, quota
from challenge.api.openapi import DOCUMENT
from challenge.leaderboards.service import ranked
from challenge.models import AuditEntry, Challenge, Phase, Submission, Team, Track
from challenge.submissions import service as submissions
from tests.conftest import TINY_LABELS, perfect_predictions, tiny_files


def login(client, user, password="password123"):
    assert client.post("/login", data={"email": user.email, "password": password}).status_code == 302


def test_console_is_invisible_to_everyone_but_organizers(client, db, make_user):
    assert client.get("/admin/").status_code == 404
    login(client, make_user("someone@example.org"))
    assert client.get("/admin/").status_code == 404
    assert client.get("/admin/audit").status_code == 404
    assert "Console" not in client.get("/").get_data(as_text=True)


def test_audit_log_lists_recorded_actions_newest_first(client, db, make_user, make_challenge):
    organizer = make_user("boss@example.org", organizer=True)
    challenge = make_challenge()
    audit.record(organizer, "phase.update", "phase:1", challenge_id=challenge.id,
                 before={"quota_count": 5}, after={"quota_count": 2}, note="first")
    audit.record(None, "challenge.load", f"challenge:{challenge.id}", challenge_id=challenge.id,
                 note="second")
    db.commit()
    login(client, organizer)
    assert "Console" in client.get("/").get_data(as_text=True)
    page = client.get("/admin/audit").get_data(as_text=True)
    assert page.index("<td>second</td>") < page.index("<td>first</td>")
    assert "boss@example.org" in page and "command line" in page
    assert "<code>quota_count</code>: <del>5</del> → <ins>2</ins>" in page
    assert "tiny2012" in client.get("/admin/").get_data(as_text=True)


# ------------------------------------------------------------------ console pages


def upload_form(**fields):
    """Multipart form data; bytes values become files."""
    return {k: (io.BytesIO(v), f"{k}.txt") if isinstance(v, bytes) else v for k, v in fields.items()}


def entries(db, action):
    return db.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)).all()


def predictions(wrong: int) -> bytes:
    """Tiny classification predictions with the first ``wrong`` images wrong (top-1 only)."""
    return "".join(f"{(label % 10) + 1 if i < wrong else label}\n"
                   for i, label in enumerate(TINY_LABELS)).encode()


def test_every_console_route_is_404_for_everyone_but_organizers(app, client, db, redis, make_user,
                                                                 make_challenge, make_team):
    user = make_user("competitor@example.org")
    challenge = make_challenge()
    team = make_team(challenge, user)
    phase = challenge.tracks[0].phases[0]
    submission = submissions.submit(user, phase, "p.txt", perfect_predictions("classification"))
    ids = {"challenge_id": challenge.id, "track_id": challenge.tracks[0].id, "phase_id": phase.id,
           "submission_id": submission.id, "team_id": team.id, "slug": challenge.slug}
    rules = [r for r in app.url_map.iter_rules() if r.endpoint.startswith("admin.")]
    assert len(rules) >= 18
    checked = 0
    for who in (None, user):
        if who is not None:
            login(client, who)
        for rule in rules:
            url = app.url_map.bind("localhost").build(
                rule.endpoint, {a: ids.get(a, 1) for a in rule.arguments})
            for method in sorted(rule.methods & {"GET", "POST"}):
                response = client.open(url, method=method, data={"state": "hidden", "reason": "x"})
                assert response.status_code == 404, (who, method, url)
                checked += 1
    assert checked >= 40
    # Nothing was changed by the refused requests.
    assert db.get(Submission, submission.id).moderation == ""
    assert db.scalars(select(AuditEntry)).all() == []


def test_console_creates_a_challenge_track_and_phase_and_edits_them(app, client, db, redis, make_user,
                                                                     make_team):
    organizer = make_user("boss@example.org", organizer=True)
    login(client, organizer)
    files = tiny_files()
    response = client.post("/admin/challenges/new", data=upload_form(
        slug="console2014", year="2014", title="Console 2014", description="made in the console",
        classes=files["classes.txt"]), content_type="multipart/form-data")
    assert response.status_code == 302
    challenge = db.scalar(select(Challenge).where(Challenge.slug == "console2014"))
    assert challenge.year == 2014 and challenge.classes_blob.data == files["classes.txt"]
    [created] = entries(db, "challenge.create")
    assert created.after["slug"] == "console2014" and created.actor_id == organizer.id

    response = client.post(f"/admin/challenges/{challenge.id}/tracks/new",
                           data={"slug": "cls", "title": "Classification", "task": "classification",
                                 "guesses": "5"})
    assert response.status_code == 302
    track = db.scalar(select(Track).where(Track.challenge_id == challenge.id))
    assert (track.task, track.guesses) == ("classification", 5)

    sample = predictions(wrong=3)  # (perfect predictions would equal the labels file: refused)
    response = client.post(f"/admin/tracks/{track.id}/phases/new", data=upload_form(
        slug="val", title="Validation", opens="2014-01-01T00:00", closes="2099-01-01T00:00",
        quota_count="2", quota_period="day", leaderboard="public", labels=files["labels.txt"],
        sample=sample), content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)
    phase = db.scalar(select(Phase).where(Phase.track_id == track.id))
    assert phase.images == len(TINY_LABELS) and phase.quota_count == 2
    assert phase.labels_blob.data == files["labels.txt"] and phase.sample_blob.data == sample
    assert phase.opens_at == datetime(2014, 1, 1, tzinfo=UTC)
    [phase_created] = entries(db, "phase.create")
    assert phase_created.after["quota_count"] == 2 and "labels_blob_id" in phase_created.after

    # The new phase takes uploads and scores them with the new ground truth.
    user = make_user()
    make_team(challenge, user)
    submitted = submissions.submit(user, phase, "p.txt", predictions(wrong=0))
    drain(app)
    submitted = db.get(Submission, submitted.id)
    assert submitted.status == "scored" and submitted.score.error == 0.0

    # Edit the phase: before and after in the audit log; the page shows the new values.
    response = client.post(f"/admin/phases/{phase.id}", data={
        "title": "Validation set", "opens": "2014-01-01T00:00", "closes": "2098-06-30T12:00",
        "quota_count": "7", "quota_period": "week", "leaderboard": "after-close"})
    assert response.status_code == 302
    phase = db.get(Phase, phase.id)
    assert (phase.title, phase.quota_count, phase.quota_period, phase.leaderboard) == (
        "Validation set", 7, "week", "after-close")
    assert phase.closes_at == datetime(2098, 6, 30, 12, 0, tzinfo=UTC)
    [update] = entries(db, "phase.update")
    assert update.before["quota_count"] == 2 and update.after["quota_count"] == 7
    assert update.before["closes_at"].startswith("2099-01-01")
    assert update.after["closes_at"].startswith("2098-06-30")
    page = client.get(f"/admin/phases/{phase.id}").get_data(as_text=True)
    assert 'value="2098-06-30T12:00"' in page and "Validation set" in page

    # Track and challenge edits, audited the same way.
    assert client.post(f"/admin/tracks/{track.id}", data={
        "title": "Task 1", "task": "classification", "guesses": "5"}).status_code == 302
    assert entries(db, "track.update")[0].after["title"] == "Task 1"
    assert client.post(f"/admin/challenges/{challenge.id}", data={
        "year": "2015", "title": "Console 2015", "description": ""}).status_code == 302
    [edit] = entries(db, "challenge.update")
    assert (edit.before["year"], edit.after["year"]) == (2014, 2015)
    assert "phase.update" in client.get("/admin/audit").get_data(as_text=True)


def test_console_refuses_bad_input_naming_the_field_and_changes_nothing(app, client, db, make_user,
                                                                         make_challenge):
    organizer = make_user("boss@example.org", organizer=True)
    challenge = make_challenge()
    track, phase = challenge.tracks[0], challenge.tracks[0].phases[0]
    login(client, organizer)
    before = db.scalars(select(AuditEntry)).all()

    bad_labels = b"1\n2\nnot-a-label\n"
    response = client.post(f"/admin/tracks/{track.id}/phases/new", data=upload_form(
        slug="val", opens="2014-01-01T00:00", closes="2099-01-01T00:00", quota_count="2",
        quota_period="day", leaderboard="public", labels=bad_labels), content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "labels/labels.txt" in page and "line 3" in page

    response = client.post(f"/admin/tracks/{track.id}/phases/new", data=upload_form(
        slug="val", opens="2014-01-01T00:00", closes="2013-01-01T00:00", quota_count="2",
        quota_period="day", leaderboard="public", labels=tiny_files()["labels.txt"]),
        content_type="multipart/form-data")
    assert response.status_code == 400 and "closes:" in response.get_data(as_text=True)

    response = client.post(f"/admin/phases/{phase.id}", data={
        "title": "x", "opens": "yesterday", "closes": "2099-01-01T00:00", "quota_count": "0",
        "quota_period": "day", "leaderboard": "public"})
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "opens:" in page and "quota_count: from 1" in page

    # A class list the ground truth does not fit (3 classes; labels go up to 10).
    response = client.post(f"/admin/challenges/{challenge.id}/classes", data=upload_form(
        classes=b"n00000001\nn00000002\nn00000003\n"), content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "classes: the ground truth of cls/test does not fit" in page

    response = client.post("/admin/challenges/new", data=upload_form(
        slug="Bad Slug", year="2014", title="x", classes=tiny_files()["classes.txt"]),
        content_type="multipart/form-data")
    assert response.status_code == 400 and "slug: &#39;Bad Slug&#39; is not a slug" in response.get_data(
        as_text=True)

    db.expire_all()
    assert [p.slug for p in db.get(Track, track.id).phases] == ["test"]
    assert db.get(Phase, phase.id).quota_count == 5
    assert db.scalars(select(AuditEntry)).all() == before
    assert db.scalar(select(Challenge).where(Challenge.slug == "Bad Slug")) is None


def test_localization_phase_needs_boxes_and_takes_them(app, client, db, make_user, make_challenge):
    organizer = make_user("boss@example.org", organizer=True)
    challenge = make_challenge(task="localization")
    track = challenge.tracks[0]
    login(client, organizer)
    common = {"slug": "val", "opens": "2014-01-01T00:00", "closes": "2099-01-01T00:00",
              "quota_count": "2", "quota_period": "day", "leaderboard": "public",
              "labels": tiny_files()["labels.txt"]}
    response = client.post(f"/admin/tracks/{track.id}/phases/new", data=upload_form(**common),
                           content_type="multipart/form-data")
    assert response.status_code == 400 and "boxes" in response.get_data(as_text=True)
    response = client.post(f"/admin/tracks/{track.id}/phases/new",
                           data=upload_form(**common, boxes=tiny_files()["boxes.csv"]),
                           content_type="multipart/form-data")
    assert response.status_code == 302
    db.refresh(track)
    new = next(p for p in track.phases if p.slug == "val")
    assert new.boxes_blob.data == tiny_files()["boxes.csv"]


def test_quota_changes_keep_existing_slots(app, client, db, redis, make_user, make_challenge, make_team):
    organizer = make_user("boss@example.org", organizer=True)
    user = make_user()
    challenge = make_challenge(quota=(2, "day"))
    make_team(challenge, user)
    phase = challenge.tracks[0].phases[0]
    first = submissions.submit(user, phase, "a.txt", predictions(1))
    second = submissions.submit(user, phase, "b.txt", predictions(2))
    try:
        submissions.submit(user, phase, "c.txt", predictions(3))
        raise AssertionError("the third upload should exceed the quota")
    except submissions.QuotaExceeded:
        pass
    login(client, organizer)
    settings = {"title": "Test", "opens": phase.opens_at.strftime("%Y-%m-%dT%H:%M"),
                "closes": phase.closes_at.strftime("%Y-%m-%dT%H:%M"), "quota_period": "day",
                "leaderboard": "public"}
    assert client.post(f"/admin/phases/{phase.id}", data={**settings, "quota_count": "3"}).status_code == 302
    third = submissions.submit(user, phase, "c.txt", predictions(3))
    assert [s.quota_slot for s in (first, second, third)] == [1, 2, 3]
    assert client.post(f"/admin/phases/{phase.id}", data={**settings, "quota_count": "1"}).status_code == 302
    db.expire_all()
    assert [db.get(Submission, s.id).quota_slot for s in (first, second, third)] == [1, 2, 3]
    try:
        submissions.submit(user, phase, "d.txt", predictions(4))
        raise AssertionError("the lowered quota should refuse a fourth upload")
    except submissions.QuotaExceeded:
        pass


def test_submission_list_filters_and_shows_timings_errors_and_checksums(app, client, db, redis, make_user,
                                                                         make_challenge, make_team):
    organizer = make_user("boss@example.org", organizer=True)
    alice, bob = make_user(), make_user()
    challenge = make_challenge()
    make_team(challenge, alice, name="Alpha")
    make_team(challenge, bob, name="Beta")
    phase = challenge.tracks[0].phases[0]
    good = submissions.submit(alice, phase, "good.txt", predictions(0))
    lost = submissions.submit(bob, phase, "lost.txt", predictions(5))
    # A stored file that vanished: the worker fails the submission with a reason.
    (Path(app.config["UPLOAD_FOLDER"]) / lost.stored_path).unlink()
    drain(app)
    login(client, organizer)
    page = client.get("/admin/submissions").get_data(as_text=True)
    assert f">{good.id}</a>" in page and f">{lost.id}</a>" in page
    assert good.sha256[:12] in page and "missing on the server" in page
    scored = client.get("/admin/submissions?status=scored").get_data(as_text=True)
    assert f">{good.id}</a>" in scored and f">{lost.id}</a>" not in scored
    beta = client.get("/admin/submissions?team=bet").get_data(as_text=True)
    assert f">{lost.id}</a>" in beta and f">{good.id}</a>" not in beta
    both = client.get("/admin/submissions?phase=test&track=cls&challenge=tiny2012").get_data(as_text=True)
    assert f">{good.id}</a>" in both and f">{lost.id}</a>" in both
    assert "No submissions match" in client.get("/admin/submissions?challenge=other").get_data(as_text=True)
    bad = client.get("/admin/submissions?status=bogus").get_data(as_text=True)
    assert "status: &#39;bogus&#39; is not one of" in bad
    detail = client.get(f"/admin/submissions/{good.id}").get_data(as_text=True)
    assert good.sha256 in detail and "1 attempt(s)" in detail and "started" in detail


def test_phase_export_lists_every_submission_as_csv_and_json(app, client, db, redis, make_user,
                                                              make_challenge, make_team):
    organizer = make_user("boss@example.org", organizer=True)
    alice, bob = make_user(), make_user()
    challenge = make_challenge()
    make_team(challenge, alice, name="Alpha")
    make_team(challenge, bob, name="Beta, Inc.")
    phase = challenge.tracks[0].phases[0]
    named = submissions.Metadata(method='net "A"', description="=HYPERLINK(\"http://x\")")
    ids = [submissions.submit(alice, phase, "a.txt", predictions(0), named).id,
           submissions.submit(alice, phase, "b.txt", predictions(4)).id,
           submissions.submit(bob, phase, "c.txt", predictions(10)).id]
    drain(app)
    queued = submissions.submit(bob, phase, "d.txt", predictions(2)).id

    login(client, alice)
    assert client.get(f"/admin/phases/{phase.id}/submissions.csv").status_code == 404
    login(client, organizer)
    response = client.get(f"/admin/phases/{phase.id}/submissions.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "all-submissions.csv" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [int(r["submission_id"]) for r in rows] == [*ids, queued]
    assert [r["status"] for r in rows] == ["scored", "scored", "scored", "queued"]
    assert rows[0]["method"] == 'net "A"' and rows[2]["team"] == "Beta, Inc."
    assert rows[0]["description"] == "'=HYPERLINK(\"http://x\")"  # no formula in a spreadsheet
    assert float(rows[0]["score_error"]) == 0.0 and float(rows[2]["score_error"]) == 0.5
    assert rows[3]["score_error"] == "" and rows[3]["started_at"] == ""
    assert all(len(r["sha256"]) == 64 and int(r["size"]) > 0 for r in rows)

    data = json.loads(client.get(f"/admin/phases/{phase.id}/submissions.json").get_data(as_text=True))
    assert (data["challenge"], data["track"], data["phase"]) == ("tiny2012", "cls", "test")
    assert [s["submission_id"] for s in data["submissions"]] == [*ids, queued]
    assert data["submissions"][0]["description"].startswith("=HYPERLINK")  # JSON keeps it as written
    assert data["submissions"][1]["score_error"] == 0.2 and data["submissions"][3]["score_error"] is None
    assert data["submissions"][0]["finished_at"] is not None and data["submissions"][0]["attempts"] == 1
    assert [e.note for e in entries(db, "phase.export_submissions")] == ["csv", "json"]


def test_reference_entries_are_scored_shown_and_never_ranked(app, client, db, redis, make_user,
                                                              make_challenge, make_team):
    organizer = make_user("boss@example.org", organizer=True)
    alice, bob = make_user(), make_user()
    challenge = make_challenge(quota=(1, "total"))
    make_team(challenge, alice, name="Alpha")
    make_team(challenge, bob, name="Beta")
    phase = challenge.tracks[0].phases[0]
    submissions.submit(alice, phase, "a.txt", predictions(2))
    submissions.submit(bob, phase, "b.txt", predictions(12))
    login(client, organizer)
    for wrong in (6, 4):  # two reference uploads: beyond any quota; the better counts
        response = client.post(f"/admin/phases/{phase.id}/reference", data=upload_form(
            name="Organizers' baseline", method="ResNet-ish", file=predictions(wrong)),
            content_type="multipart/form-data")
        assert response.status_code == 302
    bad = client.post(f"/admin/phases/{phase.id}/reference", data=upload_form(
        name="Organizers' baseline", file=b"1\n2\n"), content_type="multipart/form-data")
    assert bad.status_code == 400 and "file:" in bad.get_data(as_text=True)
    taken = client.post(f"/admin/phases/{phase.id}/reference", data=upload_form(
        name="Alpha", file=predictions(1)), content_type="multipart/form-data")
    assert taken.status_code == 400 and "competing team" in taken.get_data(as_text=True)
    drain(app)

    board = ranked(phase)
    assert [(e.team, e.rank, e.reference) for e in board] == [
        ("Alpha", 1, False), ("Organizers' baseline", None, True), ("Beta", 2, False)]
    assert board[1].error == 0.2 and board[1].group == 0
    assert len(entries(db, "submission.add_reference")) == 2
    assert len(entries(db, "team.create_reference")) == 1

    client.post("/logout")
    page = client.get("/c/tiny2012/cls?phase=test").get_data(as_text=True)
    assert 'class="badge reference"' in page and "Organizers&#39; baseline" in page
    assert page.index("Alpha") < page.index("Organizers&#39; baseline") < page.index("Beta")


def test_api_board_lists_a_reference_entry_unranked_as_documented(app, client, db, redis, make_user,
                                                                  make_challenge, make_team):
    organizer = make_user("boss@example.org", organizer=True)
    alice = make_user()
    challenge = make_challenge()
    make_team(challenge, alice, name="Alpha")
    phase = challenge.tracks[0].phases[0]
    submissions.submit(alice, phase, "a.txt", predictions(6))
    login(client, organizer)
    assert client.post(f"/admin/phases/{phase.id}/reference", data=upload_form(
        name="Baseline", file=predictions(3)), content_type="multipart/form-data").status_code == 302
    drain(app)
    client.post("/logout")
    body = client.get("/api/v1/challenges/tiny2012/tracks/cls/leaderboard").get_json()
    assert [(e["team"], e["rank"], e["reference"]) for e in body["entries"]] == [
        ("Baseline", None, True), ("Alpha", 1, False)]
    schema = DOCUMENT["paths"]["/challenges/{slug}/tracks/{track_slug}/leaderboard"]["get"]["responses"]
    validator(schema["200"]["content"]["application/json"]["schema"]).validate(body)


def test_every_console_page_renders_for_an_organizer(app, client, db, redis, make_user, make_challenge,
                                                     make_team):
    organizer = make_user("boss@example.org", organizer=True)
    alice = make_user()
    challenge = make_challenge(task="localization")
    team = make_team(challenge, alice, name="Alpha")
    track, phase = challenge.tracks[0], challenge.tracks[0].phases[0]
    submission = submissions.submit(alice, phase, "a.txt", perfect_predictions("localization"))
    drain(app)
    login(client, organizer)
    app.config["WTF_CSRF_ENABLED"] = True  # so that every form renders its token
    pages = ["/admin/", "/admin/audit", "/admin/challenges/new", f"/admin/challenges/{challenge.id}",
             f"/admin/challenges/{challenge.id}/tracks/new", f"/admin/tracks/{track.id}",
             f"/admin/tracks/{track.id}/phases/new", f"/admin/phases/{phase.id}", "/admin/submissions",
             f"/admin/submissions/{submission.id}", f"/admin/teams/{team.id}", "/admin/moderation",
             "/admin/flags", "/admin/flags?challenge=tiny2012", "/admin/bundles/upload",
             f"/admin/challenges/{challenge.id}/results", f"/admin/phases/{phase.id}/publish",
             "/admin/audit?action=phase.update&from=2012-01-01", "/admin/submissions?track=cls&status=scored"]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        page = response.get_data(as_text=True)
        assert page.count('method="post"') == page.count('name="csrf_token"'), url
    overview = client.get(f"/admin/challenges/{challenge.id}").get_data(as_text=True)
    assert f'href="/admin/teams/{team.id}">Alpha</a>' in overview
    assert client.get("/admin/challenges/999999").status_code == 404
    assert client.get("/admin/flags?challenge=nope").status_code == 404


def test_console_forms_need_the_csrf_token(app, client, db, make_user, make_challenge):
    app.config["WTF_CSRF_ENABLED"] = True
    organizer = make_user("boss@example.org", organizer=True)
    phase = make_challenge().tracks[0].phases[0]
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"',
                      client.get("/login").get_data(as_text=True)).group(1)
    assert client.post("/login", data={"email": organizer.email, "password": "password123",
                                       "csrf_token": token}).status_code == 302
    settings = {"title": "x", "opens": "2014-01-01T00:00", "closes": "2099-01-01T00:00",
                "quota_count": "9", "quota_period": "day", "leaderboard": "public"}
    assert client.post(f"/admin/phases/{phase.id}", data=settings).status_code == 400
    db.expire_all()
    assert db.get(Phase, phase.id).quota_count == 5
    page = client.get(f"/admin/phases/{phase.id}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    assert client.post(f"/admin/phases/{phase.id}", data={**settings, "csrf_token": token}).status_code == 302
    db.expire_all()
    assert db.get(Phase, phase.id).quota_count == 9


def test_organizers_see_the_traceback_of_an_internal_scoring_failure(app, client, db, redis, make_user,
                                                                     make_challenge, make_team):
    organizer = make_user("boss@example.org", organizer=True)
    alice = make_user()
    challenge = make_challenge()
    make_team(challenge, alice)
    phase = challenge.tracks[0].phases[0]
    submission = submissions.submit(alice, phase, "a.txt", predictions(1))
    # Broken hidden labels: the team reads a plain sentence, organizers the details.
    blob = phase.labels_blob
    broken = b"SECRET-LABEL-TOKEN\n" * 20
    blob.data, blob.sha256 = broken, hashlib.sha256(broken).hexdigest()
    db.commit()
    ids = organizer.id, alice.id
    drain(app)
    # The job ran in this thread's session and rolled it back (it failed): read them again.
    db.remove()
    organizer, alice = (db.get(type(alice), i) for i in ids)
    login(client, alice)
    # An internal failure is tried again (challenge.sweeper): the team sees that, nothing more.
    mine = client.get(f"/submissions/{submission.id}").get_data(as_text=True)
    assert "retrying (attempt 2 of 3)" in mine
    assert "SECRET-LABEL-TOKEN" not in mine and "Traceback" not in mine
    client.post("/logout")
    login(client, organizer)
    page = client.get(f"/admin/submissions/{submission.id}").get_data(as_text=True)
    assert "Failure details" in page and "Traceback" in page and "FormatError" in page


# ------------------------------------------------------------------ moving members

def test_console_moves_a_member_audited_and_their_uploads_follow(app, client, db, redis, make_user,
                                                                make_challenge, make_team):
    organizer = make_user("boss@example.org", organizer=True)
    ada, bob = make_user("ada@example.org"), make_user("bob@example.org")
    challenge = make_challenge(quota=(5, "day"))
    phase = challenge.tracks[0].phases[0]
    nets, other = make_team(challenge, ada, bob, name="Nets"), make_team(challenge, make_user(), name="Other")
    for name in ("a.txt", "b.txt"):
        submissions.submit(ada, phase, name, perfect_predictions("classification"))
    login(client, organizer)
    team_page = client.get(f"/admin/teams/{nets.id}").get_data(as_text=True)
    assert f"/admin/challenges/{challenge.id}/move?email=ada@example.org" in team_page
    url = f"/admin/challenges/{challenge.id}/move"
    page = client.get(f"{url}?email=ada@example.org").get_data(as_text=True)
    assert "Now on:" in page and f'href="/admin/teams/{nets.id}">Nets</a>' in page
    assert "cls/test: 2 uploads counted this day" in page

    refused = client.post(url, data={"email": "ada@example.org", "destination": str(other.id), "reason": ""})
    assert refused.status_code == 400 and "reason: required" in refused.get_data(as_text=True)
    refused = client.post(url, data={"email": "ada@example.org", "destination": "new", "reason": "r"})
    assert refused.status_code == 400 and "new_team: give the new team" in refused.get_data(as_text=True)
    refused = client.post(url, data={"email": "nobody@example.org", "destination": "out", "reason": "r"})
    assert refused.status_code == 400 and "no user with the email" in refused.get_data(as_text=True)
    assert db.scalars(select(AuditEntry)).all() == []

    moved = client.post(url, data={"email": "ADA@example.org", "destination": "new", "new_team": "Ada's",
                                   "reason": "she asked to split"})
    assert moved.status_code == 302
    db.expire_all()
    team = db.scalar(select(Team).where(Team.name == "Ada's"))
    assert moved.headers["Location"] == f"/admin/teams/{team.id}"
    now = datetime.now(UTC)
    assert quota.status(phase, team, now).used == 2
    assert quota.status(phase, db.get(Team, nets.id), now).used == 0
    entry = db.scalars(select(AuditEntry)).one()
    assert (entry.actor_id, entry.action, entry.note, entry.before["team"], entry.after["team"]) == (
        organizer.id, "team.move_member", "she asked to split", "Nets", "Ada's")
    assert "team.move_member" in client.get("/admin/audit").get_data(as_text=True)

    # Into an existing team, then out of every team.
    assert client.post(url, data={"email": "ada@example.org", "destination": str(other.id),
                                  "reason": "merge"}).status_code == 302
    out = client.post(url, data={"email": "ada@example.org", "destination": "out", "reason": "gone"})
    assert out.headers["Location"] == f"/admin/challenges/{challenge.id}"
    same = client.post(url, data={"email": "ada@example.org", "destination": "out", "reason": "again"})
    assert same.status_code == 400 and "nothing to move" in same.get_data(as_text=True)
    assert len(db.scalars(select(AuditEntry)).all()) == 3

    app.config["WTF_CSRF_ENABLED"] = True
    page = client.get(f"{url}?email=ada@example.org&to={other.id}").get_data(as_text=True)
    assert page.count('method="post"') == page.count('name="csrf_token"')
    assert f'<option selected value="{other.id}">' in page
    assert client.post(url, data={"email": "ada@example.org", "destination": "out",
                                  "reason": "r"}).status_code == 400  # no token
