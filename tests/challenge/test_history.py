"""Honest leaderboards: tie groups from real scores, the cache and its invalidation,
sorting, CSV/JSON export, a team's history, and the history of a series across years.

Submissions are stored files scored by the real job (``challenge.jobs.score_submission``),
so Score rows carry real packed per-image outcomes.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

import pytest
import redis as redis_lib
from sqlalchemy import text

from challenge import storage
from challenge.jobs import score_submission
from challenge.leaderboards import cache
from challenge.leaderboards.chart import line_chart
from challenge.leaderboards.service import METHOD, ranked
from challenge.models import Challenge, Phase, Submission, Team
from challenge.queue import get_redis
from tests.challenge.test_openapi import validator
from tests.conftest import TINY_LABELS

NOW = datetime.now(UTC)


def predictions(wrong: int, task: str = "classification") -> bytes:
    """One guess per tiny image; the first ``wrong`` images get a wrong label."""
    lines = []
    for i, label in enumerate(TINY_LABELS):
        guess = label % 10 + 1 if i < wrong else label
        lines.append(f"{guess} 10 10 50 50" if task == "localization" else str(guess))
    return ("\n".join(lines) + "\n").encode()


def submit_and_score(db, phase, team, data: bytes, method: str = "m") -> Submission:
    # Requests and jobs close the thread's session when their app context ends:
    # work on fresh copies of what the caller holds.
    phase, team = db.get(Phase, phase.id), db.get(Team, team.id)
    stored = storage.store(phase.id, data)
    n = db.query(Submission).filter_by(team_id=team.id).count() + 1
    submission = Submission(phase=phase, team=team, method=method, filename="p.txt",
                            stored_path=stored.path, sha256=stored.sha256, size=stored.size,
                            quota_period="total", quota_slot=n)
    db.add(submission)
    db.commit()
    assert score_submission(submission.id) == "scored"
    db.expire_all()
    return submission


def rename(db, team, name: str) -> None:
    # The job closes the thread's session when its app context ends, so objects
    # made before it are detached: change a fresh copy.
    db.get(Team, team.id).name = name
    db.commit()


def login(client, user):
    response = client.post("/login", data={"email": user.email, "password": "password123"})
    assert response.status_code == 302


@pytest.fixture
def four(db, redis, make_user, make_challenge, make_team):
    """Four teams on a 20-image phase: 0, 1, 12 and 13 wrong images."""
    challenge = make_challenge(guesses=1)
    phase = challenge.tracks[0].phases[0]
    teams = {}
    for name, wrong in (("Alpha", 0), ("Bravo", 1), ("Charlie", 12), ("Delta", 13)):
        teams[name] = make_team(challenge, make_user(), name=name)
        submit_and_score(db, phase, teams[name], predictions(wrong), method=f"{wrong} wrong")
    return challenge, phase, teams


def test_tie_groups_from_paired_bootstrap_of_real_outcomes(four):
    _challenge, phase, _teams = four
    entries = ranked(phase)
    assert [e.team for e in entries] == ["Alpha", "Bravo", "Charlie", "Delta"]
    assert [e.error for e in entries] == [0.0, 0.05, 0.6, 0.65]
    alpha, bravo, charlie, delta = entries
    assert alpha.diff is None and alpha.significant is None
    # One image of twenty: a resample misses it often, so no real difference.
    assert bravo.diff == pytest.approx(0.05) and bravo.diff_low == 0.0 and not bravo.significant
    # Eleven more wrong images: a real difference.
    assert charlie.diff == pytest.approx(0.55) and charlie.diff_low > 0 and charlie.significant
    assert delta.diff == pytest.approx(0.05) and not delta.significant
    assert [e.group for e in entries] == [1, 1, 2, 2]


def test_track_page_shows_groups_intervals_and_method(client, four):
    page = client.get("/c/tiny2012/cls").text
    assert METHOD in page
    assert "Tie group" in page and "vs. entry above" in page
    assert "+0.5500 [" in page  # Charlie against Bravo
    assert page.count('class="tied"') == 2  # Bravo and Delta tie with the entry above
    assert 'href="/teams/' in page and "/history" in page


def test_identical_files_share_a_rank_and_a_group(db, redis, make_user, make_challenge, make_team):
    challenge = make_challenge(guesses=1)
    phase = challenge.tracks[0].phases[0]
    for name in ("One", "Two"):
        submit_and_score(db, phase, make_team(challenge, make_user(), name=name), predictions(3))
    entries = ranked(phase)
    assert [(e.rank, e.group) for e in entries] == [(1, 1), (1, 1)]
    assert (entries[1].diff, entries[1].diff_low, entries[1].diff_high) == (0.0, 0.0, 0.0)


def test_localization_pairs_localization_outcomes(db, redis, make_user, make_challenge, make_team):
    challenge = make_challenge(task="localization", guesses=1, track_slug="loc")
    phase = challenge.tracks[0].phases[0]
    for name, wrong in (("Good", 0), ("Bad", 15)):
        submit_and_score(db, phase, make_team(challenge, make_user(), name=name),
                         predictions(wrong, "localization"))
    good, bad = ranked(phase)
    assert (good.error, bad.error) == (0.0, 0.75)
    assert bad.cls_error == 0.75 and bad.significant and bad.group == 2


# ---------------------------------------------------------------- the cache

def rename_behind_the_app(db, team, name: str) -> None:
    # A write around the application (plain SQL): no session hook sees it.
    db.execute(text("UPDATE team SET name = :name WHERE id = :id"), {"name": name, "id": team.id})
    db.commit()


def test_board_is_cached_until_its_version_changes(db, four, make_user, make_team):
    challenge, phase, teams = four
    assert ranked(phase)[0].team == "Alpha"
    # No database check per read: a write around the application is not seen...
    rename_behind_the_app(db, teams["Alpha"], "Sneaky")
    assert ranked(phase)[0].team == "Alpha"
    # ...but every write through it bumps the phase's version after its commit.
    version = cache.version(phase.id)
    rename(db, teams["Alpha"], "Alpha renamed")
    assert cache.version(phase.id) == version + 1
    assert ranked(phase)[0].team == "Alpha renamed"
    # A new score: one bump, recorded as a new score (applied incrementally).
    echo = make_team(challenge, make_user(), name="Echo")
    submission = submit_and_score(db, phase, echo, predictions(5))
    assert cache.version(phase.id) == version + 2
    assert cache.changes(phase.id, version + 1, version + 2) == [f"score:{submission.id}:{echo.id}"]
    assert [e.team for e in ranked(phase)] == ["Alpha renamed", "Bravo", "Echo", "Charlie", "Delta"]


def test_only_comparisons_next_to_a_new_score_are_computed(db, client, four, make_user, make_team):
    challenge, phase, _teams = four
    pairs = f"leaderboard:{phase.id}:pairs"
    assert get_redis().hlen(pairs) == 0
    assert "Alpha" in client.get("/c/tiny2012/cls").text
    assert get_redis().hlen(pairs) == 3  # Alpha-Bravo, Bravo-Charlie, Charlie-Delta
    echo = make_team(db.get(Challenge, challenge.id), make_user(), name="Echo")
    submit_and_score(db, phase, echo, predictions(5))
    assert "Echo" in client.get("/c/tiny2012/cls").text
    assert get_redis().hlen(pairs) == 5  # plus Bravo-Echo and Echo-Charlie; the rest reused


def test_rendered_table_is_cached_per_sort_until_the_version_changes(db, client, four):
    _challenge, phase, teams = four
    assert _teams_in(client.get("/c/tiny2012/cls").text)[0] == "Alpha"
    rename_behind_the_app(db, teams["Alpha"], "Aardvark")
    assert _teams_in(client.get("/c/tiny2012/cls").text)[0] == "Alpha"  # cached HTML
    assert _teams_in(client.get("/c/tiny2012/cls?sort=team").text)[0] == "Alpha"  # cached board
    cache.invalidate(phase.id)  # what `challenge phases reset-boards` does
    assert _teams_in(client.get("/c/tiny2012/cls").text)[0] == "Aardvark"


def test_scores_written_without_the_job_still_change_the_board(db, four):
    _challenge, phase, teams = four
    assert len(ranked(phase)) == 4
    # A rescore in progress: the submission leaves the board at once, with no invalidate call.
    charlie = db.query(Submission).filter_by(team_id=teams["Charlie"].id).one()
    charlie.status = "running"
    db.commit()
    assert [e.team for e in ranked(phase)] == ["Alpha", "Bravo", "Delta"]
    # Delta now sits below Bravo and is compared with it.
    assert ranked(phase)[2].diff == pytest.approx(0.6)


def test_board_without_redis_is_computed(app, client, monkeypatch, four):
    _challenge, phase, _teams = four
    # The app's Redis client, pointed at a server that is not there (a second app
    # would rebind the shared database engine).
    dead = redis_lib.Redis(unix_socket_path="/nonexistent/redis.sock")
    monkeypatch.setitem(app.extensions, "redis_client", dead)
    assert [e.team for e in ranked(phase)] == ["Alpha", "Bravo", "Charlie", "Delta"]
    assert _teams_in(client.get("/c/tiny2012/cls").text) == ["Alpha", "Bravo", "Charlie", "Delta"]
    cache.invalidate(phase.id)  # logged, not raised


# ---------------------------------------------------------------- sorting and exports

def _teams_in(page: str) -> list[str]:
    return re.findall(r'/history">([^<]+)</a>', page)


def test_sort_by_error_columns(client, four):
    assert _teams_in(client.get("/c/tiny2012/cls?sort=top1").text) == ["Alpha", "Bravo", "Charlie", "Delta"]
    by_team = client.get("/c/tiny2012/cls?phase=test&sort=team")
    assert _teams_in(by_team.text) == ["Alpha", "Bravo", "Charlie", "Delta"]
    page = client.get("/c/tiny2012/cls?sort=error").text
    assert 'aria-sort="ascending"' in page


def test_sort_by_team_name_reorders(db, client, four):
    _challenge, _phase, teams = four
    rename(db, teams["Alpha"], "Zulu")
    assert _teams_in(client.get("/c/tiny2012/cls?sort=team").text) == ["Bravo", "Charlie", "Delta", "Zulu"]
    # Ranks and groups still belong to the error ranking.
    assert _teams_in(client.get("/c/tiny2012/cls").text)[0] == "Zulu"


def test_unknown_sort_is_a_clear_400(client, four):
    response = client.get("/c/tiny2012/cls?sort=height")
    assert response.status_code == 400
    assert "unknown sort &#39;height&#39;; expected one of: rank, error, top1" in response.text


def test_csv_export(client, four):
    response = client.get("/c/tiny2012/cls/leaderboard.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert 'filename="tiny2012-cls-test-leaderboard.csv"' in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["rank"], r["tie_group"], r["team"], r["error"]) for r in rows] == [
        ("1", "1", "Alpha", "0.0"), ("2", "1", "Bravo", "0.05"),
        ("3", "2", "Charlie", "0.6"), ("4", "2", "Delta", "0.65"),
    ]
    assert rows[0]["diff_vs_above"] == "" and rows[2]["significant_vs_above"] == "True"
    assert "cls_error" not in rows[0]


def test_json_export(client, four):
    body = client.get("/c/tiny2012/cls/leaderboard.json?phase=test").get_json()
    assert (body["challenge"], body["track"], body["phase"]) == ("tiny2012", "cls", "test")
    assert body["method"] == METHOD
    assert [e["team"] for e in body["entries"]] == ["Alpha", "Bravo", "Charlie", "Delta"]
    assert body["entries"][1]["significant_vs_above"] is False
    assert body["entries"][2]["diff_vs_above"] == pytest.approx(0.55)
    json.dumps(body)  # plain JSON all the way down


@pytest.mark.parametrize("visibility", ["after-close", "hidden"])
def test_exports_honour_visibility(db, client, redis, make_user, make_challenge, make_team, visibility):
    challenge = make_challenge(guesses=1, leaderboard=visibility)
    phase = challenge.tracks[0].phases[0]
    member = make_user()
    submit_and_score(db, phase, make_team(challenge, member, name="Secretive"), predictions(2))
    for path in ("/c/tiny2012/cls/leaderboard.csv", "/c/tiny2012/cls/leaderboard.json"):
        response = client.get(path)
        assert response.status_code == 403
        assert "Secretive" not in response.text and "0.1" not in response.text
    login(client, member)  # a member does not see the whole board before it is published
    assert client.get("/c/tiny2012/cls/leaderboard.json").status_code == 403
    client.post("/logout")
    login(client, make_user(organizer=True))
    assert client.get("/c/tiny2012/cls/leaderboard.json").get_json()["entries"][0]["team"] == "Secretive"


def test_exports_of_unknown_track_or_phase_are_404(client, four):
    assert client.get("/c/tiny2012/nope/leaderboard.csv").status_code == 404
    assert client.get("/c/tiny2012/cls/leaderboard.json?phase=nope").status_code == 404


# ---------------------------------------------------------------- team history

def test_team_history_lists_scored_submissions_over_time(db, client, four):
    _challenge, phase, teams = four
    submit_and_score(db, phase, teams["Delta"], predictions(4), method="better")
    page = client.get(f"/teams/{teams['Delta'].id}/history").text
    assert page.index("13 wrong") < page.index("better")  # oldest first
    assert "0.65000" in page and "0.20000" in page
    assert "<th>Measure</th>" in page and "<td>top-1 error</td>" in page  # its headline, k = 1 guess
    assert client.get("/teams/99999/history").status_code == 404


@pytest.mark.parametrize("visibility", ["after-close", "hidden"])
def test_team_history_honours_visibility(db, client, redis, make_user, make_challenge, make_team,
                                         visibility):
    challenge = make_challenge(guesses=1, leaderboard=visibility)
    phase = challenge.tracks[0].phases[0]
    member = make_user()
    team = make_team(challenge, member, name="Quiet")
    submit_and_score(db, phase, team, predictions(7), method="secret sauce")
    url = f"/teams/{team.id}/history"
    anonymous = client.get(url).text
    assert "secret sauce" not in anonymous and "0.35000" not in anonymous
    assert "No scored submissions to show." in anonymous
    login(client, member)
    own = client.get(url).text
    assert ("0.35000" in own) is (visibility == "after-close")  # hidden: status only, elsewhere
    client.post("/logout")
    login(client, make_user(organizer=True))
    assert "0.35000" in client.get(url).text


# ---------------------------------------------------------------- history across years

@pytest.fixture
def years(db, redis, make_user, make_challenge, make_team):
    """tiny2010 (closed, winner 0.25) and tiny2012 (open, winner 0.05), one series."""
    old = make_challenge("tiny2010", year=2010, guesses=1,
                         opens=NOW - timedelta(days=900), closes=NOW - timedelta(days=800))
    new = make_challenge("tiny2012", year=2012, guesses=1)
    for challenge, errors in ((old, (5, 9)), (new, (1, 6))):
        phase = challenge.tracks[0].phases[0]
        for wrong in errors:
            submit_and_score(db, phase, make_team(challenge, make_user(), name=f"T{wrong}"),
                             predictions(wrong))
    return old, new


def test_history_index_lists_series(client, years):
    page = client.get("/history").text
    assert 'href="/history/tiny"' in page and "2010, 2012" in page


def test_series_page_has_an_accessible_svg_chart_with_links(client, years):
    page = client.get("/history/tiny").text
    svg = page[page.index("<svg"):page.index("</svg>")]
    assert 'role="img"' in svg and 'aria-labelledby="chart-error-title chart-error-desc"' in svg
    assert '<title id="chart-error-title">' in svg and '<desc id="chart-error-desc">' in svg
    assert 'id="panel-cost"' not in page  # no hierarchical track: one panel
    assert ">Year</text>" in svg and "Winning error (lower is better)" in svg
    assert "2010 Tiny classification: 0.2500 (T5)" in svg
    assert "2012 Tiny classification: 0.0500 (T1)" in svg
    assert 'href="/c/tiny2010/cls?phase=test"' in svg and 'href="/c/tiny2012/cls?phase=test"' in svg
    assert "<script" not in page
    ElementTree.fromstring(svg + "</svg>")  # well-formed XML, as standalone SVG must be
    # Two points on one line, the later (lower error) further right and further down.
    circles = re.findall(r'<circle cx="([\d.]+)" cy="([\d.]+)"', svg)
    (x1, y1), (x2, y2) = [(float(x), float(y)) for x, y in circles]
    assert x2 > x1 and y2 > y1
    assert "0.25000" in page and "0.05000" in page  # the same numbers as a table


def test_series_chart_leaves_out_boards_the_viewer_may_not_see(db, client, years):
    _old, new = years
    db.get(Phase, new.tracks[0].phases[0].id).leaderboard = "hidden"
    db.commit()
    svg = client.get("/history/tiny").text
    assert "0.2500 (T5)" in svg and "(T1)" not in svg


def test_unknown_series_is_404(client, years):
    assert client.get("/history/nope").status_code == 404


def test_api_leaderboard_carries_tie_groups_and_paired_intervals(client, four):
    entries = client.get("/api/v1/challenges/tiny2012/tracks/cls/leaderboard").get_json()["entries"]
    assert [e["tie_group"] for e in entries] == [1, 1, 2, 2]
    assert entries[0]["vs_above"] is None
    charlie = entries[2]["vs_above"]
    assert charlie["difference"] == pytest.approx(0.55) and charlie["significant"] is True
    assert charlie["ci95"][0] > 0
    body = client.get("/api/v1/challenges/tiny2012/tracks/cls/leaderboard").get_json()
    validator({"$ref": "#/components/schemas/Leaderboard"}).validate(body)  # as documented


def test_history_and_team_history_are_linked(client, four):
    _challenge, _phase, teams = four
    assert 'href="/history"' in client.get("/").text
    assert f'href="/teams/{teams["Alpha"].id}/history"' in client.get(f"/teams/{teams['Alpha'].id}").text


def test_chart_geometry_rounds_the_axis_and_centres_a_single_year():
    chart = line_chart({"Cost": [(2010, 2.3, "2010: 2.3", "/c/x/cls")]})
    assert [t.label for t in chart.y_ticks] == ["0", "0.5", "1", "1.5", "2", "2.5"]
    (point,) = chart.lines[0].points
    assert point.x == (chart.left + chart.right) / 2
    assert chart.top < point.y < chart.bottom
