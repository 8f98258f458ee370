"""Phases and visibility: the walk over every page and API route, split determinism,
subset scores from real scoring jobs, freeze, final picks, publishing, the two rankings.

The walk gives every score distinctive numbers (no two share their '%.4f' form) and
looks for the hidden ones, in every format the pages and APIs use, in every body."""

from __future__ import annotations

import csv
import io
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select
from submit_helpers import api_upload, drain, team_with_token
from test_bundles import TOML, write_bundle  # the bundle tests' tiny bundle

from challenge import splits
from challenge.bundles import BundleError, load_bundle
from challenge.leaderboards import service
from challenge.leaderboards.picks import PickError, set_final
from challenge.leaderboards.publish import PublishError, publish_private
from challenge.leaderboards.visibility import board_sight, score_sight, visible_scores
from challenge.models import AuditEntry, ChallengeHost, Phase, Score, Submission
from challenge.tokens import create_token
from tests.conftest import TINY_LABELS, perfect_predictions

NOW = datetime.now(UTC).replace(microsecond=0)  # no fractions in timestamps to mistake
OPEN = {"opens": NOW - timedelta(days=10), "closes": NOW + timedelta(days=10)}
CLOSED = {"opens": NOW - timedelta(days=20), "closes": NOW - timedelta(days=2)}

# ----------------------------------------------------------------- distinctive scores

_bases = itertools.count(10)


@dataclass
class Numbers:
    """One set of numbers (all images, public or private) of a crafted score."""

    error: float
    ci_low: float
    ci_high: float
    top1: float

    @classmethod
    def around(cls, error: float) -> Numbers:
        return cls(error, error - 0.0004717, error + 0.0006838, error + 0.0008201)

    def values(self) -> list[float]:
        return [self.error, self.ci_low, self.ci_high, self.top1]

    def json(self) -> dict[str, Any]:
        return {"error": self.error, "error_at_k": [self.top1, self.error], "cls_error": None,
                "cls_error_at_k": None, "ci95": [self.ci_low, self.ci_high], "images": 10}


@dataclass
class Crafted:
    submission: Submission
    team: str  # "A" or "B"
    numbers: dict[str, Numbers] = field(default_factory=dict)  # "all", "public", "private"
    after_freeze: bool = False


def forms(value: float) -> set[str]:
    """How pages, exports and APIs print a number: '%.5f' and '%.4f' (HTML tables, charts),
    repr (JSON; CSV writes str(), which is repr)."""
    return {f"{value:.5f}", f"{value:.4f}", repr(value)}


def add(db, phase: Phase, team, name: str, created_at: datetime, *, extra_data: bool = False,
        final: bool = False, after_freeze: bool = False) -> Crafted:
    # 0.10, 0.11, ... plus offsets whose numbers stay apart in their 4-decimal forms
    base = next(_bases) / 100
    numbers = {"all": Numbers.around(base + 0.0011234)}
    n = db.query(Submission).count() + 1
    submission = Submission(phase=phase, team=team, method=f"method {name}", filename="p.txt",
                            stored_path=f"{phase.id}/{n}.txt", sha256="0" * 64, size=1,
                            quota_period="total", quota_slot=n, status="scored", created_at=created_at,
                            extra_data=extra_data, final=final)
    full = numbers["all"]
    score = Score(error=full.error, error_at_k=[full.top1, full.error], ci_low=full.ci_low,
                  ci_high=full.ci_high, images=20)
    if splits.is_split(phase):
        numbers["public"] = Numbers.around(base + 0.0032345)
        numbers["private"] = Numbers.around(base + 0.0053456)
        score.subsets = {"key": splits.split_key(phase), "public": numbers["public"].json(),
                         "private": numbers["private"].json()}
    submission.score = score
    db.add(submission)
    db.commit()
    return Crafted(submission, name[0], numbers, after_freeze)


# ----------------------------------------------------------------- the phases to walk

@dataclass
class World:
    kind: str
    closed: bool
    slug: str
    phase: Phase
    teams: dict[str, Any]
    crafted: list[Crafted]


KINDS = ["public", "after-close", "hidden", "split", "split-published", "frozen", "split-frozen",
         "split-after-close"]


