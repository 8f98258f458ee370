"""Quota periods (UTC calendar), exhausted quotas and closed phases through the API; the
quota following people across team changes; racing uploads against the real database."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select
from submit_helpers import api_upload, team_with_token

from challenge import quota
from challenge.extensions import db as database
from challenge.models import Phase, Submission, Team
from challenge.submissions import service as submissions
from challenge.teams.service import TeamError, create_team, leave_team, move_member, team_for
from challenge.tokens import create_token
from tests.conftest import perfect_predictions

MON = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)  # a Monday, ISO week 48


@pytest.mark.parametrize(
    ("kind", "now", "key", "reset"),
    [
        ("day", MON + timedelta(hours=23, minutes=59), "2026-11-23", MON + timedelta(days=1)),
        ("day", MON, "2026-11-23", MON + timedelta(days=1)),
        ("week", MON, "2026-W48", MON + timedelta(days=7)),
        ("week", MON + timedelta(days=6, hours=23), "2026-W48", MON + timedelta(days=7)),
        ("week", MON + timedelta(days=7), "2026-W49", MON + timedelta(days=14)),
        # ISO weeks cross years: 2027-01-01 is a Friday in week 53 of 2026.
        ("week", datetime(2027, 1, 1, 12, tzinfo=UTC), "2026-W53", datetime(2027, 1, 4, tzinfo=UTC)),
        ("total", MON, "total", None),
    ],
)
def test_periods_are_utc_calendar_periods(kind, now, key, reset):
    assert quota.period_key(kind, now) == key
    assert quota.next_reset(kind, now) == reset


def test_period_of_a_non_utc_time_is_taken_in_utc():
    evening_in_new_york = datetime(2026, 11, 22, 20, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert quota.period_key("day", evening_in_new_york) == "2026-11-23"


def test_retry_after_counts_seconds_to_the_next_period():
    assert quota.retry_after("day", MON + timedelta(hours=23, minutes=59)) == 60
    assert quota.retry_after("total", MON) is None
    with pytest.raises(ValueError, match="unknown quota period 'month'"):
        quota.period_key("month", MON)


def _count(db) -> int:
    return db.scalar(select(func.count()).select_from(Submission))


def test_daily_quota_exhausted_gives_429_with_retry_after(client, db, redis, make_user,
                                                          make_challenge, make_team):
    t = team_with_token(make_user, make_challenge, make_team, quota=(2, "day"))
    good = perfect_predictions("classification")
    first, second = (api_upload(client, t["token"], good) for _ in range(2))
    assert (first.status_code, second.status_code) == (202, 202)
    third = api_upload(client, t["token"], good)
    assert third.status_code == 429
    body = third.get_json()
    now = datetime.now(UTC)
    expected = (now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1) - now)
    assert abs(body["retry_after"] - expected.total_seconds()) < 5
    assert third.headers["Retry-After"] == str(body["retry_after"])
    assert "quota reached: 2 submissions per day" in body["error"]
    assert _count(db) == 2
    slots = db.scalars(select(Submission.quota_slot).order_by(Submission.id)).all()
    assert slots == [1, 2]
    # The refused upload left no file behind.
    assert len(list(Path(client.application.config["UPLOAD_FOLDER"]).rglob("*.txt"))) == 2


def test_total_quota_has_no_retry_after(client, db, redis, make_user, make_challenge, make_team):
    t = team_with_token(make_user, make_challenge, make_team, quota=(1, "total"))
    assert api_upload(client, t["token"], perfect_predictions("classification")).status_code == 202
    refused = api_upload(client, t["token"], perfect_predictions("classification"))
    assert refused.status_code == 429
    assert refused.get_json()["retry_after"] is None
    assert "Retry-After" not in refused.headers


def test_quota_is_per_team(client, db, redis, make_user, make_challenge, make_team):
    t = team_with_token(make_user, make_challenge, make_team, quota=(1, "week"))
    other = make_user()
    make_team(t["challenge"], other)
    assert api_upload(client, t["token"], perfect_predictions("classification")).status_code == 202
    assert api_upload(client, create_token(other), perfect_predictions("classification")).status_code == 202
    assert api_upload(client, t["token"], perfect_predictions("classification")).status_code == 429


def test_closed_phase_refuses_with_the_time_it_closed(client, db, redis, make_user,
                                                       make_challenge, make_team):
    closed = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    t = team_with_token(make_user, make_challenge, make_team,
                        opens=closed - timedelta(days=30), closes=closed)
    response = api_upload(client, t["token"], perfect_predictions("classification"), phase="test")
    assert response.status_code == 409
    body = response.get_json()
    assert body["error"] == "this phase closed at 2026-01-02 03:04 UTC"
    assert body["closed_at"] == "2026-01-02T03:04:00+00:00"
    assert _count(db) == 0
    # Without naming the phase there is no open phase to default to.
    default = api_upload(client, t["token"], perfect_predictions("classification"))
    assert default.status_code == 409
    assert "no phase of this track is open" in default.get_json()["error"]


def test_phase_not_yet_open_refuses_with_the_opening_time(client, db, redis, make_user,
                                                          make_challenge, make_team):
    opens = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    t = team_with_token(make_user, make_challenge, make_team, opens=opens, closes=opens + timedelta(days=9))
    response = api_upload(client, t["token"], perfect_predictions("classification"), phase="test")
    assert response.status_code == 409
    assert response.get_json()["opens_at"] == opens.isoformat()
    assert f"opens at {opens:%Y-%m-%d %H:%M} UTC" in response.get_json()["error"]


# ------------------------------------------------------------------ the quota follows people

def _upload(user, phase, n: int = 1) -> list[Submission]:
    return [submissions.submit(user, phase, "p.txt", perfect_predictions("classification"))
            for _ in range(n)]


def _left(db, phase, team) -> int:
    db.expire_all()
    return quota.status(phase, db.get(Team, team.id), datetime.now(UTC)).remaining


def test_changing_teams_does_not_reset_a_persons_quota(app, db, redis, make_user, make_challenge,
                                                        make_team):
    """The dodge of issue 9: upload 5, leave, start a new team, upload 5 more. Leaving is
    refused; an organizer's move takes the uploads along, and the old team gets them back."""
    ada, bob, boss = make_user("ada@example.org"), make_user("bob@example.org"), make_user(organizer=True)
    challenge = make_challenge(quota=(5, "day"))
    phase = challenge.tracks[0].phases[0]
    first = make_team(challenge, ada, bob, name="First")
    _upload(ada, phase, 5)
    with pytest.raises(submissions.QuotaExceeded):
        _upload(bob, phase)
    with pytest.raises(TeamError, match="you cannot leave 'First': you have uploaded .* still open"):
        leave_team(ada, first)
    with pytest.raises(TeamError, match="already on the team 'First'"):
        create_team(challenge, "Second", [ada])
    assert team_for(ada.id, challenge.id).id == first.id

    second = move_member(boss, challenge, ada, new_team="Second", reason="asked to split")
    assert _left(db, phase, second) == 0
    with pytest.raises(submissions.QuotaExceeded):
        _upload(ada, phase)
    # Ada was First's only uploader: her five went with her.
    assert _left(db, phase, first) == 5
    assert [s.quota_slot for s in _upload(bob, phase, 5)] == [1, 2, 3, 4, 5]
    with pytest.raises(submissions.QuotaExceeded):
        _upload(bob, phase)
    # One person, one day: five uploads, never fifteen.
    assert db.scalar(select(func.count()).select_from(Submission).where(Submission.user_id == ada.id)) == 5


