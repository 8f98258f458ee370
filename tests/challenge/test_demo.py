"""The demo: four deterministic synthetic years shaped like ILSVRC, real scored entries that
land on the published winning errors, pages that say they are synthetic, a demo login."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

import scorer
from challenge import scoring
from challenge.bundles import PHASE_KEYS
from challenge.challenges.service import phase_status
from challenge.demo import (
    DEMO_EMAIL,
    DEMO_PASSWORD,
    DEMO_SLUG,
    ENTRIES,
    YEARS,
    _tasks_of,
    load_demo,
    write_demo_bundle,
)
from challenge.leaderboards.service import Board, ranked
from challenge.models import Challenge, Membership, Submission, User
from scorer.real import load_real, score_real

#: The teams' entries, and the organizers' baseline (a reference entry) on every track.
SUBMISSIONS = sum(len(_tasks_of(e, y)) for y in YEARS for e in y.entries) + sum(len(y.tracks) for y in YEARS)


def test_bundles_are_deterministic(tmp_path):
    for year in YEARS:
        write_demo_bundle(tmp_path / f"a{year.year}", year)
        write_demo_bundle(tmp_path / f"b{year.year}", year)
        names = sorted(p.name for p in (tmp_path / f"a{year.year}").iterdir())
        for name in names:
            assert (tmp_path / f"a{year.year}" / name).read_bytes() == \
                   (tmp_path / f"b{year.year}" / name).read_bytes(), (year.year, name)
    assert sorted(p.name for p in (tmp_path / "a2010").iterdir()) == [
        "challenge.toml", "meta.mat", "sample.cls.txt", "sample.hier.txt", "test_labels.txt"]
    assert {"blacklist.txt", "public_images.txt", "test_boxes.csv"} <= \
           {p.name for p in (tmp_path / "a2014").iterdir()}
    # 2010's class list is a devkit-style meta.mat with the hierarchical cost matrix.
    classes = scorer.load_classes(tmp_path / "a2010" / "meta.mat")
    assert len(classes) == 100 and classes.cost_matrix is not None and classes.names[0] == "tench"
    assert classes.cost_matrix[2, 3] == 2 and classes.cost_matrix[2, 70] == 14  # shark~shark, ~spider


#: (year, track, winning team, published error): the entries are made to land on these.
WINNERS = [
    (2010, "cls", "NEC-UIUC", 0.282),
    (2012, "cls", "SuperVision", 0.153),
    (2012, "loc", "SuperVision", 0.335),
    (2014, "cls", "GoogLeNet", 0.067),
    (2014, "loc", "VGG", 0.253),
]


#: (year, ranking, winning team, published mean AP) of the detection tracks.
DET_WINNERS = [
    (2013, "all", "UvA-Euvision", 0.226),
    (2014, "all", "GoogLeNet", 0.439),
    (2014, "provided", "NUS", 0.372),
]


@pytest.fixture
def demo(app, db):
    started = time.perf_counter()
    assert load_demo(app) is True
    return time.perf_counter() - started


def _challenge(db, year: int) -> Challenge:
    return db.scalar(select(Challenge).where(Challenge.year == year))


def test_load_demo_scores_real_entries_near_the_published_errors(app, db, demo):
    # About 2.5 s on an idle machine, plus about 2 s for the two detection tracks (200 classes).
    assert demo < 12.0, f"demo took {demo:.2f} s"
    challenges = db.scalars(select(Challenge).order_by(Challenge.year)).all()
    assert [(c.year, c.slug) for c in challenges] == [(y.year, y.slug) for y in YEARS]
    assert [[t.task for t in c.tracks] for c in challenges] == [
        ["classification", "hierarchical"], ["classification", "localization"], ["detection"],
        ["classification", "localization", "detection"]]
    submissions = db.scalars(select(Submission)).all()
    assert len(submissions) == SUBMISSIONS
    assert {s.status for s in submissions} == {"scored"}
    for year, track_slug, team, error in WINNERS:
        track = next(t for t in _challenge(db, year).tracks if t.slug == track_slug)
        entries = ranked(track.phases[0])
        assert entries[0].team == team, (year, track_slug, [e.team for e in entries])
        assert entries[0].error == pytest.approx(error, abs=0.001), (year, track_slug)
        assert len(entries) >= 3 and entries[-1].error > error * 1.3  # a plausible spread
        baseline = [e for e in entries if e.reference]
        assert [(e.team, e.rank) for e in baseline] == [("Organizers' baseline", None)]
        assert baseline[0].error > entries[0].error
        # The stored score is what the scorer says about the stored file.
        best = db.get(Submission, entries[0].submission_id)
        again = scoring.score(Path(app.config["UPLOAD_FOLDER"], best.stored_path).read_bytes(),
                              track.phases[0])
        assert again.error == pytest.approx(best.score.error)
    # 2010: the hierarchical track ranks the same predictions by cost, better systems lower.
    hier = ranked(_challenge(db, 2010).tracks[1].phases[0])
    assert hier[0].team == "NEC-UIUC" and 0.3 < hier[0].error < hier[-1].error
    # 2014 localization: blacklist and an explicit public/private split, both boards on target.
    loc = _challenge(db, 2014).tracks[1].phases[0]
    assert loc.blacklist_blob is not None
    if "public_images" in PHASE_KEYS:  # the bundles' split key (the phases-and-visibility work)
        assert loc.public_images is not None and 0 < len(loc.public_images) < loc.images
    # Detection: mean AP, higher first, on the published winners; 2014 with its two rankings.
    for year, ranking, team, mean_ap in DET_WINNERS:
        det = next(t for t in _challenge(db, year).tracks if t.task == "detection")
        assert det.classes_blob is not None  # its own 200 classes beside the year's CLS list
        entries = ranked(det.phases[0], Board(ranking=ranking))
        assert entries[0].team == team, (year, ranking, [e.team for e in entries])
        assert entries[0].error == pytest.approx(mean_ap, abs=0.001), (year, ranking)
        assert all(a.error >= b.error for a, b in zip(entries, entries[1:], strict=False))
        baseline = [e for e in entries if e.reference]
        teams = [e for e in entries if not e.reference]
        assert [e.team for e in baseline] == ["Organizers' baseline"] and entries[-1].reference
        assert baseline[0].error < teams[-1].error
    assert phase_status(_challenge(db, 2010).tracks[0].phases[0]) == "closed"
    assert all(phase_status(t.phases[0]) == "open" and t.phases[0].sample_blob is not None
               for t in _challenge(db, 2014).tracks)


def test_pages_say_the_entries_are_synthetic_and_history_charts_the_years(client, demo):
    front = client.get("/").get_data(as_text=True)
    main = front[front.index("<main"):]
    # The browser test clicks the front page's first year: the open one.
    first = re.search(r'href="/c/([^/"?#]+)"', main)
    assert first and first.group(1) == DEMO_SLUG
    for year in YEARS:
        page = client.get(f"/c/{year.slug}").get_data(as_text=True)
        assert "This is a synthetic demo" in page and "not their real submissions" in page
    track = client.get(f"/c/{DEMO_SLUG}/cls").get_data(as_text=True)
    assert "synthetic demo" in track and "/sample" in track and "GoogLeNet" in track
    history = re.sub(r"\s+", " ", client.get("/history").get_data(as_text=True))
    assert "ILSVRC (synthetic demo)" in history and "2010, 2012, 2013, 2014" in history
    series = client.get("/history/ilsvrc-demo").get_data(as_text=True)
    assert "<svg" in series
    # The 2010 hierarchical cost (about 2-3) has its own panel, off the error axis (0-0.3).
    errors = series[series.index('id="panel-error"'):series.index('id="panel-cost"')]
    costs = series[series.index('id="panel-cost"'):series.index("</figure>", series.index('id="panel-cost"'))]
    assert "hierarchical" not in errors.lower() and "Winning mean hierarchical cost" in costs
    assert "2010 " in costs and "2012 " not in costs
    # Detection's mean AP (higher is better) is drawn on a panel of its own.
    maps = series[series.index('id="panel-map"'):]
    assert "Winning mean AP" in maps and "2013 " in maps and "(UvA-Euvision)" in maps
    assert "Object detection" not in errors
    # The closed years' results are really published, and linked from the front page.
    for year in YEARS:
        link = f'href="/results/{year.slug}"'
        if year.closes < datetime.now(UTC):
            assert link in main, year.slug
            results = client.get(f"/results/{year.slug}")
            assert results.status_code == 200 and ": final results</h1>" in results.get_data(as_text=True)
        else:
            assert link not in main and client.get(f"/results/{year.slug}").status_code == 404
    # The 2012 results carry the ReaL columns its classification board shows.
    final_2012 = client.get("/results/ilsvrc2012-demo").get_data(as_text=True)
    assert '<th class="num">ReaL top-1</th>' in final_2012 and '<th class="num">ReaL top-5</th>' in final_2012
    for year, _track, team, error in WINNERS:
        # Each point's label: "<year> <track title>: <error> (<team>)".
        found = [float(x) for x in re.findall(rf"{year} [^<]*?: ([0-9.]+) \({team}\)", series)]
        assert any(abs(x - error) < 0.001 for x in found), (year, team, found)


def test_demo_login_sample_and_loading_again(app, db, client, demo):
    # A demo account without a team, to make one and upload.
    user = db.scalar(select(User).where(User.email == DEMO_EMAIL))
    assert user.check_password(DEMO_PASSWORD)
    assert db.scalar(select(func.count()).select_from(Membership)
                     .where(Membership.user_id == user.id)) == 0
    response = client.post("/login", data={"email": DEMO_EMAIL, "password": DEMO_PASSWORD})
    assert response.status_code == 302
    # Demo team members cannot log in at all.
    member = db.scalar(select(User).where(User.email == "supervision@demo.example.org"))
    assert not member.check_password("")
    # The open year's sample is a real, weak baseline file, and what the page offers.
    phase = _challenge(db, 2014).tracks[0].phases[0]
    sample = client.get(f"/c/{DEMO_SLUG}/cls/sample")
    assert sample.status_code == 200 and sample.data == phase.sample_blob.data
    assert 0.4 < scoring.score(sample.data, phase).error < 0.5
    assert sample.data != phase.labels_blob.data
    # Loading again does nothing.
    assert load_demo(app) is False
    assert db.scalar(select(func.count()).select_from(Submission)) == SUBMISSIONS
    assert len({e.team for e in ENTRIES}) >= 12


def test_load_demo_only_into_an_empty_database(app, db, make_challenge):
    make_challenge()
    assert load_demo(app) is False
    assert db.scalar(select(func.count()).select_from(Challenge)) == 1


def test_cli_demo(runner, db):
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    assert f"log in as {DEMO_EMAIL} / {DEMO_PASSWORD}" in result.output
    again = runner.invoke(args=["demo"])
    assert "already has a challenge" in again.output


def test_demo_2012_classification_board_shows_synthetic_real_error(app, db, client, tmp_path, demo):
    """The 2012 demo's classification phase carries synthetic ReaL labels (made with its data,
    no ../shared needed); its board shows ReaL top-1 and top-5, exact to scorer.real."""
    year = next(y for y in YEARS if y.year == 2012)
    truth = write_demo_bundle(tmp_path / "2012", year)
    real = (tmp_path / "2012" / "real.json").read_bytes()
    sets = json.loads(real)
    assert len(sets) == year.images and 0.03 < sum(not s for s in sets) / year.images < 0.09
    cls, loc = _challenge(db, 2012).tracks
    assert cls.phases[0].real_blob.data == real and loc.phases[0].real_blob is None
    classes = scoring.class_list(cls)
    labels = load_real(real, classes, images=year.images)
    # Most sets hold the original label, as in the real ReaL labels (90% of the non-empty ones).
    original = np.array([truth.labels[i] - 1 in {classes.index(sorted(classes.wnids)[j]) for j in s}
                         for i, s in enumerate(sets) if s])
    assert 0.85 < original.mean() < 0.95
    entries = ranked(cls.phases[0])
    for entry in entries:
        stored = db.get(Submission, entry.submission_id)
        data = Path(app.config["UPLOAD_FOLDER"], stored.stored_path).read_bytes()
        parsed = scorer.parse_predictions(data, task="classification", guesses=5, classes=classes,
                                          images=year.images)
        assert entry.real_error_at_k == score_real(parsed.labels, labels, 5)[0]
    page = client.get(f"/c/{year.slug}/cls").get_data(as_text=True)
    assert "ReaL top-1</a></th>" in page and "ReaL top-5</a></th>" in page
    assert "ReaL top-1" not in client.get(f"/c/{year.slug}/loc").get_data(as_text=True)


def test_demo_ground_truth_never_served(app, db, client, tmp_path, demo):
    """Every public page and API response of the demo, searched for the hidden files' content."""
    for year in YEARS:
        folder = tmp_path / str(year.year)
        write_demo_bundle(folder, year)
        labels = (folder / "test_labels.txt").read_bytes()
        hidden_runs = [b"\n".join(labels.splitlines()[i:i + 8]) for i in range(0, year.images, 250)]
        rows: list[bytes] = []
        if (folder / "test_boxes.csv").exists():
            rows = (folder / "test_boxes.csv").read_bytes().splitlines()[1:]
        if (folder / "real.json").exists():  # the ReaL sets are hidden ground truth too
            real = (folder / "real.json").read_bytes()
            hidden_runs += [real[i:i + 40] for i in range(0, len(real) - 40, 997)]
        for name in ("public_images.txt", "blacklist.txt"):
            if (folder / name).exists():
                numbers = (folder / name).read_bytes().splitlines()
                hidden_runs += [b"\n".join(numbers[i:i + 8]) for i in range(0, len(numbers) - 8, 50)]
        urls = ["/", "/history", "/history/ilsvrc-demo", f"/c/{year.slug}", "/api/v1/challenges",
                f"/api/v1/challenges/{year.slug}"]
        for track in year.tracks:
            urls += [f"/c/{year.slug}/{track.slug}", f"/c/{year.slug}/{track.slug}/sample",
                     f"/api/v1/challenges/{year.slug}/tracks/{track.slug}/leaderboard"]
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200, url
            body = response.data
            assert labels not in body, url
            assert not any(run in body for run in hidden_runs), url
            assert not any(row in body or row.split(b",", 1)[1] in body for row in rows[:300]), url
