"""A track's own class list, replaced from the console's track page: the same checks as the
challenge's list (the ground truth must still load), refused once submissions would change
meaning, audited, and 404 for anyone who does not run the challenge. Real database, Redis
and scoring jobs."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select
from submit_helpers import drain

from challenge import scoring
from challenge.models import AuditEntry, Challenge, ChallengeHost, Submission, Track
from challenge.submissions import service as submissions
from tests.conftest import TINY_WNIDS, perfect_predictions, tiny_files


def login(client, user, password="password123"):
    assert client.post("/login", data={"email": user.email, "password": password}).status_code == 302


def post_classes(client, track_id: int, data: bytes | None, name: str = "classes.txt"):
    form = {} if data is None else {"classes": (io.BytesIO(data), name)}
    return client.post(f"/admin/tracks/{track_id}/classes", data=form, content_type="multipart/form-data")


def class_file(wnids, label: str = "class") -> bytes:
    return "".join(f"{w} {label} {i + 1}\n" for i, w in enumerate(wnids)).encode()


def audit_entries(db, action: str) -> list[AuditEntry]:
    return db.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)).all()


REORDERED = class_file([*TINY_WNIDS[1:], TINY_WNIDS[0]])


@pytest.fixture
def organizer(make_user):
    return make_user("boss@example.org", organizer=True)


def test_a_track_without_submissions_takes_its_own_class_list(client, db, redis, organizer, make_challenge):
    challenge = make_challenge()
    track = challenge.tracks[0]
    login(client, organizer)
    page = client.get(f"/admin/tracks/{track.id}").get_data(as_text=True)
    assert "Now: the challenge's, <code>classes.txt</code>" in page
    assert f'action="/admin/tracks/{track.id}/classes"' in page and 'enctype="multipart/form-data"' in page

    done = post_classes(client, track.id, REORDERED, "reordered.txt")
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/admin/tracks/{track.id}")
    db.expire_all()
    track = db.get(Track, track.id)
    assert track.classes_blob.data == REORDERED
    assert scoring.class_list(track).wnids == (*TINY_WNIDS[1:], TINY_WNIDS[0])
    assert db.get(Challenge, challenge.id).classes_blob.data == tiny_files()["classes.txt"]  # untouched
    [entry] = audit_entries(db, "track.classes")
    assert entry.actor_id == organizer.id and entry.target == f"track:{track.id}"
    assert entry.challenge_id == challenge.id
    assert entry.before["classes_blob_id"] is None and entry.after["classes_blob_id"] == track.classes_blob_id
    assert entry.note == f"class list reordered.txt ({len(TINY_WNIDS)} classes)"
    page = client.get(f"/admin/tracks/{track.id}").get_data(as_text=True)
    assert "Now: the track's own, <code>reordered.txt</code>" in page


def test_a_list_that_would_change_what_scored_numbers_mean_is_refused(app, client, db, redis, organizer,
                                                                    make_user, make_challenge, make_team):
    challenge = make_challenge()
    track = challenge.tracks[0]
    alice = make_user()
    make_team(challenge, alice)
    first = submissions.submit(alice, track.phases[0], "p.txt", perfect_predictions("classification"))
    assert drain(app)
    assert db.get(Submission, first.id).status == "scored"
    login(client, organizer)
    entries = db.scalar(select(func.count(AuditEntry.id)))

    # Class 1 would become another wnid: every stored label and prediction "1" would change meaning.
    refused = post_classes(client, track.id, REORDERED)
    page = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert ("classes: track &#39;cls&#39; has 1 submission(s) scored or being scored, whose class numbers "
            "mean the current list&#39;s classes; in the new list class 1 is "
            f"{TINY_WNIDS[1]}, not {TINY_WNIDS[0]}. Keep the first {len(TINY_WNIDS)} wnids") in page
    # A class dropped from the end is refused the same way (and the ground truth still fits).
    assert post_classes(client, track.id, class_file(TINY_WNIDS[:-1] + ["n09999999"])).status_code == 400
    db.expire_all()
    assert db.get(Track, track.id).classes_blob_id is None
    assert db.scalar(select(func.count(AuditEntry.id))) == entries  # nothing recorded

    # The same numbers with new descriptions, and one class more at the end: accepted.
    longer = class_file([*TINY_WNIDS, "n09999999"], label="renamed")
    assert post_classes(client, track.id, longer).status_code == 302
    db.expire_all()
    assert len(scoring.class_list(db.get(Track, track.id))) == len(TINY_WNIDS) + 1
    assert db.get(Submission, first.id).score.error == 0.0  # the stored score still holds
    second = submissions.submit(alice, db.get(Track, track.id).phases[0], "p.txt",
                                perfect_predictions("classification"))
    assert drain(app)
    db.expire_all()
    second = db.get(Submission, second.id)
    assert second.status == "scored" and second.score.error == 0.0


def test_a_queued_submission_counts_too_and_the_challenges_list_gets_the_same_check(
        client, db, redis, organizer, make_user, make_challenge, make_team):
    """A submission waiting to be scored was made against the current numbering too; and the
    challenge page's class list, which the track reads, is held to the same rule."""
    challenge = make_challenge()
    track = challenge.tracks[0]
    alice = make_user()
    make_team(challenge, alice)
    submissions.submit(alice, track.phases[0], "p.txt", perfect_predictions("classification"))  # queued
    login(client, organizer)
    assert "1 submission(s) scored or being scored" in post_classes(client, track.id, REORDERED).get_data(
        as_text=True)
    on_challenge = client.post(f"/admin/challenges/{challenge.id}/classes",
                               data={"classes": (io.BytesIO(REORDERED), "reordered.txt")},
                               content_type="multipart/form-data")
    assert on_challenge.status_code == 400
    assert "class 1 is" in on_challenge.get_data(as_text=True)
    db.expire_all()
    assert db.get(Challenge, challenge.id).classes_blob.data == tiny_files()["classes.txt"]
    assert db.get(Track, track.id).classes_blob_id is None
    assert audit_entries(db, "track.classes") == audit_entries(db, "challenge.classes") == []


