"""Boards whose cost does not grow with the field: pages of 100 with the viewer's team
pinned, ETag/304, the per-phase version every writer bumps, incremental updates that
rank exactly like a full computation, and stale-while-revalidate under the lock.

Fields of hundreds of teams are written straight into the database (real Score rows
with packed per-image outcomes, no members); the scores that move the board arrive
through the real scoring job (``submit_and_score``).
"""

from __future__ import annotations

import re
import threading
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import select, text

import scorer
from challenge import moderation
from challenge.leaderboards import anonymous as anonymous_pages
from challenge.leaderboards import cache, pages, picks, service
from challenge.leaderboards.publish import publish_private
from challenge.leaderboards.service import Board, compute, ranked, snapshot
from challenge.models import Membership, Phase, Score, Submission, Team
from challenge.submissions.service import Metadata, update_metadata
from challenge.tokens import create_token
from tests.challenge.test_history import login, predictions, submit_and_score
from tests.conftest import TINY_LABELS

IMAGES = len(TINY_LABELS)


def field(db, phase: Phase, n: int, prefix: str = "T") -> list[int]:
    """``n`` teams with one scored submission each: team i has ``i % 19`` wrong images
    (plenty of equal errors, so ties and shared ranks), uploaded i minutes ago."""
    now = datetime.now(UTC)
    rng = np.random.default_rng(n)
    ids = []
    for i in range(n):
        team = Team(challenge_id=phase.track.challenge_id, name=f"{prefix}{i:03d}",
                    invite_code=f"{prefix}-{i:04d}-{n}")
        wrong = i % 19
        outcomes = np.ones(IMAGES, dtype=np.uint8)
        outcomes[rng.choice(IMAGES, wrong, replace=False)] = 0
        error_at_k = scorer.metrics.error_at_each_k(outcomes, phase.track.guesses)
        submission = Submission(phase_id=phase.id, team=team, method=f"m{i}", filename="p.txt",
                                stored_path="x", sha256="0" * 64, size=1, quota_period="total",
                                quota_slot=1, status="scored", created_at=now - timedelta(minutes=i))
        submission.score = Score(error=error_at_k[-1], error_at_k=error_at_k, ci_low=0.0, ci_high=1.0,
                                 images=IMAGES, outcomes=scorer.pack_outcomes(outcomes))
        db.add(submission)
        ids.append(team)
    db.commit()
    return [t.id for t in ids]


@pytest.fixture
def big(db, redis, make_challenge):
    """A public phase with 230 teams: three pages."""
    challenge = make_challenge(guesses=1)
    phase = challenge.tracks[0].phases[0]
    teams = field(db, phase, 230)
    return challenge, db.get(Phase, phase.id), teams


def names(page: str) -> list[str]:
    table = page.split('id="leaderboard"', 1)[1].split("</table>", 1)[0]
    return re.findall(r'/history">([^<]+)</a>', table)


API = "/api/v1/challenges/tiny2012/tracks/cls/leaderboard"


# ---------------------------------------------------------------- pagination

def test_html_and_json_boards_come_in_pages_of_100(client, big):
    _challenge, phase, _teams = big
    everyone = [e.team for e in ranked(phase)]
    assert len(everyone) == 230
    first, third = client.get("/c/tiny2012/cls"), client.get("/c/tiny2012/cls?page=3")
    assert names(first.text) == everyone[:100] and names(third.text) == everyone[200:]
    assert "page 1 of 3" in first.text and 'href="/c/tiny2012/cls?phase=test&amp;board=public' \
        '&amp;ranking=all&amp;sort=rank&amp;page=2" rel="next"' in first.text
    assert 'rel="prev"' in third.text and 'rel="next"' not in third.text
    # Another order pages the same way.
    by_team = client.get("/c/tiny2012/cls?sort=team&page=2")
    assert names(by_team.text) == sorted(everyone, key=str.casefold)[100:200]
    body = client.get(API, query_string={"page": 2}).get_json()
    assert (body["page"], body["pages"], body["total"], body["page_size"]) == (2, 3, 230, 100)
    assert [e["team"] for e in body["entries"]] == everyone[100:200]
    # The downloads stay complete.
    csv = client.get("/c/tiny2012/cls/leaderboard.csv").text
    assert csv.count("\n") == 231
    assert len(client.get("/c/tiny2012/cls/leaderboard.json").get_json()["entries"]) == 230