def build(db, make_challenge, make_team, users, kind: str, closed: bool, year: int) -> World:
    dates = CLOSED if closed else OPEN
    slug = f"w{kind.replace('-', '')}{'closed' if closed else 'open'}{year}"
    visibility = "after-close" if kind.endswith("after-close") else "hidden" if kind == "hidden" else "public"
    challenge = make_challenge(slug, year=year, leaderboard=visibility, **dates)
    phase = challenge.tracks[0].phases[0]
    if kind.startswith("split"):
        phase.public_fraction = 0.5
        phase.separate_outside_data = True
    if kind == "split-published":
        phase.private_published_at = dates["closes"] + timedelta(hours=1)
    if kind.endswith("frozen"):
        phase.frozen_at = dates["closes"] - timedelta(days=3) if closed else NOW - timedelta(days=1)
    db.commit()
    teams = {"A": make_team(challenge, users["alice"], name=f"Alpha {slug}"),
             "B": make_team(challenge, users["bob"], name=f"Bravo {slug}"),
             "C": make_team(challenge, users["carol"], name=f"Charlie {slug}")}
    early = dates["opens"] + timedelta(hours=1)
    crafted = [add(db, phase, teams["A"], "A1", early),
               add(db, phase, teams["B"], "B1", early + timedelta(hours=1), extra_data=True)]
    if kind.endswith("frozen"):
        # Uploaded after the freeze, and better than anything before it.
        crafted.append(add(db, phase, teams["A"], "A2", phase.frozen_at + timedelta(hours=1),
                           after_freeze=True))
    return World(kind, closed, slug, phase, teams, crafted)


def visible_subsets(world: World, viewer: str, item: Crafted) -> set[str]:
    """The rules, written out independently of the code under test."""
    everything = set(item.numbers)
    if viewer in ("organizer", "host"):  # a site admin; the host of every walked challenge
        return everything
    member = viewer == "alice" and item.team == "A" or viewer == "bob" and item.team == "B"
    kind, closed = world.kind, world.closed
    if kind == "public":
        return everything
    if kind == "after-close":
        return everything if closed or member else set()
    if kind == "hidden":
        return set()
    if kind == "frozen":
        return everything if closed or member or not item.after_freeze else set()
    if kind == "split":
        return {"public"}
    if kind == "split-published":
        return everything if closed else {"public"}
    if kind == "split-frozen":  # split, never published: public numbers, frozen for others
        return {"public"} if member or not item.after_freeze else set()
    if kind == "split-after-close":  # never published: a team's own public numbers until closing
        return {"public"} if closed or member else set()
    raise AssertionError(kind)


#: "otherhost" hosts a challenge outside the walk: on the walked ones a stranger, like carol.
VIEWERS = ["anonymous", "carol", "alice", "organizer", "host", "otherhost"]


@pytest.fixture
def walk(app, db, make_user, make_challenge, make_team):
    users = {"alice": make_user(name="Alice"), "bob": make_user(name="Bob"),
             "carol": make_user(name="Carol"), "organizer": make_user(organizer=True, name="Org"),
             "host": make_user(name="Host"), "otherhost": make_user(name="Other host")}
    worlds = []
    for year, (kind, closed) in enumerate(itertools.product(KINDS, (False, True)), 2031):
        if kind == "split-published" and not closed:
            continue  # only a closed phase can be published
        worlds.append(build(db, make_challenge, make_team, users, kind, closed, year))
    elsewhere = make_challenge("elsewhere2030", year=2030, leaderboard="hidden")
    db.add_all([ChallengeHost(challenge_id=w.phase.track.challenge_id, user_id=users["host"].id)
                for w in worlds] + [ChallengeHost(challenge_id=elsewhere.id, user_id=users["otherhost"].id)])
    db.commit()
    return users, worlds


def _client(app, user) -> Any:
    client = app.test_client()
    if user is not None:
        response = client.post("/login", data={"email": user.email, "password": "password123"})
        assert response.status_code == 302
    return client


