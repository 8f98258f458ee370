"""Public pages: the years, a year's tracks, a track (phases, leaderboard, sample, upload)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from test_leaderboards import add_scored

from tests.conftest import TINY_LABELS, tiny_files


def test_index_lists_years(client, make_challenge):
    assert "No challenges yet" in client.get("/").get_data(as_text=True)
    make_challenge("tiny2012", year=2012)
    make_challenge("tiny2013", year=2013)
    page = client.get("/").get_data(as_text=True)
    assert page.index("Tiny 2013") < page.index("Tiny 2012")  # newest first
    assert 'href="/c/tiny2012"' in page and 'href="/c/tiny2012/cls"' in page


def test_year_page_lists_tracks_with_phase_status(client, make_challenge):
    make_challenge(closes=datetime.now(UTC) - timedelta(hours=1),
                   opens=datetime.now(UTC) - timedelta(days=2))
    response = client.get("/c/tiny2012")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "<h1>Tiny 2012</h1>" in page
    assert 'href="/c/tiny2012/cls"' in page and "Tiny classification" in page
    assert "Test (closed)" in page
    assert client.get("/c/nope").status_code == 404


def test_track_page_shows_phases_leaderboard_and_upload(db, client, make_user, make_challenge,
                                                        make_team):
    challenge = make_challenge(task="localization", track_slug="loc", quota=(2, "week"))
    phase = challenge.tracks[0].phases[0]
    add_scored(db, phase, make_team(challenge, make_user(), name="Owls"), 0.375,
               method="Boxy net", cls_error=0.25)
    response = client.get("/c/tiny2012/loc")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Task: <strong>localization</strong>" in page and "up to 5 guesses" in page
    assert "2 per week (UTC)" in page and ">open<" in page and ">public<" in page
    assert "Loc. error (top-5)" in page and "Cls. error (top-5)" in page
    assert "Owls" in page and "Boxy net" in page and "0.37500" in page and "0.25000" in page
    assert 'href="/c/tiny2012/loc/sample?phase=test"' in page
    # The submissions area's upload partial is included (anonymous: a login link).
    assert 'id="upload"' in page and "to submit predictions" in page
    assert client.get("/c/tiny2012/loc?phase=test").get_data(as_text=True) == page
    assert client.get("/c/tiny2012/loc?phase=nope").status_code == 404
    assert client.get("/c/tiny2012/nope").status_code == 404


def test_track_page_for_a_member_has_the_upload_form(client, make_user, make_challenge,
                                                     make_team):
    challenge = make_challenge()
    user = make_user("member@example.org")
    make_team(challenge, user)
    client.post("/login", data={"email": "member@example.org", "password": "password123"})
    page = client.get("/c/tiny2012/cls").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in page and 'name="method"' in page


def test_track_page_hides_after_close_scores(db, client, make_user, make_challenge, make_team):
    challenge = make_challenge(leaderboard="after-close")
    add_scored(db, challenge.tracks[0].phases[0],
               make_team(challenge, make_user(), name="Quiet"), 0.4375)
    page = client.get("/c/tiny2012/cls").get_data(as_text=True)
    assert "Scores are published when the phase closes" in page
    assert "Quiet" not in page and "0.4375" not in page


def test_closed_phase_refuses_uploads_on_the_page(client, make_challenge):
    make_challenge(opens=datetime.now(UTC) - timedelta(days=5),
                   closes=datetime.now(UTC) - timedelta(days=1))
    page = client.get("/c/tiny2012/cls").get_data(as_text=True)
    assert "This phase is closed; uploads are not accepted." in page
    assert 'id="upload"' not in page


def test_sample_download_is_a_prediction_file_not_the_truth(client, make_challenge):
    make_challenge(task="localization", track_slug="loc")
    response = client.get("/c/tiny2012/loc/sample")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="tiny2012-loc-test.sample.txt"'
    )
    lines = response.get_data(as_text=True).splitlines()
    assert len(lines) == len(TINY_LABELS)
    assert lines[0] == "1 0 0 99 99 2 0 0 99 99 3 0 0 99 99 4 0 0 99 99 5 0 0 99 99"
    assert client.get("/c/tiny2012/loc/sample?phase=nope").status_code == 404


def test_hidden_files_never_reach_a_page_or_the_api(db, client, make_user, make_challenge,
                                                    make_team):
    """Crawl everything this area serves and look for the ground truth's bytes."""
    challenge = make_challenge(task="localization", track_slug="loc", leaderboard="public")
    add_scored(db, challenge.tracks[0].phases[0], make_team(challenge, make_user()), 0.5)
    files = tiny_files()
    secrets = [files["labels.txt"], files["boxes.csv"]]
    secrets += [row for row in files["boxes.csv"].splitlines()[1:]]  # every single box row
    labels_joined = " ".join(str(x) for x in TINY_LABELS).encode()
    urls = ["/", "/c/tiny2012", "/c/tiny2012/loc", "/c/tiny2012/loc?phase=test",
            "/c/tiny2012/loc/sample", "/api/v1/challenges", "/api/v1/challenges/tiny2012",
            "/api/v1/challenges/tiny2012/tracks/loc/leaderboard"]
    for url in urls:
        body = client.get(url).data
        for secret in secrets:
            assert secret not in body, url
        assert labels_joined not in body, url
        assert b"labels.txt" not in body and b"boxes.csv" not in body, url


def test_api_challenges(client, make_challenge):
    make_challenge(leaderboard="after-close", quota=(3, "total"))
    listing = client.get("/api/v1/challenges").get_json()
    assert listing == {"challenges": [
        {"slug": "tiny2012", "year": 2012, "title": "Tiny 2012", "tracks": ["cls"]}
    ]}
    detail = client.get("/api/v1/challenges/tiny2012").get_json()
    phase = detail["tracks"][0]["phases"][0]
    assert detail["tracks"][0]["task"] == "classification"
    assert phase["quota"] == {"count": 3, "period": "total"}
    assert phase["leaderboard"] == "after-close" and phase["images"] == 20
    assert set(phase) == {"slug", "title", "opens_at", "closes_at", "status", "images", "quota",
                          "leaderboard"}
    assert client.get("/api/v1/challenges/nope").status_code == 404