def test_a_list_the_ground_truth_does_not_fit_or_no_file_is_refused_naming_the_field(
        client, db, organizer, make_challenge):
    track = make_challenge().tracks[0]
    login(client, organizer)
    short = post_classes(client, track.id, class_file(TINY_WNIDS[:3]))
    assert short.status_code == 400
    assert "classes: the ground truth of cls/test does not fit the new class list" in short.get_data(
        as_text=True)
    missing = post_classes(client, track.id, None)
    assert missing.status_code == 400
    assert "classes: choose a class list file" in missing.get_data(as_text=True)
    numbers = post_classes(client, track.id, b"1\n2\n")
    assert numbers.status_code == 400 and "classes:" in numbers.get_data(as_text=True)
    db.expire_all()
    assert db.get(Track, track.id).classes_blob_id is None
    assert audit_entries(db, "track.classes") == []


def test_only_those_who_run_the_challenge_reach_it(client, db, organizer, make_user, make_challenge):
    mine, theirs = make_challenge("alpha2012"), make_challenge("bravo2013", year=2013)
    host = make_user("host@example.org")
    db.add(ChallengeHost(challenge_id=mine.id, user_id=host.id))
    db.commit()
    login(client, host)
    assert post_classes(client, theirs.tracks[0].id, REORDERED).status_code == 404
    assert client.get(f"/admin/tracks/{theirs.tracks[0].id}").status_code == 404
    assert post_classes(client, 99_999, REORDERED).status_code == 404
    assert post_classes(client, mine.tracks[0].id, REORDERED).status_code == 302  # a host runs their own
    client.post("/logout")
    login(client, make_user("someone@example.org"))
    assert post_classes(client, mine.tracks[0].id, class_file(TINY_WNIDS)).status_code == 404
    db.expire_all()
    assert db.get(Track, theirs.tracks[0].id).classes_blob_id is None
    [entry] = audit_entries(db, "track.classes")
    assert entry.actor_id == host.id and entry.challenge_id == mine.id