def _urls(world: World) -> list[str]:
    slug, phase = world.slug, world.phase
    boards = ["public", "private"] if splits.is_split(phase) else ["public"]
    rankings = ["all", "provided"] if phase.separate_outside_data else ["all"]
    urls = [f"/c/{slug}", f"/c/{slug}/cls", f"/c/{slug}/cls?phase=test&sort=error"]
    for board, ranking in itertools.product(boards, rankings):
        query = f"phase=test&board={board}&ranking={ranking}"
        urls += [f"/c/{slug}/cls?{query}", f"/c/{slug}/cls/leaderboard.json?{query}",
                 f"/c/{slug}/cls/leaderboard.csv?{query}",
                 f"/api/v1/challenges/{slug}/tracks/cls/leaderboard?{query}"]
    urls += [f"/api/v1/challenges/{slug}", f"/api/v1/submissions?challenge={slug}"]
    for item in world.crafted:
        sid = item.submission.id
        urls += [f"/submissions/{sid}", f"/submissions/{sid}/status.json", f"/api/v1/submissions/{sid}"]
    for team in world.teams.values():
        urls += [f"/teams/{team.id}", f"/teams/{team.id}/history", f"/teams/{team.id}/submissions"]
    return urls


def _console_urls(world: World) -> list[str]:
    """The console pages of the world's challenge, its phase, submissions and teams: 404 for
    anyone who does not manage it (the host of another challenge included)."""
    phase = world.phase
    track = phase.track
    challenge_id = track.challenge_id
    urls = [f"/admin/challenges/{challenge_id}", f"/admin/challenges/{challenge_id}/move",
            f"/admin/c/{world.slug}/export.tar.gz", f"/admin/tracks/{track.id}",
            f"/admin/phases/{phase.id}", f"/admin/phases/{phase.id}/boards",
            f"/admin/phases/{phase.id}/truth",
            f"/admin/phases/{phase.id}/submissions.csv", f"/admin/phases/{phase.id}/submissions.json",
            f"/admin/submissions?challenge={world.slug}", f"/admin/flags?challenge={world.slug}"]
    urls += [f"/admin/submissions/{item.submission.id}" for item in world.crafted]
    urls += [f"/admin/teams/{team.id}" for team in world.teams.values()]
    return urls


def test_the_visibility_walk(app, walk):
    """Every page and API route, as each viewer, for each kind of phase before and after it
    closes: no number the rules hide appears in any body; the ones they show do appear."""
    users, worlds = walk
    common = ["/", "/history", "/api/v1/challenges"]
    common += sorted({f"/history/{w.slug[:-4]}" for w in worlds})
    seen_somewhere: dict[str, set[str]] = {v: set() for v in VIEWERS}
    for viewer in VIEWERS:
        user = users.get(viewer)
        client = _client(app, user)
        headers = {"Authorization": f"Bearer {create_token(user)}"} if user is not None else {}
        bodies: dict[str, str] = {}
        for url in common + [u for w in worlds for u in _urls(w)]:
            response = client.get(url, headers=headers if url.startswith("/api/") else {})
            assert response.status_code in (200, 302, 401, 403, 404), (viewer, url, response.status_code)
            bodies[url] = response.get_data(as_text=True)
        if viewer == "otherhost":  # a console user, but none of these challenges is theirs
            for url in [u for w in worlds for u in _console_urls(w)] + ["/admin/", "/admin/submissions",
                                                                         "/admin/audit", "/admin/boards"]:
                response = client.get(url)
                # The lists open (theirs only, so nothing of these); every page of one of these
                # challenges' rows, or a list filtered to one of them by name, is a 404.
                listing = url in ("/admin/", "/admin/submissions", "/admin/audit", "/admin/boards") \
                    or url.startswith("/admin/submissions?")
                assert response.status_code == (200 if listing else 404), (viewer, url, response.status_code)
                bodies[url] = response.get_data(as_text=True)
        everything = "\n".join(bodies.values())
        for world in worlds:
            for item in world.crafted:
                shown = visible_subsets(world, viewer, item)
                for subset, numbers in item.numbers.items():
                    if subset in shown:
                        if any(f in everything for v in numbers.values() for f in forms(v)):
                            seen_somewhere[viewer].add(f"{world.slug}:{item.submission.id}:{subset}")
                        continue
                    for value in numbers.values():
                        for text in forms(value):
                            leaks = [url for url, body in bodies.items() if text in body]
                            context = [bodies[u][max(0, bodies[u].index(text) - 80):
                                                 bodies[u].index(text) + 40] for u in leaks[:1]]
                            assert not leaks, (f"{viewer} sees hidden {subset} number {text} of "
                                               f"{world.kind} ({'closed' if world.closed else 'open'}) "
                                               f"submission {item.submission.method!r} at {leaks}: "
                                               f"{context}")
    # The walk is not vacuous: what the rules show is shown somewhere.
    split_world = next(w for w in worlds if w.kind == "split" and not w.closed)
    published = next(w for w in worlds if w.kind == "split-published")
    for viewer in VIEWERS:
        for item in split_world.crafted:
            assert f"{split_world.slug}:{item.submission.id}:public" in seen_somewhere[viewer]
        for item in published.crafted:
            assert f"{published.slug}:{item.submission.id}:private" in seen_somewhere[viewer]
    hidden_world = next(w for w in worlds if w.kind == "hidden")
    for viewer in ("organizer", "host"):
        assert f"{hidden_world.slug}:{hidden_world.crafted[0].submission.id}:all" in seen_somewhere[viewer]


