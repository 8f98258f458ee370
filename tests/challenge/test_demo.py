"""The demo: a deterministic synthetic bundle, real scored entries, a demo login."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import func, select

from challenge import scoring
from challenge.demo import DEMO_EMAIL, DEMO_PASSWORD, DEMO_SLUG, ENTRIES, load_demo, write_demo_bundle
from challenge.leaderboards.service import ranked
from challenge.models import Challenge, Membership, Submission, User


def test_bundle_is_deterministic(tmp_path):
    write_demo_bundle(tmp_path / "a")
    write_demo_bundle(tmp_path / "b")
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == ["challenge.toml", "classes.txt", "cls_sample.txt", "loc_sample.txt",
                     "val_boxes.csv", "val_labels.txt"]
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_load_demo_scores_real_entries(app, db, client):
    started = time.perf_counter()
    assert load_demo(app) is True
    elapsed = time.perf_counter() - started
    assert elapsed < 3.0, f"demo took {elapsed:.2f} s"

    challenge = db.scalar(select(Challenge))
    assert challenge.slug == DEMO_SLUG and challenge.year == 2012
    assert [t.task for t in challenge.tracks] == ["classification", "localization"]
    assert all(t.phases[0].images == 2000 for t in challenge.tracks)

    submissions = db.scalars(select(Submission)).all()
    assert len(submissions) == 2 * len(ENTRIES)
    assert {s.status for s in submissions} == {"scored"}
    for track in challenge.tracks:
        phase = track.phases[0]
        entries = ranked(phase)
        assert [e.team for e in entries] == ["Aurora Vision", "Harbor Lab", "Northwind"]
        assert [e.rank for e in entries] == [1, 2, 3]
        assert 0.05 < entries[0].error < entries[-1].error < 0.9
        # The stored score is what the scorer says about the stored file.
        best = db.get(Submission, entries[0].submission_id)
        again = scoring.score(Path(app.config["UPLOAD_FOLDER"], best.stored_path).read_bytes(), phase)
        assert again.error == entries[0].error
        if track.task == "localization":
            assert entries[0].cls_error is not None and entries[0].cls_error <= entries[0].error

    # The public sample is a real, scorable prediction file, and it is what the page offers.
    cls_phase = challenge.tracks[0].phases[0]
    sample = client.get(f"/c/{DEMO_SLUG}/cls/sample")
    assert sample.status_code == 200 and sample.data == cls_phase.sample_blob.data
    assert 0.3 < scoring.score(sample.data, cls_phase).error < 0.6
    assert sample.data != cls_phase.labels_blob.data

    page = client.get(f"/c/{DEMO_SLUG}/loc").get_data(as_text=True)
    assert "Aurora Vision" in page and "Deep convnet ensemble" in page


def test_demo_user_can_log_in_and_has_no_team(app, db, client):
    load_demo(app)
    user = db.scalar(select(User).where(User.email == DEMO_EMAIL))
    assert user.check_password(DEMO_PASSWORD)
    assert db.scalar(select(func.count()).select_from(Membership)
                     .where(Membership.user_id == user.id)) == 0
    response = client.post("/login", data={"email": DEMO_EMAIL, "password": DEMO_PASSWORD})
    assert response.status_code == 302
    # Demo team members cannot log in at all.
    member = db.scalar(select(User).where(User.email == "northwind@demo.example.org"))
    assert not member.check_password("")


def test_load_demo_only_into_an_empty_database(app, db, make_challenge):
    make_challenge()
    assert load_demo(app) is False
    assert db.scalar(select(func.count()).select_from(Challenge)) == 1


def test_load_demo_is_idempotent(app, db):
    assert load_demo(app) is True
    assert load_demo(app) is False
    assert db.scalar(select(func.count()).select_from(Submission)) == 2 * len(ENTRIES)


def test_cli_demo(runner, db):
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    assert f"log in as {DEMO_EMAIL} / {DEMO_PASSWORD}" in result.output
    again = runner.invoke(args=["demo"])
    assert "already has a challenge" in again.output


def test_demo_ground_truth_never_served(app, db, client, tmp_path):
    """Every page and API response of the demo, searched for the hidden files' content."""
    load_demo(app)
    write_demo_bundle(tmp_path / "bundle")
    labels = (tmp_path / "bundle" / "val_labels.txt").read_bytes()
    box_rows = (tmp_path / "bundle" / "val_boxes.csv").read_bytes().splitlines()[1:]
    label_runs = [b"\n".join(labels.splitlines()[i:i + 8]) for i in range(0, 2000, 250)]
    urls = ["/", f"/c/{DEMO_SLUG}", "/api/v1/challenges", f"/api/v1/challenges/{DEMO_SLUG}"]
    for track in ("cls", "loc"):
        urls += [f"/c/{DEMO_SLUG}/{track}", f"/c/{DEMO_SLUG}/{track}/sample",
                 f"/api/v1/challenges/{DEMO_SLUG}/tracks/{track}/leaderboard"]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        body = response.data
        assert labels not in body, url
        assert not any(run in body for run in label_runs), url
        assert not any(row in body or row.split(b",", 1)[1] in body for row in box_rows), url