def test_bad_pages_are_refused_clearly(client, big):
    for value in ("0", "-1", "two", "1.5"):
        page = client.get(f"/c/tiny2012/cls?page={value}")
        assert page.status_code == 404 and "whole number" in page.text
        api = client.get(API, query_string={"page": value})
        assert api.status_code == 400 and "whole number" in api.get_json()["error"]
    assert "this board has 3 pages" in client.get("/c/tiny2012/cls?page=4").text
    assert client.get(API, query_string={"page": 4}).get_json()["error"] == \
        "no page 4: this board has 3 pages of 100 entries"


def test_an_empty_board_has_one_page(client, db, redis, make_challenge):
    make_challenge()
    assert "No scored submissions yet" in client.get("/c/tiny2012/cls?page=1").text
    body = client.get(API).get_json()
    assert (body["page"], body["pages"], body["total"], body["entries"]) == (1, 1, 0, [])
    assert client.get("/c/tiny2012/cls?page=2").status_code == 404


# ---------------------------------------------------------------- the viewer's own team

def test_the_viewers_team_is_pinned_beside_a_page_it_is_not_on(app, client, db, big, make_user):
    challenge, phase, teams = big
    board = ranked(phase)
    mine = board[250 - 30]  # on page 3
    user = make_user()
    db.add(Membership(team_id=mine.team_id, user_id=user.id, challenge_id=challenge.id))
    db.commit()
    anonymous = client.get("/c/tiny2012/cls").text  # cached page shared with everyone
    login(client, user)
    first = client.get("/c/tiny2012/cls").text
    pinned = first.split('id="your-team"', 1)[1].split("</table>", 1)[0]
    assert mine.team in pinned and "page 3 in rank order" in pinned
    assert first.index('id="your-team"') > first.index('id="leaderboard"')  # below page 1
    assert mine.team not in names(first) and 'id="your-team"' not in anonymous
    assert 'id="your-team"' not in client.get("/c/tiny2012/cls?page=3").text  # on it: not pinned
    by_team = client.get("/c/tiny2012/cls?sort=team").text
    assert by_team.index('id="your-team"') < by_team.index('id="leaderboard"')  # another order: above
    # The shared cache holds no viewer: the anonymous page is unchanged.
    client.post("/logout")
    assert client.get("/c/tiny2012/cls").text.count('id="your-team"') == 0
    token = create_token(user)
    body = client.get(API, headers={"Authorization": f"Bearer {token}"}).get_json()
    assert body["viewer_entry"]["team"] == mine.team and body["viewer_entry"]["page"] == 3
    assert body["viewer_entry"]["rank"] == mine.rank
    assert client.get(API, query_string={"page": 3},
                      headers={"Authorization": f"Bearer {token}"}).get_json()["viewer_entry"] is None
    assert client.get(API).get_json()["viewer_entry"] is None


# ---------------------------------------------------------------- ETag / 304

def test_etag_answers_304_until_the_board_changes(client, db, big, make_user, make_team):
    challenge, phase, _teams = big
    for url in ("/c/tiny2012/cls?page=2", API + "?page=2"):
        first = client.get(url)
        tag = first.headers["ETag"]
        assert tag.startswith('W/"') and first.headers["Cache-Control"] == "private, no-cache"
        again = client.get(url, headers={"If-None-Match": tag})
        assert again.status_code == 304 and again.data == b""
        assert client.get(url.replace("page=2", "page=3"), headers={"If-None-Match": tag}).status_code == 200
    tags = {url: client.get(url).headers["ETag"] for url in ("/c/tiny2012/cls", API)}
    submit_and_score(db, phase, make_team(db.merge(challenge), make_user(), name="Newcomer"), predictions(0))
    for url, tag in tags.items():
        fresh = client.get(url, headers={"If-None-Match": tag})
        assert fresh.status_code == 200 and fresh.headers["ETag"] != tag and "Newcomer" in fresh.text


def test_an_edit_of_the_rows_around_the_board_is_never_answered_with_304(client, db, big):
    """The board version does not move when an organizer edits the challenge's title or a
    phase's closing time; the ETag names those rows too, so the edit shows at once."""
    challenge, phase, _teams = big
    tags = {url: client.get(url).headers["ETag"] for url in ("/c/tiny2012/cls", API)}
    version = cache.version(phase.id)
    db.merge(challenge).title = "Renamed challenge 2012"
    db.get(Phase, phase.id).closes_at += timedelta(days=3)
    db.commit()
    assert cache.version(phase.id) == version + 1  # the phase edit bumps; the title does not
    db.get(Phase, phase.id).closes_at -= timedelta(days=3)
    db.commit()
    db.merge(challenge).title = "Renamed again"
    db.commit()
    html = client.get("/c/tiny2012/cls", headers={"If-None-Match": tags["/c/tiny2012/cls"]})
    assert html.status_code == 200 and "Renamed again" in html.text
    assert client.get(API, headers={"If-None-Match": tags[API]}).status_code == 200