def test_visibility_decisions_in_one_place(app, walk):
    users, worlds = walk
    split_open = next(w for w in worlds if w.kind == "split" and not w.closed)
    a1 = split_open.crafted[0].submission
    alice, carol, organizer = users["alice"], users["carol"], users["organizer"]
    sight = score_sight(split_open.phase, alice, a1.team_id, a1.created_at)
    assert (sight.full, sight.public, sight.private) == (False, True, False)
    assert [v.subset for v in visible_scores(a1, alice)] == ["public"]
    assert [v.subset for v in visible_scores(a1, organizer)] == ["public", "private", "all"]
    assert board_sight(split_open.phase, carol).boards == ("public",)
    assert board_sight(split_open.phase, organizer).boards == ("public", "private")
    published = next(w for w in worlds if w.kind == "split-published")
    assert board_sight(published.phase, None).boards == ("public", "private")
    assert [v.subset for v in visible_scores(published.crafted[0].submission, alice)] == [
        "public", "private", "all"]


# ----------------------------------------------------------------- the split itself

def _phase(make_challenge, slug="split2012", **kwargs) -> Phase:
    phase = make_challenge(slug, **kwargs).tracks[0].phases[0]
    return phase


def test_split_is_deterministic_secret_and_exact(db, make_challenge):
    phase = _phase(make_challenge)
    phase.public_fraction = 0.3
    db.commit()
    assert len(phase.split_secret) == 32  # a fresh random secret per phase
    mask = splits.public_mask(phase)
    assert mask.sum() == 6 and mask.size == 20  # round(0.3 * 20) public images
    splits._mask.cache_clear()
    assert np.array_equal(splits.public_mask(phase), mask)  # the same split every time
    other = _phase(make_challenge, "split2013", year=2013)
    other.public_fraction = 0.3
    db.commit()
    assert other.split_secret != phase.split_secret
    # Different secrets give different splits (the chance of equality is 1 in C(20, 6)).
    assert not np.array_equal(splits.public_mask(other), mask)
    phase.public_fraction, phase.public_images = None, [1, 2, 20]
    db.commit()
    assert list(np.flatnonzero(splits.public_mask(phase))) == [0, 1, 19]
    assert list(np.flatnonzero(splits.subset_mask(phase, "private"))) == list(range(2, 19))


@pytest.mark.parametrize(("fraction", "images", "message"), [
    (0.0, None, "strictly between 0 and 1"),
    (1.5, None, "strictly between 0 and 1"),
    (0.01, None, "leaves one board without images"),
    (0.5, [1], "not both"),
    (None, [0, 3], "outside 1..20"),
    (None, [3, 3], "twice"),
    (None, list(range(1, 21)), "some but not all"),
])
def test_bad_splits_are_refused_clearly(fraction, images, message):
    with pytest.raises(ValueError, match=message):
        splits.check_split(fraction, images, 20)