def test_a_team_counts_every_members_uploads_to_any_team(app, client, db, redis, make_user,
                                                         make_challenge, make_team):
    """Kaggle's merge rule: two people who each uploaded 2 on their own teams; one is moved
    into the other's team, which then has used 4 (page, API and the next slot agree)."""
    ada, bob, boss = make_user(), make_user(), make_user(organizer=True)
    challenge = make_challenge(quota=(5, "day"))
    phase = challenge.tracks[0].phases[0]
    alpha, beta = make_team(challenge, ada, name="Alpha"), make_team(challenge, bob, name="Beta")
    _upload(ada, phase, 2)
    _upload(bob, phase, 2)
    move_member(boss, challenge, bob, to_team=alpha, reason="merge")
    db.expire_all()
    now = datetime.now(UTC)
    assert quota.status(phase, db.get(Team, alpha.id), now).used == 4
    assert quota.status(phase, db.get(Team, beta.id), now).used == 0  # kept: it has submissions
    assert quota.used_by(phase, bob.id, now) == 2
    quota_api = client.get("/api/v1/challenges/tiny2012/tracks/cls/quota",
                           headers={"Authorization": f"Bearer {create_token(ada)}"}).get_json()
    assert (quota_api["used"], quota_api["remaining"]) == (4, 1)
    client.post("/login", data={"email": bob.email, "password": "password123"})
    assert "<strong>1</strong> of 5 uploads left" in client.get("/c/tiny2012/cls").get_data(as_text=True)
    assert [s.quota_slot for s in _upload(bob, phase)] == [5]
    with pytest.raises(submissions.QuotaExceeded):
        _upload(ada, phase)