def test_anonymous_pages_are_kept_by_url_and_etag_and_never_a_members(
        client, db, big, make_user, make_team):
    challenge, phase, _teams = big
    url = "/c/tiny2012/cls?page=2"
    first = client.get(url)
    tag = first.headers["ETag"].removeprefix("W/").strip('"')
    assert anonymous_pages.get(url, tag) == first.data
    again = client.get(url)
    assert again.data == first.data and again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Cache-Control"] == "private, no-cache"
    # A new score: another ETag, a fresh page with the newcomer; the old one is not served.
    newcomer = make_user(name="Visible Newcomer")
    submit_and_score(db, phase, make_team(db.merge(challenge), newcomer, name="Newcomer"), predictions(0))
    assert "Newcomer" in client.get("/c/tiny2012/cls").text
    assert client.get(url).headers["ETag"] != first.headers["ETag"]
    # A logged-in viewer's page (their name in the menu, their team pinned) is never kept,
    # and no anonymous visitor is served it.
    login(client, newcomer)
    mine = client.get(url)
    assert "Visible Newcomer" in mine.text
    mine_tag = mine.headers["ETag"].removeprefix("W/").strip('"')
    assert anonymous_pages.get(url, mine_tag) is None
    client.post("/logout", data={})
    other = client.application.test_client()
    assert "Visible Newcomer" not in other.get(url).text


def test_without_redis_no_anonymous_page_is_kept(app, client, big, monkeypatch):
    """A board computed for one request (Redis away) has no version: its page is not kept."""
    import redis as redis_lib

    # This app's Redis client points at a port where nothing listens.
    monkeypatch.setitem(app.extensions, "redis_client", redis_lib.Redis.from_url("redis://127.0.0.1:1/0"))
    response = client.get("/c/tiny2012/cls")
    assert response.status_code == 200 and "T000" in response.text
    tag = response.headers["ETag"].removeprefix("W/").strip('"')
    assert anonymous_pages.get("/c/tiny2012/cls", tag) is None


# ---------------------------------------------------------------- every writer bumps the version

def test_every_writer_bumps_the_version_and_a_disqualified_entry_goes_at_once(
        app, client, db, redis, make_user, make_challenge, make_team):
    challenge = make_challenge(guesses=1)
    phase = challenge.tracks[0].phases[0]
    user = make_user()
    teams = {n: make_team(challenge, *( [user] if n == "A" else [make_user()]), name=n) for n in "ABC"}
    subs = {n: submit_and_score(db, phase, teams[n], predictions(w))
            for n, w in zip("ABC", (0, 3, 6), strict=True)}
    entries = lambda: [e["team"] for e in client.get(API).get_json()["entries"]]  # noqa: E731
    assert entries() == ["A", "B", "C"]

    def bumps(write) -> list[str]:
        before = cache.version(phase.id)
        write()
        db.expire_all()
        return cache.changes(phase.id, before, cache.version(phase.id)) or []

    # Moderation: a disqualified entry leaves the board with the next read.
    assert bumps(lambda: moderation.moderate_submission(
        None, db.get(Submission, subs["B"].id), "disqualified", "copied")) == ["all"]
    assert entries() == ["A", "C"]
    assert bumps(lambda: moderation.moderate_submission(None, db.get(Submission, subs["B"].id), "", ""))
    assert entries() == ["A", "B", "C"]
    assert bumps(lambda: moderation.moderate_team(None, db.get(Team, teams["C"].id), "hidden", "test"))
    assert entries() == ["A", "B"]
    # A new score: recorded as one, for an incremental update.
    late = make_team(db.merge(challenge), make_user(), name="D")
    before = cache.version(phase.id)
    sub = submit_and_score(db, phase, late, predictions(1))
    assert cache.changes(phase.id, before, cache.version(phase.id)) == [f"score:{sub.id}:{late.id}"]
    assert entries() == ["A", "D", "B"]
    # The team's own edits, renames, final picks, phase and track settings, publishing.
    assert bumps(lambda: update_metadata(db.merge(user), db.get(Submission, subs["A"].id),
                                         Metadata(method="renamed method")))
    assert client.get(API).get_json()["entries"][0]["method"] == "renamed method"
    assert bumps(lambda: (setattr(db.get(Team, teams["A"].id), "name", "A2"), db.commit()))
    assert entries()[0] == "A2"
    assert bumps(lambda: picks.set_final(db.merge(user), db.get(Submission, subs["A"].id), True))
    assert bumps(lambda: (setattr(db.get(Phase, phase.id), "leaderboard", "hidden"), db.commit()))
    assert client.get(API).get_json()["visible"] is False
    assert bumps(lambda: (setattr(db.get(Phase, phase.id), "leaderboard", "public"), db.commit()))
    assert bumps(lambda: (setattr(db.get(Phase, phase.id).track, "title", "Renamed"), db.commit()))
    # A rescore in progress takes the entry off the board (a status change, no job).
    assert bumps(lambda: (setattr(db.get(Submission, sub.id), "status", "running"), db.commit()))
    assert entries() == ["A2", "B"]
    # What does not change a board does not bump it: a queued upload, a job starting.
    assert bumps(lambda: (db.add(Submission(phase_id=phase.id, team_id=late.id, filename="q", stored_path="q",
                                            sha256="q" * 64, size=1, quota_period="total", quota_slot=2)),
                          db.commit())) == []