def test_scoring_job_stores_subset_scores(app, db, client, redis, make_user, make_challenge, make_team):
    t = team_with_token(make_user, make_challenge, make_team)
    phase = t["phase"]
    phase.public_images = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    db.commit()
    # Right on images 1-5 and 11-20, wrong (first guess) on 6-10: public error 0.5, private 0.
    lines = [str(label) if not 6 <= i <= 10 else str(label % 10 + 1)
             for i, label in enumerate(TINY_LABELS, 1)]
    assert api_upload(client, t["token"], ("\n".join(lines) + "\n").encode()).status_code == 202
    drain(app)
    score = db.scalars(select(Score)).one()
    assert score.error == pytest.approx(0.25)
    assert score.subsets["key"] == splits.split_key(phase)
    public, private = score.subsets["public"], score.subsets["private"]
    assert public["error"] == pytest.approx(0.5) and private["error"] == pytest.approx(0.0)
    assert public["error_at_k"][0] == pytest.approx(0.5) and public["images"] == 10
    assert public["ci95"][0] <= 0.5 <= public["ci95"][1]
    # The public board ranks on the public images; the team sees only those numbers.
    assert service.ranked(phase, service.Board("public"))[0].error == pytest.approx(0.5)
    assert service.ranked(phase, service.Board("private"))[0].error == pytest.approx(0.0)
    body = client.get(f"/api/v1/submissions/{score.submission_id}",
                      headers={"Authorization": f"Bearer {t['token']}"}).get_json()
    assert "scores" not in body  # whole-set numbers wait for the published private board
    # The paired comparison between entries uses the board's images only: a perfect file
    # beats this one by 0.5 on the public images (0.25 on all of them), and ties privately.
    rival = make_user()
    make_team(t["challenge"], rival, name="Rival")
    assert api_upload(client, create_token(rival), perfect_predictions("classification")).status_code == 202
    drain(app)
    public_board = service.ranked(phase, service.Board("public"))
    assert [(e.team, e.error) for e in public_board] == [("Rival", 0.0), (t["team"].name, pytest.approx(0.5))]
    assert public_board[1].diff == pytest.approx(0.5) and public_board[1].significant is not None
    private_board = service.ranked(phase, service.Board("private"))
    assert [e.error for e in private_board] == [0.0, 0.0] and private_board[1].diff == 0.0
    # Changing the split recomputes the subsets from the stored outcomes.
    phase = db.get(Phase, phase.id)
    phase.public_images = list(range(11, 21))
    db.commit()
    score = db.scalars(select(Score).where(Score.submission_id == score.submission_id)).one()
    assert score.subsets["key"] != splits.split_key(phase)
    assert splits.scores_of(phase, score)["public"]["error"] == pytest.approx(0.0)


# ----------------------------------------------------------------- boards

def _board(db, make_user, make_challenge, make_team, **dates):
    phase = _phase(make_challenge, "boards2012", **(dates or OPEN))
    phase.public_fraction = 0.5
    phase.final_picks = 1
    db.commit()
    teams = {n: make_team(phase.track.challenge, make_user(), name=n) for n in ("A", "B")}
    return phase, teams


def _set_subsets(db, item: Crafted, public: float, private: float) -> None:
    score = item.submission.score
    subsets = dict(score.subsets)
    subsets["public"] = {**subsets["public"], "error": public}
    subsets["private"] = {**subsets["private"], "error": private}
    score.subsets = subsets
    db.commit()


def test_final_picks_decide_the_private_board(db, make_user, make_challenge, make_team):
    phase, teams = _board(db, make_user, make_challenge, make_team)
    t0 = OPEN["opens"] + timedelta(hours=1)
    a_public = add(db, phase, teams["A"], "A-public-best", t0)
    a_private = add(db, phase, teams["A"], "A-private-best", t0 + timedelta(hours=1))
    b = add(db, phase, teams["B"], "B", t0 + timedelta(hours=2))
    _set_subsets(db, a_public, public=0.10, private=0.40)
    _set_subsets(db, a_private, public=0.30, private=0.05)
    _set_subsets(db, b, public=0.20, private=0.20)
    private = service.Board("private")
    # No picks: each team's best public submission (final_picks = 1) counts.
    assert [(e.team, e.submission_id) for e in service.compute(phase, private)] == [
        ("B", b.submission.id), ("A", a_public.submission.id)]
    user_a = teams["A"].memberships[0].user
    set_final(user_a, a_private.submission, True)
    assert [(e.team, e.submission_id, e.error) for e in service.ranked(phase, private)] == [
        ("A", a_private.submission.id, 0.05), ("B", b.submission.id, 0.20)]
    # The public board is unaffected by picks.
    assert [e.team for e in service.ranked(phase, service.Board("public"))] == ["A", "B"]
    with pytest.raises(PickError, match="already marked 1"):
        set_final(user_a, a_public.submission, True)
    with pytest.raises(PickError, match="members"):
        set_final(teams["B"].memberships[0].user, a_public.submission, True)
    set_final(user_a, a_private.submission, False)
    assert service.ranked(phase, private)[0].team == "B"