def test_refunded_uploads_do_not_count(app, db, redis, make_user, make_challenge, make_team):
    ada = make_user()
    challenge = make_challenge(quota=(2, "day"))
    phase = challenge.tracks[0].phases[0]
    team = make_team(challenge, ada)
    first, _second = _upload(ada, phase, 2)
    with pytest.raises(submissions.QuotaExceeded):
        _upload(ada, phase)
    first.quota_refunded_at = datetime.now(UTC)  # as the scoring job does on an internal failure
    db.commit()
    assert _left(db, phase, team) == 1
    assert [s.quota_slot for s in _upload(ada, phase)] == [2]
    with pytest.raises(submissions.QuotaExceeded):
        _upload(ada, phase)


def test_an_upload_by_someone_moved_meanwhile_is_refused_without_using_quota(app, db, redis, make_user,
                                                                             make_challenge, make_team):
    """The uploader's team is looked up before the upload takes its lock; if an organizer moved
    them in between, the upload is refused rather than counted for a team they left."""
    ada, boss = make_user(), make_user(organizer=True)
    challenge = make_challenge(quota=(5, "day"))
    phase = challenge.tracks[0].phases[0]
    team = make_team(challenge, ada, make_user())
    move_member(boss, challenge, ada, new_team="Elsewhere", reason="test")
    late = Submission(phase_id=phase.id, team_id=team.id, user_id=ada.id, filename="p.txt",
                      stored_path="x/p.txt", sha256="0" * 64, size=1, status="queued")
    with pytest.raises(quota.NoLongerOnTeam):
        quota.allocate_and_commit(late, phase, db.get(Team, team.id), datetime.now(UTC))
    assert db.scalar(select(func.count()).select_from(Submission)) == 0


# ------------------------------------------------------------------ concurrency

def test_racing_uploads_take_exactly_the_free_slots(app, db, make_user, make_challenge, make_team):
    """40 threads, each with its own app context, session and connection, upload at once for
    one team (two members) with a quota of 25: exactly 25 are accepted, with slots 1..25, and
    every refusal is a full quota, on SQLite and on PostgreSQL alike. Uploads of one team
    queue on its row lock; none gives up while a slot is free."""
    limit, racers = 25, 40
    ada, bob = make_user(), make_user()
    challenge = make_challenge(quota=(limit, "day"))
    phase = challenge.tracks[0].phases[0]
    team = make_team(challenge, ada, bob)
    ids = {"phase": phase.id, "team": team.id, "users": [ada.id, bob.id]}
    db.remove()  # the threads use their own sessions
    barrier = threading.Barrier(racers)
    outcomes: list[str] = []

    def upload(n: int) -> None:
        with app.app_context():
            session = database.session
            p, t = session.get(Phase, ids["phase"]), session.get(Team, ids["team"])
            submission = Submission(phase_id=p.id, team_id=t.id, user_id=ids["users"][n % 2],
                                    filename=f"{n}.txt", stored_path=f"race/{n}.txt", sha256="0" * 64,
                                    size=1, status="queued")
            session.commit()  # end the reads; each racer starts from a fresh transaction
            barrier.wait(timeout=30)
            try:
                quota.allocate_and_commit(submission, p, t, datetime.now(UTC))
                outcomes.append("accepted")
            except quota.QuotaExceeded:
                outcomes.append("full")
            except Exception as exc:  # anything else is a failure of the test
                outcomes.append(repr(exc))

    threads = [threading.Thread(target=upload, args=(n,)) for n in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(outcomes) == ["accepted"] * limit + ["full"] * (racers - limit), outcomes
    slots = db.scalars(select(Submission.quota_slot).order_by(Submission.quota_slot)).all()
    assert slots == list(range(1, limit + 1))
    assert quota.status(phase, db.get(Team, team.id), datetime.now(UTC)).remaining == 0
