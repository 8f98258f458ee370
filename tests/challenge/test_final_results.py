"""A year's final results: published once every phase has closed and every private board is
public, then never changed, whatever happens to the live boards."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from submit_helpers import drain

from challenge import moderation
from challenge.leaderboards import final
from challenge.leaderboards.publish import publish_private
from challenge.models import AuditEntry, Challenge, FinalResults, Phase, Team
from challenge.submissions import service as submissions
from tests.conftest import TINY_LABELS


def login(client, user, password="password123"):
    assert client.post("/login", data={"email": user.email, "password": password}).status_code == 302


def predictions(wrong: int) -> bytes:
    rows = (label % 10 + 1 if i < wrong else label for i, label in enumerate(TINY_LABELS))
    return "".join(f"{row}\n" for row in rows).encode()


@pytest.fixture
def year(app, db, redis, make_user, make_challenge, make_team):
    """A split phase with two scored teams (Alpha 2 wrong, Beta 5 wrong), still open."""
    organizer = make_user("boss@example.org", organizer=True)
    alice, bob = make_user("alice@example.org"), make_user("bob@example.org")
    challenge = make_challenge()
    alpha, beta = make_team(challenge, alice, name="Alpha"), make_team(challenge, bob, name="Beta")
    phase = challenge.tracks[0].phases[0]
    phase.public_fraction = 0.5
    db.commit()
    submissions.submit(alice, phase, "a.txt", predictions(2))
    submissions.submit(bob, phase, "b.txt", predictions(5))
    drain(app)
    return {"organizer": organizer, "alice": alice, "alpha": alpha.id, "beta": beta.id}


def _challenge(db) -> Challenge:
    return db.scalars(select(Challenge).where(Challenge.slug == "tiny2012")).one()


def _close(db) -> Phase:
    phase = db.scalars(select(Phase)).one()
    phase.closes_at = datetime.now(UTC) - timedelta(minutes=1)
    db.commit()
    return phase


def test_publishing_waits_for_close_and_the_private_board_then_never_changes(app, db, client, year):
    with pytest.raises(final.ResultsError, match=r"tiny2012/cls/test is open until"):
        final.publish(year["organizer"], _challenge(db))
    phase = _close(db)
    with pytest.raises(final.ResultsError, match=r"private leaderboard is not published yet"):
        final.publish(year["organizer"], _challenge(db))
    assert client.get("/results/tiny2012").status_code == 404
    publish_private(year["organizer"], phase)

    results = final.publish(year["organizer"], _challenge(db))
    boards = {(b["board"], b["ranking"]): [e["team"] for e in b["entries"]] for b in results.data["boards"]}
    assert boards == {("public", "all"): ["Alpha", "Beta"], ("private", "all"): ["Alpha", "Beta"]}
    [entry] = db.scalars(select(AuditEntry).where(AuditEntry.action == "challenge.publish_results")).all()
    assert entry.after["boards"] == 2

    page = client.get("/results/tiny2012").get_data(as_text=True)
    assert "final results" in page and page.index("Alpha") < page.index("Beta")
    assert "Private leaderboard, all entries" in page
    assert "/results/tiny2012" in client.get("/c/tiny2012").get_data(as_text=True)
    body = client.get("/results/tiny2012/results.json").get_json()
    assert body["year"] == 2012 and [b["board"] for b in body["boards"]] == ["public", "private"]

    # Disqualifying Alpha changes the live board, not the announced results.
    moderation.moderate_team(year["organizer"], db.get(Team, year["alpha"]), "disqualified", "late finding")
    assert "Alpha" not in client.get("/c/tiny2012/cls?phase=test").get_data(as_text=True)
    assert "Alpha" in client.get("/results/tiny2012").get_data(as_text=True)
    with pytest.raises(final.ResultsError, match="cannot change"):
        final.publish(year["organizer"], _challenge(db))
    assert len(db.scalars(select(FinalResults)).all()) == 1


def test_hidden_phases_are_withheld_from_the_results(app, db, year):
    phase = _close(db)
    phase.public_fraction, phase.leaderboard = None, "hidden"
    db.commit()
    results = final.publish(None, _challenge(db))
    assert results.data["boards"] == []
    assert [w["phase"] for w in results.data["withheld"]] == ["test"]


def test_console_and_command_publish(app, db, client, runner, year):
    _close(db)
    login(client, year["alice"])
    assert client.post(f"/admin/challenges/{_challenge(db).id}/results").status_code == 404
    client.post("/logout")
    login(client, year["organizer"])
    refused = client.post(f"/admin/challenges/{_challenge(db).id}/results", data={"confirm": "yes"},
                          follow_redirects=True)
    reason = "Not published: not yet: tiny2012/cls/test&#39;s private leaderboard"
    assert reason in refused.get_data(as_text=True)
    assert runner.invoke(args=["phases", "publish", "tiny2012/cls/test"]).exit_code == 0
    assert "publish final results…" in client.get("/admin/").get_data(as_text=True)
    result = runner.invoke(args=["results", "publish", "tiny2012"])
    assert result.exit_code == 0, result.output
    assert "2 boards" in result.output and "/results/tiny2012" in result.output
    again = runner.invoke(args=["results", "publish", "tiny2012"])
    assert again.exit_code == 1 and "cannot change" in again.output
    assert 'href="/results/tiny2012"' in client.get("/admin/").get_data(as_text=True)