def test_final_pick_button_and_closed_phase(app, db, make_user, make_challenge, make_team):
    phase, teams = _board(db, make_user, make_challenge, make_team)
    item = add(db, phase, teams["A"], "A", OPEN["opens"] + timedelta(hours=1))
    client = _client(app, teams["A"].memberships[0].user)
    page = client.get(f"/submissions/{item.submission.id}").get_data(as_text=True)
    assert "Mark as final" in page and "marked 0 of 1" in page
    response = client.post(f"/submissions/{item.submission.id}/final", data={"final": "1"})
    assert response.status_code == 302
    db.refresh(item.submission)
    assert item.submission.final is True
    assert "Unmark as final" in client.get(f"/submissions/{item.submission.id}").get_data(as_text=True)
    other = _client(app, teams["B"].memberships[0].user)
    assert other.post(f"/submissions/{item.submission.id}/final", data={"final": "0"}).status_code == 404
    phase.closes_at = NOW - timedelta(minutes=1)
    db.commit()
    with pytest.raises(PickError, match="until the phase closed"):
        set_final(teams["A"].memberships[0].user, item.submission, False)


def test_freeze_stops_the_public_board_for_all_but_organizers(app, db, make_user, make_challenge,
                                                               make_team):
    phase, teams = _board(db, make_user, make_challenge, make_team)
    phase.public_fraction = None
    phase.frozen_at = NOW - timedelta(days=1)
    db.commit()
    add(db, phase, teams["B"], "B-before", NOW - timedelta(days=2))
    late = add(db, phase, teams["A"], "A-after", NOW - timedelta(hours=2))
    organizer = make_user(organizer=True)
    assert [e.team for e in service.leaderboard(phase, None)] == ["B"]
    assert [e.team for e in service.leaderboard(phase, organizer)] == ["B", "A"]
    page = app.test_client().get("/c/boards2012/cls").get_data(as_text=True)
    assert "froze at" in page and "A-after" not in page
    # The uploading team still sees its own score; the freeze ends when the phase closes.
    assert score_sight(phase, teams["A"].memberships[0].user, teams["A"].id, late.submission.created_at).full
    assert not score_sight(phase, None, teams["A"].id, late.submission.created_at).full
    assert [e.team for e in service.leaderboard(phase, None, now=phase.closes_at)] == ["B", "A"]


def test_two_rankings(app, db, make_user, make_challenge, make_team):
    phase, teams = _board(db, make_user, make_challenge, make_team)
    phase.public_fraction = None
    phase.separate_outside_data = True
    db.commit()
    t0 = OPEN["opens"] + timedelta(hours=1)
    add(db, phase, teams["A"], "A-outside", t0, extra_data=True)
    add(db, phase, teams["A"], "A-provided", t0 + timedelta(hours=1))
    add(db, phase, teams["B"], "B-provided", t0 + timedelta(hours=2))
    everyone = service.leaderboard(phase, None)
    assert [(e.team, e.method, e.outside_data) for e in everyone] == [
        ("A", "method A-outside", True), ("B", "method B-provided", False)]
    provided = service.leaderboard(phase, None, ranking="provided")
    assert [(e.team, e.method) for e in provided] == [("A", "method A-provided"), ("B", "method B-provided")]
    client = app.test_client()
    page = client.get("/c/boards2012/cls?ranking=provided").get_data(as_text=True)
    assert "Provided data only" in page and "method A-outside" not in page
    rows = list(csv.DictReader(io.StringIO(client.get(
        "/c/boards2012/cls/leaderboard.csv?ranking=provided").get_data(as_text=True))))
    assert [r["method"] for r in rows] == ["method A-provided", "method B-provided"]
    api = client.get("/api/v1/challenges/boards2012/tracks/cls/leaderboard?ranking=provided").get_json()
    assert api["ranking"] == "provided" and api["rankings"] == ["all", "provided"]
    assert len(api["entries"]) == 2
    # A team changing its answer changes the provided ranking at once (the cache key follows).
    a_outside = db.scalars(select(Submission).where(Submission.method == "method A-outside")).one()
    a_outside.extra_data = False
    db.commit()
    assert service.leaderboard(phase, None, ranking="provided")[0].method == "method A-outside"
    assert client.get("/c/boards2012/cls?ranking=nope").status_code == 400
    assert client.get("/c/boards2012/cls/leaderboard.json?board=private").status_code == 400


