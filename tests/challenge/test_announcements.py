"""Announcements and the "results published" e-mail: posted from the console and the CLI,
audited, shown on the challenge page (Markdown rendered safely, newest first), and e-mailed
by worker jobs to the challenge's participants who did not opt out, never inside a request;
over a real local SMTP server (aiosmtpd) and into the outbox."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
import redis as redis_lib
from mail_helpers import free_port, outbox, smtp_server
from sqlalchemy import select
from submit_helpers import drain
from test_rules import assert_safe

from challenge import notify
from challenge.leaderboards import final
from challenge.models import Announcement, AuditEntry, Challenge, Phase, User
from challenge.submissions import service as submissions
from tests.conftest import TINY_LABELS, perfect_predictions


def login(client, user, password="password123"):
    assert client.post("/login", data={"email": user.email, "password": password}).status_code == 302


@pytest.fixture
def smtp(app_config):
    """Ask for this before ``app``: MAIL_URL points at a real local SMTP server."""
    with smtp_server() as (url, inbox):
        app_config["MAIL_URL"] = url
        app_config["MAIL_FROM"] = "Challenge <challenge@example.org>"
        yield inbox


@pytest.fixture
def year(app, db, redis, make_user, make_challenge, make_team):
    """Two teams (Alpha: alice and ann; Beta: bob), a reference team, an outsider."""
    organizer = make_user("boss@example.org", organizer=True)
    alice, ann = make_user("alice@example.org"), make_user("ann@example.org")
    bob = make_user("bob@example.org")
    outsider = make_user("out@example.org")
    challenge = make_challenge()
    make_team(challenge, alice, ann, name="Alpha")
    make_team(challenge, bob, name="Beta")
    baseline = make_team(challenge, organizer, name="Baseline")
    baseline.is_reference = True
    db.commit()
    return {"organizer": organizer, "alice": alice, "ann": ann, "bob": bob, "outsider": outsider,
            "challenge": challenge}


def recipients(messages) -> list[str]:
    return sorted(m["To"] for m in messages)


def test_console_post_shows_on_the_page_and_is_mailed_by_a_worker(app, db, client, year):
    challenge = year["challenge"]
    login(client, year["alice"])
    url = f"/admin/challenges/{challenge.id}/announcements"
    assert client.get(url).status_code == 404
    assert client.post(url, data={"title": "x", "body": "y"}).status_code == 404
    client.post("/logout")
    # Ann turns challenge news off on her account page (and keeps the submission e-mails).
    login(client, year["ann"])
    assert client.post("/account/emails", data={"submissions": "y"}).status_code == 302
    db.expire_all()
    ann = db.get(User, year["ann"].id)
    assert ann.notify_submissions and not ann.notify_announcements
    client.post("/logout")

    login(client, year["organizer"])
    empty = client.post(url, data={"title": "  ", "body": "text"})
    assert empty.status_code == 400 and "title: an announcement needs a title" in empty.get_data(as_text=True)
    first = client.post(url, data={"title": "Welcome", "body": "The test set is **out**."},
                        follow_redirects=True)
    assert "Announcement posted; its e-mails to the participants are queued." in first.get_data(as_text=True)
    hostile = ("<script>alert(1)</script> [win](javascript:alert(1)) <img src=x onerror=alert(1)> "
               "[faq](https://example.org/faq)")
    client.post(url, data={"title": "Deadline <b>moved</b>", "body": hostile})
    assert outbox(app) == []  # nothing is sent inside the request

    page = client.get(f"/c/{challenge.slug}").get_data(as_text=True)
    section = page.split('id="announcements"', 1)[1]
    assert section.index("Deadline &lt;b&gt;moved&lt;/b&gt;") < section.index("Welcome")  # newest first
    assert "The test set is <strong>out</strong>." in section
    assert_safe(section)
    assert '<a href="https://example.org/faq" rel="nofollow noopener noreferrer">faq</a>' in section

    entries = db.scalars(select(AuditEntry).where(AuditEntry.action == "announcement.post")
                         .order_by(AuditEntry.id)).all()
    assert [e.after["title"] for e in entries] == ["Welcome", "Deadline <b>moved</b>"]
    assert all(e.actor_id == year["organizer"].id and e.challenge_id == challenge.id for e in entries)

    assert drain(app)
    messages = outbox(app)
    # Members of competing teams who did not opt out: not Ann, not the outsider, not the baseline.
    assert recipients(messages) == ["alice@example.org", "alice@example.org",
                                    "bob@example.org", "bob@example.org"]
    welcome = next(m for m in messages if m["Subject"] == "Tiny 2012: Welcome")
    body = welcome.get_content()
    assert "The test set is **out**." in body and "/c/tiny2012" in body and "/account" in body
    db.expire_all()
    posts = db.scalars(select(Announcement).order_by(Announcement.id)).all()
    assert [(p.mailed_to, p.mailed_at is not None) for p in posts] == [(2, True), (2, True)]

    # A second run of the job (a retry, an operator re-queuing it) sends nothing again.
    assert notify.mail_announcement(posts[0].id) == 0
    drain(app)
    assert len(outbox(app)) == 4
    console = client.get(url).get_data(as_text=True)
    assert "e-mailed to 2 people" in console


def test_cli_announce_over_real_smtp(smtp, app, db, runner, year, tmp_path):
    body = tmp_path / "news.md"
    body.write_text("# Server maintenance\n\nUploads pause on *Sunday*.\n")
    result = runner.invoke(args=["announce", "tiny2012", "--title", "Maintenance", "--body-file", str(body)])
    assert result.exit_code == 0, result.output
    assert "posted announcement" in result.output and "queued" in result.output
    assert smtp.messages == []
    assert drain(app)
    assert sorted(rcpt[0] for rcpt, _ in smtp.messages) == ["alice@example.org", "ann@example.org",
                                                           "bob@example.org"]
    _, message = smtp.messages[0]
    assert message["Subject"] == "Tiny 2012: Maintenance"
    assert "Uploads pause on *Sunday*." in message.get_content()
    [entry] = db.scalars(select(AuditEntry).where(AuditEntry.action == "announcement.post")).all()
    assert entry.actor_id is None  # the command line

    again = runner.invoke(args=["announce", "tiny2012", "--resend", str(entry.target.split(":")[1])])
    assert again.exit_code == 1 and "already e-mailed to 3 people" in again.output
    assert runner.invoke(args=["announce", "nope", "--title", "x", "--body-file", str(body)]).exit_code == 1
    missing = runner.invoke(args=["announce", "tiny2012", "--title", "x"])
    assert missing.exit_code == 2 and "--body-file" in missing.output
    blank = tmp_path / "blank.md"
    blank.write_text("  \n")
    refused = runner.invoke(args=["announce", "tiny2012", "--title", "x", "--body-file", str(blank)])
    assert refused.exit_code == 1 and "not posted: body: an announcement needs a text" in refused.output


def test_announce_is_listed_with_the_server_commands():
    from click.testing import CliRunner

    from challenge.cli import make_cli
    result = CliRunner().invoke(make_cli(), ["--help"])
    server = result.output.split("Server and admin commands", 1)[1]
    assert "announce" in server


# ---------------------------------------------------------------- results published


def predictions(wrong: int) -> bytes:
    rows = (label % 10 + 1 if i < wrong else label for i, label in enumerate(TINY_LABELS))
    return "".join(f"{row}\n" for row in rows).encode()


def test_publishing_final_results_emails_each_participant_their_ranks(app, db, client, year):
    challenge = year["challenge"]
    phase = challenge.tracks[0].phases[0]
    submissions.submit(year["alice"], phase, "a.txt", perfect_predictions("classification"))
    submissions.submit(year["bob"], phase, "b.txt", predictions(5))
    drain(app)
    bob = db.get(User, year["bob"].id)
    bob.notify_submissions = False
    db.commit()
    before = len(outbox(app))  # Alice's "scored" e-mail
    phase = db.scalars(select(Phase)).one()
    phase.closes_at = datetime.now(UTC) - timedelta(minutes=1)
    db.commit()

    login(client, year["organizer"])
    challenge_id = db.scalars(select(Challenge)).one().id
    published = client.post(f"/admin/challenges/{challenge_id}/results", data={"confirm": "yes"})
    assert published.status_code == 302
    assert len(outbox(app)) == before  # queued, not sent, inside the request
    drain(app)
    news = [m for m in outbox(app) if m["Subject"] == "Tiny 2012: final results published"]
    assert recipients(news) == ["alice@example.org", "ann@example.org", "bob@example.org"]
    by = {m["To"]: m.get_content() for m in news}
    assert "your team 'Alpha' ranks 1" in by["ann@example.org"]
    assert "your team 'Beta' ranks 2" in by["bob@example.org"]
    assert "/results/tiny2012" in by["alice@example.org"]


def test_results_mail_honours_the_opt_out_and_a_dead_redis_does_not_stop_publishing(app, db, year,
                                                                                   monkeypatch, caplog):
    challenge = year["challenge"]
    phase = challenge.tracks[0].phases[0]
    phase.closes_at = datetime.now(UTC) - timedelta(minutes=1)
    for key in ("alice", "ann"):
        db.get(User, year[key].id).notify_announcements = False
    db.commit()
    live = app.extensions["redis_client"] if "redis_client" in app.extensions else None
    down = redis_lib.Redis(port=free_port(), socket_connect_timeout=0.5)
    monkeypatch.setitem(app.extensions, "redis_client", down)
    with caplog.at_level(logging.ERROR, logger="challenge.notify"):
        results = final.publish(None, challenge)  # the e-mails cannot be queued: it still publishes
    assert results.id is not None
    assert "could not queue the e-mails of the final results of tiny2012" in caplog.text
    if live is not None:
        monkeypatch.setitem(app.extensions, "redis_client", live)
    else:
        monkeypatch.delitem(app.extensions, "redis_client")
    assert notify.mail_results_published(challenge.id) == 1  # the job, run by an operator: Bob only
    drain(app)
    assert recipients(outbox(app)) == ["bob@example.org"]
