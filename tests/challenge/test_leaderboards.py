"""Leaderboards: best scored submission per team, shared ranks, and who sees what."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from challenge.leaderboards.service import leaderboard, ranked
from challenge.leaderboards.visibility import Sight, board_visible, may_see_scores_of, scores_sight
from challenge.models import Score, Submission
from challenge.tokens import create_token

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def add_scored(db, phase, team, error, *, minutes=0, method="m", status="scored", cls_error=None):
    """A submission as the scoring job leaves it (the leaderboard only reads committed rows)."""
    n = db.query(Submission).count() + 1
    submission = Submission(
        phase=phase, team=team, method=method, filename="p.txt", stored_path=f"{phase.id}/{n}.txt",
        sha256="0" * 64, size=1, quota_period="total", quota_slot=n, status=status,
        created_at=T0 + timedelta(minutes=minutes),
    )
    if status == "scored":
        submission.score = Score(error=error, error_at_k=[error + 0.1, error], cls_error=cls_error,
                                 ci_low=error - 0.01, ci_high=error + 0.01, images=20)
    db.add(submission)
    db.commit()
    return submission


@pytest.fixture
def board(db, make_user, make_challenge, make_team):
    challenge = make_challenge(guesses=2)
    phase = challenge.tracks[0].phases[0]
    teams = {name: make_team(challenge, make_user(), name=name) for name in "ABCDE"}
    subs = {
        "A-worse": add_scored(db, phase, teams["A"], 0.5, minutes=1, method="first try"),
        "A-best": add_scored(db, phase, teams["A"], 0.3, minutes=5, method="better"),
        "A-same-later": add_scored(db, phase, teams["A"], 0.3, minutes=9, method="same again"),
        "B": add_scored(db, phase, teams["B"], 0.3, minutes=2),
        "C": add_scored(db, phase, teams["C"], 0.4, minutes=3),
        "D": add_scored(db, phase, teams["D"], 0.6, minutes=4),
        "E-queued": add_scored(db, phase, teams["E"], 0.0, status="queued"),
        "E-failed": add_scored(db, phase, teams["E"], 0.0, status="failed"),
    }
    return phase, teams, subs


def test_best_per_team_and_ties_share_a_rank(board):
    phase, _teams, subs = board
    entries = ranked(phase)
    assert [(e.rank, e.team) for e in entries] == [(1, "B"), (1, "A"), (3, "C"), (4, "D")]
    a = entries[1]
    # A's best error, and of its two equal best files the earlier one.
    assert a.submission_id == subs["A-best"].id and a.method == "better"
    assert a.error == 0.3 and a.error_at_k == [pytest.approx(0.4), 0.3]
    assert (a.ci_low, a.ci_high) == (pytest.approx(0.29), pytest.approx(0.31))
    assert all(e.team != "E" for e in entries)  # unscored submissions never rank


def test_empty_phase_has_no_entries(make_challenge):
    assert ranked(make_challenge().tracks[0].phases[0]) == []


NOW = datetime.now(UTC)
BEFORE_CLOSE = {"closes": NOW + timedelta(days=3)}
AFTER_CLOSE = {"opens": NOW - timedelta(days=9), "closes": NOW - timedelta(days=1)}


@pytest.mark.parametrize(
    ("visibility", "dates", "expected"),
    [
        # (anonymous, other team, own team, organizer)
        ("public", BEFORE_CLOSE, (Sight.ALL, Sight.ALL, Sight.ALL, Sight.ALL)),
        ("public", AFTER_CLOSE, (Sight.ALL, Sight.ALL, Sight.ALL, Sight.ALL)),
        ("after-close", BEFORE_CLOSE, (Sight.NONE, Sight.OWN_TEAM, Sight.OWN_TEAM, Sight.ALL)),
        ("after-close", AFTER_CLOSE, (Sight.ALL, Sight.ALL, Sight.ALL, Sight.ALL)),
        ("hidden", BEFORE_CLOSE, (Sight.NONE, Sight.NONE, Sight.NONE, Sight.ALL)),
        ("hidden", AFTER_CLOSE, (Sight.NONE, Sight.NONE, Sight.NONE, Sight.ALL)),
    ],
)
def test_visibility_rules(db, make_user, make_challenge, make_team, visibility, dates, expected):
    challenge = make_challenge(leaderboard=visibility, **dates)
    phase = challenge.tracks[0].phases[0]
    own, other, organizer = make_user(), make_user(), make_user(organizer=True)
    team = make_team(challenge, own)
    make_team(challenge, other)
    add_scored(db, phase, team, 0.25)
    viewers = (None, other, own, organizer)
    assert tuple(scores_sight(phase, v) for v in viewers) == expected

    everyone = expected[0] is Sight.ALL
    assert [board_visible(phase, v) for v in viewers] == [s is Sight.ALL for s in expected]
    # Scores of the team's own submissions (its submission pages):
    assert may_see_scores_of(phase, None, team.id) is everyone
    assert may_see_scores_of(phase, other, team.id) is everyone
    assert may_see_scores_of(phase, own, team.id) is (visibility != "hidden")
    assert may_see_scores_of(phase, organizer, team.id) is True
    # The leaderboard itself follows board_visible.
    assert [len(leaderboard(phase, v)) for v in viewers] == [
        1 if s is Sight.ALL else 0 for s in expected
    ]


def test_after_close_switches_at_the_closing_instant(make_challenge):
    phase = make_challenge(leaderboard="after-close", **BEFORE_CLOSE).tracks[0].phases[0]
    assert not board_visible(phase, None, now=phase.closes_at - timedelta(microseconds=1))
    assert board_visible(phase, None, now=phase.closes_at)


def test_api_leaderboard_public(client, board):
    phase, _teams, subs = board
    body = client.get("/api/v1/challenges/tiny2012/tracks/cls/leaderboard").get_json()
    assert body["visible"] is True
    assert body["phase"]["slug"] == "test" and body["phase"]["status"] == "open"
    first = body["entries"][0]
    assert first == {
        "rank": 1, "team": "B", "submission": subs["B"].id, "method": "m",
        "submitted_at": (T0 + timedelta(minutes=2)).isoformat(), "error": 0.3,
        "error_at_k": [pytest.approx(0.4), 0.3], "ci95": [pytest.approx(0.29), pytest.approx(0.31)],
        "tie_group": 1, "vs_above": None, "outside_data": False, "reference": False,
    }
    assert [(e["rank"], e["team"]) for e in body["entries"]] == [(1, "B"), (1, "A"), (3, "C"), (4, "D")]
    # These rows have no per-image outcomes: only different errors start a new tie group.
    assert [e["tie_group"] for e in body["entries"]] == [1, 1, 2, 3]
    assert all(e["vs_above"] is None for e in body["entries"])
    named = client.get("/api/v1/challenges/tiny2012/tracks/cls/leaderboard?phase=test").get_json()
    assert named == body


def test_api_leaderboard_localization_shows_cls_error(db, client, make_user, make_challenge,
                                                     make_team):
    challenge = make_challenge(task="localization", track_slug="loc")
    team = make_team(challenge, make_user(), name="Boxers")
    add_scored(db, challenge.tracks[0].phases[0], team, 0.45, cls_error=0.2)
    body = client.get("/api/v1/challenges/tiny2012/tracks/loc/leaderboard").get_json()
    assert body["entries"][0]["error"] == 0.45
    assert body["entries"][0]["cls_error"] == 0.2


def test_api_leaderboard_after_close_before_closing(db, client, make_user, make_challenge,
                                                   make_team):
    challenge = make_challenge(leaderboard="after-close")
    member, organizer = make_user(), make_user(organizer=True)
    team = make_team(challenge, member, name="Secretive")
    add_scored(db, challenge.tracks[0].phases[0], team, 0.125)
    url = "/api/v1/challenges/tiny2012/tracks/cls/leaderboard"

    anonymous = client.get(url)
    assert anonymous.status_code == 200
    assert anonymous.get_json()["visible"] is False and anonymous.get_json()["entries"] == []
    assert b"0.125" not in anonymous.data and b"Secretive" not in anonymous.data

    as_member = client.get(url, headers={"Authorization": f"Bearer {create_token(member)}"})
    assert as_member.get_json()["entries"] == []

    as_organizer = client.get(url, headers={"Authorization": f"Bearer {create_token(organizer)}"})
    assert as_organizer.get_json()["visible"] is True
    assert as_organizer.get_json()["entries"][0]["error"] == 0.125


def test_api_leaderboard_errors(client, make_challenge):
    make_challenge()
    assert client.get("/api/v1/challenges/nope/tracks/cls/leaderboard").status_code == 404
    assert client.get("/api/v1/challenges/tiny2012/tracks/nope/leaderboard").status_code == 404
    missing = client.get("/api/v1/challenges/tiny2012/tracks/cls/leaderboard?phase=nope")
    assert missing.status_code == 404 and "nope" in missing.get_json()["error"]
    bad_token = client.get("/api/v1/challenges/tiny2012/tracks/cls/leaderboard",
                           headers={"Authorization": "Bearer not-a-token"})
    assert bad_token.status_code == 401