def test_publish_private_board_cli_and_console(app, db, runner, make_user, make_challenge, make_team):
    phase, teams = _board(db, make_user, make_challenge, make_team)
    add(db, phase, teams["A"], "A", OPEN["opens"] + timedelta(hours=1))
    result = runner.invoke(args=["phases", "publish", "boards2012/cls/test"])
    assert result.exit_code != 0 and "closes at" in result.output
    assert runner.invoke(args=["phases", "publish", "boards2012/cls"]).exit_code != 0
    assert "no phase 'nope'" in runner.invoke(args=["phases", "publish", "boards2012/cls/nope"]).output
    phase.closes_at = NOW - timedelta(hours=1)
    db.commit()
    anonymous = app.test_client()
    hidden = anonymous.get("/c/boards2012/cls/leaderboard.json?board=private")
    assert hidden.status_code == 403 and "not been published" in hidden.get_json()["error"]
    result = runner.invoke(args=["phases", "publish", "boards2012/cls/test"])
    assert result.exit_code == 0, result.output
    db.expire_all()
    assert phase.private_published_at is not None
    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "phase.publish_private")).one()
    assert entry.before == {"private_published_at": None} and entry.after["private_published_at"]
    assert anonymous.get("/c/boards2012/cls/leaderboard.json?board=private").status_code == 200
    assert "already published" in runner.invoke(args=["phases", "publish", "boards2012/cls/test"]).output
    # The console: a page listing split phases and a publish button (organizers only).
    other = _phase(make_challenge, "console2012", **CLOSED)
    other.public_fraction = 0.5
    db.commit()
    organizer = _client(app, make_user(organizer=True))
    page = organizer.get("/admin/boards").get_data(as_text=True)
    assert f"publish-{other.id}" in page
    assert organizer.post(f"/admin/phases/{other.id}/publish", data={"confirm": "yes"}).status_code == 302
    db.expire_all()
    assert other.private_published_at is not None
    assert _client(app, make_user()).get("/admin/boards").status_code == 404
    with pytest.raises(PublishError, match="no public/private split"):
        publish_private(None, _phase(make_challenge, "plain2012", **CLOSED))


def test_console_sets_a_phase_boards_audited(app, db, make_user, make_challenge):
    phase = _phase(make_challenge, "settings2012", **OPEN)
    organizer = _client(app, make_user(organizer=True))
    page = organizer.get(f"/admin/phases/{phase.id}/boards")
    assert page.status_code == 200 and "Public fraction" in page.get_data(as_text=True)
    assert f"/admin/phases/{phase.id}/boards" in organizer.get("/admin/boards").get_data(as_text=True)
    freeze = (NOW + timedelta(days=5)).strftime("%Y-%m-%dT%H:%M")
    response = organizer.post(f"/admin/phases/{phase.id}/boards", data={
        "public_fraction": "0.25", "public_images": "", "freeze": freeze, "final_picks": "3",
        "provided_ranking": "y"})
    assert response.status_code == 302
    db.expire_all()
    assert (phase.public_fraction, phase.final_picks, phase.separate_outside_data) == (0.25, 3, True)
    assert phase.frozen_at == (NOW + timedelta(days=5)).replace(second=0)
    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "phase.boards")).one()
    assert entry.before["public_fraction"] is None and entry.after["public_fraction"] == 0.25
    # Bad values are refused, naming the setting, and change nothing.
    for data, message in [({"public_fraction": "2"}, "strictly between 0 and 1"),
                          ({"public_fraction": "", "public_images": "1 x"}, "not an image number"),
                          ({"public_fraction": "0.5", "public_images": "1 2"}, "not both")]:
        refused = organizer.post(f"/admin/phases/{phase.id}/boards", data={
            "public_images": "", "final_picks": "3", **data})
        assert refused.status_code == 400 and message in refused.get_data(as_text=True)
    db.expire_all()
    assert phase.public_fraction == 0.25
    assert _client(app, make_user()).get(f"/admin/phases/{phase.id}/boards").status_code == 404


# ----------------------------------------------------------------- bundle keys