def test_publishing_the_private_board_bumps_the_version(db, redis, make_challenge):
    closed = datetime.now(UTC) - timedelta(hours=1)
    challenge = make_challenge(opens=closed - timedelta(days=2), closes=closed)
    phase = challenge.tracks[0].phases[0]
    phase.public_fraction = 0.5
    db.commit()
    before = cache.version(phase.id)
    publish_private(None, db.get(Phase, phase.id))
    assert cache.version(phase.id) == before + 1


# ---------------------------------------------------------------- incremental = full

def _shape(entries) -> list[tuple]:
    return [(e.team_id, e.submission_id, e.rank, e.group, e.error, e.diff, e.diff_low, e.diff_high,
             e.reference) for e in entries]


def test_a_new_score_moves_only_its_entry_and_ranks_as_a_full_computation(
        db, redis, make_challenge, make_user, make_team):
    challenge = make_challenge(guesses=1)
    phase = challenge.tracks[0].phases[0]
    team_ids = field(db, phase, 40)
    reference = make_team(db.merge(challenge), name="Baseline")
    db.get(Team, reference.id).is_reference = True
    db.commit()
    submit_and_score(db, phase, reference, predictions(5))
    assert len(ranked(phase)) == 41
    # Renamed around the application: only a full computation would read the new name,
    # so the old one staying proves the updates below were incremental.
    db.execute(text("UPDATE team SET name = 'renamed' WHERE id = :id"), {"id": team_ids[39]})
    db.commit()
    improver = db.get(Team, team_ids[18])  # 18 wrong: last place among equals
    arrivals = [
        (make_team(db.merge(challenge), make_user(), name="Best"), 0),  # new first place
        (make_team(db.merge(challenge), make_user(), name="Middle"), 7),  # ties others at 7 wrong
        (improver, 2),  # an existing team improves: its old entry goes
        (improver, 15),  # ...then submits something worse: nothing moves
        (make_team(db.merge(challenge), make_user(), name="Last"), 20),  # every image wrong
    ]
    for team, wrong in arrivals:
        before = ranked(phase)
        version = cache.version(phase.id)
        submit_and_score(db, phase, team, predictions(wrong))
        assert cache.changes(phase.id, version, cache.version(phase.id))[0].startswith("score:")
        after = ranked(phase)
        full = compute(phase)
        assert _shape(after) == _shape(full)
        # Only this team's entry moved: everyone else keeps their order.
        others = [e.submission_id for e in after if e.team_id != team.id]
        assert others == [e.submission_id for e in before if e.team_id != team.id]
        assert next(e.team for e in after if e.team_id == team_ids[39]) == "T039"  # not re-read
    assert next(e.team for e in compute(phase) if e.team_id == team_ids[39]) == "renamed"
    assert next(e.rank for e in ranked(phase) if e.team == "Best") == 1
    assert sum(e.team_id == improver.id for e in ranked(phase)) == 1


def test_an_update_bootstraps_only_the_new_neighbours(db, redis, make_challenge, make_user, make_team):
    challenge = make_challenge(guesses=1)
    phase = challenge.tracks[0].phases[0]
    field(db, phase, 30)
    ranked(phase)
    pairs = f"leaderboard:{phase.id}:pairs"
    assert redis.hlen(pairs) == 29
    submit_and_score(db, phase, make_team(db.merge(challenge), make_user(), name="New"), predictions(9))
    ranked(phase)
    assert redis.hlen(pairs) == 31  # the new entry with the one above and the one below


# ---------------------------------------------------------------- one recompute, under the lock

