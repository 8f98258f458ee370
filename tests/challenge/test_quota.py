"""Quota periods (UTC calendar), exhausted quotas and closed phases through the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select
from submit_helpers import api_upload, team_with_token

from challenge import quota
from challenge.models import Submission
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