@pytest.mark.parametrize(("extra", "message"), [
    ("public_fraction = 0.3\n", None),
    ('public_images = "public.txt"\n', None),
    ("public_fraction = 1.0\n", "phases[0].public_fraction: public fraction must be a number strictly"),
    ("public_images = [0]\n", "phases[0].public_images: public image 0 is outside 1..20"),
    ('public_images = "missing.txt"\n', "missing.txt"),
    ("freeze = 2031-01-01T00:00:00Z\n", "phases[0].freeze: 2031-01-01T00:00:00+00:00 is not between"),
    ("final_picks = 0\n", "phases[0].final_picks: expected a whole number from 1 to 100"),
    ('rankings = ["provided"]\n', "phases[0].rankings: expected"),
    ("private_published = 2031-01-01T00:00:00Z\n", "only a split phase has a private board"),
    ("public_fraction = 0.5\nprivate_published = 2020-01-01T00:00:00Z\n", "is before the phase closes"),
])
def test_bundle_keys(db, tmp_path, extra, message):
    toml = TOML.replace('quota = "5/day"\n', 'quota = "5/day"\n' + extra +
                        'freeze = 2020-01-01T00:00:00Z\nfinal_picks = 3\nrankings = ["all", "provided"]\n'
                        if message is None else 'quota = "5/day"\n' + extra)
    folder = write_bundle(tmp_path / "b", toml, **{"public.txt": b"1 2\n3\n"})
    if message is not None:
        with pytest.raises(BundleError) as caught:
            load_bundle(folder)
        assert message in str(caught.value)
        return
    phase = load_bundle(folder).tracks[0].phases[0]
    assert splits.is_split(phase) and phase.final_picks == 3 and phase.separate_outside_data
    assert phase.frozen_at == datetime(2020, 1, 1, tzinfo=UTC)
    assert phase.public_images in (None, [1, 2, 3])
    assert len(phase.split_secret) == 32


def test_split_localization_boards_carry_the_classification_error_of_each_half(app, db, redis, make_user,
                                                                                make_challenge, make_team):
    t = team_with_token(make_user, make_challenge, make_team, task="localization", track_slug="loc")
    phase = db.get(Phase, t["phase"].id)
    phase.public_fraction = 0.5
    db.commit()
    # Images 0-5: wrong class (so wrong box too); images 6-9: right class, box far off.
    lines = [f"{label % 10 + 1} 10 10 50 50" if i < 6 else
             f"{label} 500 500 600 600" if i < 10 else f"{label} 10 10 50 50"
             for i, label in enumerate(TINY_LABELS)]
    assert api_upload(app.test_client(), t["token"],
                      ("\n".join(lines) + "\n").encode(), track="loc").status_code == 202
    drain(app)
    score = db.scalars(select(Score)).one()
    public = splits.public_mask(db.get(Phase, t["phase"].id))
    cls_wrong = np.arange(len(TINY_LABELS)) < 6
    loc_wrong = np.arange(len(TINY_LABELS)) < 10
    for name, mask in (("public", public), ("private", ~public)):
        numbers = score.subsets[name]
        assert numbers["cls_error"] == pytest.approx(cls_wrong[mask].mean())
        assert numbers["error"] == pytest.approx(loc_wrong[mask].mean())
        assert numbers["cls_error_at_k"][-1] == numbers["cls_error"]
    # The public board shows it (it used to leave the column out on split boards).
    entry = service.leaderboard(db.get(Phase, t["phase"].id), None)[0]
    assert entry.cls_error == pytest.approx(cls_wrong[public].mean())
    page = app.test_client().get("/c/tiny2012/loc").get_data(as_text=True)
    assert "Cls. error" in page and f"{cls_wrong[public].mean():.5f}" in page


def test_a_split_phase_submission_page_says_one_thing(app, db, redis, make_user, make_challenge,
                                                      make_team):
    t = team_with_token(make_user, make_challenge, make_team)
    phase = db.get(Phase, t["phase"].id)
    phase.public_fraction = 0.5
    db.commit()
    client = app.test_client()
    assert api_upload(client, t["token"], perfect_predictions("classification")).status_code == 202
    drain(app)
    sid = db.scalar(select(Score.submission_id))
    client.post("/login", data={"email": t["user"].email, "password": "password123"})
    page = client.get(f"/submissions/{sid}").get_data(as_text=True)
    assert 'id="split-scores"' in page and "Leaderboard scores" in page
    assert "does not show these scores" not in page
    assert "stays hidden until this phase's private leaderboard is published" in page