def test_readers_get_the_previous_version_while_the_lock_is_held(db, redis, client, make_challenge,
                                                                 make_user, make_team):
    challenge = make_challenge(guesses=1)
    phase = challenge.tracks[0].phases[0]
    field(db, phase, 5)
    old = [e.team for e in ranked(phase)]
    variant = Board().variant(db.get(Phase, phase.id))
    submit_and_score(db, phase, make_team(db.merge(challenge), make_user(), name="Late"), predictions(0))
    token = cache.lock(phase.id, variant)  # another process is recomputing
    assert token is not None
    assert [e.team for e in ranked(phase)] == old  # stale, at once
    assert "Late" not in client.get("/c/tiny2012/cls").text
    cache.unlock(phase.id, variant, token)
    assert "Late" in [e.team for e in ranked(phase)]


def test_with_nothing_stored_readers_wait_for_the_one_computing(app, db, redis, make_challenge):
    challenge = make_challenge(guesses=1)
    phase = challenge.tracks[0].phases[0]
    field(db, phase, 5)
    phase = db.get(Phase, phase.id)
    variant = Board().variant(phase)
    token = cache.lock(phase.id, variant)

    def finish() -> None:
        time.sleep(0.3)
        with app.app_context():
            cache.unlock(phase.id, variant, token)  # died without storing anything

    threading.Thread(target=finish).start()
    started = time.monotonic()
    snap = snapshot(phase)
    assert time.monotonic() - started >= 0.3 and snap.total == 5
    assert cache.board_version(phase.id, variant)[1][:2] == (snap.version, 5)  # it took over and stored


def test_a_recompute_is_done_once_for_many_readers(app, db, redis, make_challenge):
    challenge = make_challenge(guesses=1)
    phase = challenge.tracks[0].phases[0]
    field(db, phase, 50)
    phase_id = phase.id
    computed: list[int] = []
    results: list[int] = []

    def read() -> None:
        with app.app_context():
            snap = snapshot(db.get(Phase, phase_id))
            results.append(snap.total)
            if snap.rows is not None:
                computed.append(1)

    threads = [threading.Thread(target=read) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [50] * 6 and computed == [1]


def test_pages_of_hidden_boards_are_never_served(client, db, big):
    _challenge, phase, _teams = big
    assert client.get(API).get_json()["total"] == 230
    db.get(Phase, phase.id).leaderboard = "hidden"
    db.commit()
    hidden = client.get(API).get_json()
    assert hidden["visible"] is False and hidden["entries"] == [] and hidden["total"] == 0
    assert "/history" not in client.get("/c/tiny2012/cls").text.split("Leaderboard:", 1)[1]


def test_page_helpers():
    assert pages.page_count(0) == 1 and pages.page_count(100) == 1 and pages.page_count(101) == 2
    assert pages.parse_page(None) == 1 and pages.parse_page("7") == 7
    with pytest.raises(ValueError):
        pages.parse_page("0")
    with pytest.raises(LookupError):
        pages.check_page(3, 200)


def test_the_stored_board_is_chunked_and_old_versions_expire(db, redis, make_challenge, make_user, make_team):
    challenge = make_challenge(guesses=1)
    phase = challenge.tracks[0].phases[0]
    field(db, phase, 230)
    snap = snapshot(db.get(Phase, phase.id))
    variant = Board().variant(db.get(Phase, phase.id))
    stored = f"leaderboard:{phase.id}:board:{variant}:v{snap.version}:c*"
    chunks = sorted(k.decode() for k in redis.scan_iter(stored))
    assert len(chunks) == 3
    submit_and_score(db, phase, make_team(db.merge(challenge), make_user(), name="New"), predictions(3))
    newer = snapshot(db.get(Phase, phase.id))
    assert newer.version > snap.version and newer.total == 231
    assert 0 < redis.ttl(chunks[0]) <= cache.STALE_SECONDS
    assert db.scalar(select(Score.id).limit(1)) is not None


def test_a_change_no_bump_announced_is_caught_by_the_periodic_check(db, redis, make_challenge,
                                                                    monkeypatch):
    challenge = make_challenge(guesses=1)
    phase = challenge.tracks[0].phases[0]
    field(db, phase, 5)
    assert len(ranked(phase)) == 5
    # Redis was away at the commit (or SQL by hand): the entry's status changed, no bump.
    db.execute(text("UPDATE submission SET status = 'running' WHERE method = 'm0'"))
    db.commit()
    assert len(ranked(phase)) == 5  # within the check interval: the stored board
    monkeypatch.setattr(service, "CHECK_SECONDS", 0.0)
    assert len(ranked(phase)) == 4  # each process compares the database every CHECK_SECONDS
    assert [e.team for e in ranked(phase)].count("T000") == 0
