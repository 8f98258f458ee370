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
from challenge.announcements import service as announcements
from challenge.leaderboards import final
from challenge.models import Announcement, AuditEntry, Challenge, ChallengeHost, Phase, User
from challenge.rules import text_audit
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


# ---------------------------------------------------------------- edit and delete


def news_url(announcement, action=""):
    base = f"/admin/challenges/{announcement.challenge_id}/announcements"
    return f"{base}/{announcement.id}/{action}" if action else base


def audit_of(db, action):
    return db.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)).all()


def section_of(client, challenge) -> str:
    page = client.get(f"/c/{challenge.slug}").get_data(as_text=True)
    return page.split('id="announcements"', 1)[1] if 'id="announcements"' in page else ""


def test_console_edit_and_delete_change_the_challenge_page_audited_and_not_mailed_again(app, db, client,
                                                                                        year):
    challenge, organizer = year["challenge"], year["organizer"]
    welcome, _ = announcements.post(organizer, challenge, "Welcome", "The test set is **out**.\n\nGood luck.")
    other, _ = announcements.post(organizer, challenge, "Server maintenance", "Sunday.")
    assert drain(app)
    mailed = len(outbox(app))
    login(client, organizer)
    listing = client.get(news_url(welcome)).get_data(as_text=True)
    assert f'href="{news_url(welcome, "edit")}">Edit</a>' in listing
    assert f'href="{news_url(welcome, "delete")}">Delete</a>' in listing
    form = client.get(news_url(welcome, "edit")).get_data(as_text=True)
    assert 'value="Welcome"' in form and "Nobody is e-mailed again" in form

    edited = client.post(news_url(welcome, "edit"), follow_redirects=True,
                         data={"title": "Welcome, all", "body": "The test set is **out** now.\n\nGood luck."})
    assert "Announcement edited" in edited.get_data(as_text=True)
    db.expire_all()
    row = db.get(Announcement, welcome.id)
    assert (row.title, row.body) == ("Welcome, all", "The test set is **out** now.\n\nGood luck.")
    section = section_of(client, challenge)
    assert "Welcome, all" in section and "<strong>out</strong> now." in section
    mark = f'edited <time datetime="{row.edited_at.isoformat()}">{row.edited_at:%Y-%m-%d %H:%M} UTC</time>'
    assert mark in section and section.count("edited <time") == 1  # not the other announcement
    drain(app)
    assert len(outbox(app)) == mailed  # an edit is not e-mailed again

    [entry] = audit_of(db, "announcement.edit")
    assert entry.actor_id == organizer.id and entry.challenge_id == challenge.id
    assert entry.target == f"announcement:{welcome.id}"
    assert entry.before == {"title": "Welcome",
                            "body": text_audit.fingerprint("The test set is **out**.\n\nGood luck.")}
    assert entry.after["title"] == "Welcome, all"
    assert entry.after["body"] == text_audit.fingerprint(row.body)
    assert entry.after["diff"]["body"] == ("--- before\n+++ after\n@@ -1,3 +1,3 @@\n"
                                           "-The test set is **out**.\n+The test set is **out** now.\n \n"
                                           " Good luck.")
    audit_page = client.get("/admin/audit?action=announcement.edit").get_data(as_text=True)
    assert "<ins>+The test set is **out** now.</ins>" in audit_page and "<del>Welcome</del>" in audit_page

    # The same text again: nothing saved, no entry, the time of the edit stays.
    same = client.post(news_url(welcome, "edit"), data={"title": " Welcome,  all ", "body": row.body},
                       follow_redirects=True)
    assert "unchanged: nothing was saved" in same.get_data(as_text=True)
    assert len(audit_of(db, "announcement.edit")) == 1

    # Delete: a confirmation page first; a POST without its confirmation deletes nothing.
    page = client.get(news_url(welcome, "delete"))
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "Delete the announcement “Welcome, all”?" in text
    assert "What cannot be undone" in text and "It cannot be restored" in text
    assert f'action="{news_url(welcome, "delete")}"' in text and "e-mails sent to 3 people" in text
    refused = client.post(news_url(welcome, "delete"))
    assert refused.status_code == 303 and refused.headers["Location"].endswith(news_url(welcome, "delete"))
    assert db.get(Announcement, welcome.id) is not None and audit_of(db, "announcement.delete") == []
    deleted = client.post(news_url(welcome, "delete"), data={"confirm": "yes"}, follow_redirects=True)
    assert "Announcement “Welcome, all” deleted" in deleted.get_data(as_text=True)
    db.expire_all()
    assert db.get(Announcement, welcome.id) is None
    section = section_of(client, challenge)
    assert "Welcome, all" not in section and "Server maintenance" in section
    [entry] = audit_of(db, "announcement.delete")
    assert entry.actor_id == organizer.id and entry.target == f"announcement:{welcome.id}"
    assert entry.before == {"title": "Welcome, all", "body": text_audit.fingerprint(row.body)}
    assert entry.after == {"diff": {"body": f"--- announcement {welcome.id}\n+++ (deleted)\n@@ -1,3 +0,0 @@\n"
                                            "-The test set is **out** now.\n-\n-Good luck."}}
    assert client.get(news_url(welcome, "edit")).status_code == 404
    assert client.get(news_url(welcome, "delete")).status_code == 404
    # Deleting the last one removes the section from the challenge page.
    client.post(news_url(other, "delete"), data={"confirm": "yes"})
    assert section_of(client, challenge) == ""


def test_a_bad_edit_is_refused_with_a_specific_error_and_changes_nothing(app, db, client, year):
    challenge = year["challenge"]
    posted, _ = announcements.post(year["organizer"], challenge, "Welcome", "Text.")
    login(client, year["organizer"])
    cases = [({"title": "   ", "body": "Text."}, "Not saved: title: an announcement needs a title"),
             ({"title": "Welcome", "body": ""}, "Not saved: body: required"),
             ({"title": "Welcome", "body": " \r\n "}, "Not saved: body: an announcement needs a text"),
             ({"title": "x" * 201, "body": "Text."}, "Not saved: title: at most 200 characters"),
             ({"title": "Welcome", "body": "x" * 20_001}, "Not saved: body: at most 20000 characters")]
    for data, message in cases:
        response = client.post(news_url(posted, "edit"), data=data)
        assert response.status_code == 400 and message in response.get_data(as_text=True), message
    db.expire_all()
    row = db.get(Announcement, posted.id)
    assert (row.title, row.body, row.edited_at) == ("Welcome", "Text.", None)
    assert audit_of(db, "announcement.edit") == []
    assert "edited" not in section_of(client, challenge)


def test_editing_and_deleting_are_scoped_like_posting(app, db, client, year, make_user, make_challenge):
    """A host of another challenge gets 404 on this one's edit and delete pages, and by naming
    their own challenge with this one's announcement; this challenge's host may do both."""
    challenge = year["challenge"]
    other = make_challenge("other2013", year=2013)
    host, outsider = make_user("host@example.org"), make_user("host-other@example.org")
    db.add_all([ChallengeHost(challenge_id=challenge.id, user_id=host.id),
                ChallengeHost(challenge_id=other.id, user_id=outsider.id)])
    db.commit()
    posted, _ = announcements.post(year["organizer"], challenge, "Welcome", "Text.")
    login(client, outsider)
    theirs = f"/admin/challenges/{other.id}/announcements/{posted.id}"
    for url in (news_url(posted, "edit"), news_url(posted, "delete"), f"{theirs}/edit", f"{theirs}/delete"):
        assert client.get(url).status_code == 404, url
        refused = client.post(url, data={"title": "Hacked", "body": "x", "confirm": "yes"})
        assert refused.status_code == 404, url
    db.expire_all()
    assert db.get(Announcement, posted.id).title == "Welcome"
    assert audit_of(db, "announcement.edit") == audit_of(db, "announcement.delete") == []
    client.post("/logout")

    login(client, host)
    edited = client.post(news_url(posted, "edit"), data={"title": "Welcome!", "body": "Text."})
    assert edited.status_code == 302
    assert client.post(news_url(posted, "delete"), data={"confirm": "yes"}).status_code == 302
    assert [e.actor_id for e in audit_of(db, "announcement.edit") + audit_of(db, "announcement.delete")] == \
        [host.id, host.id]
    assert db.get(Announcement, posted.id) is None


def test_cli_edit_and_delete(app, db, runner, year, tmp_path):
    body = tmp_path / "news.md"
    body.write_text("Uploads pause on Sunday.\n")
    # The original form still posts; so do "post SLUG" and the options before the slug.
    for args in (["announce", "tiny2012", "--title", "Maintenance", "--body-file", str(body)],
                 ["announce", "post", "tiny2012", "--title", "Second", "--body-file", str(body)],
                 ["announce", "--title", "Third", "tiny2012", "--body-file", str(body)]):
        result = runner.invoke(args=args)
        assert result.exit_code == 0 and "posted announcement" in result.output, result.output
    first, second, third = db.scalars(select(Announcement).order_by(Announcement.id)).all()

    # Edited before its mail job ran: the e-mails carry the edited text.
    result = runner.invoke(args=["announce", "edit", str(first.id), "--title", "Maintenance on Sunday"])
    assert result.exit_code == 0 and "edited announcement" in result.output
    assert "not e-mailed again" in result.output
    new_body = runner.invoke(args=["announce", "edit", str(first.id), "--body-file", "-"],
                             input="Uploads pause on *Sunday*, 8-10 UTC.\n")
    assert new_body.exit_code == 0, new_body.output
    db.expire_all()
    row = db.get(Announcement, first.id)
    assert (row.title, row.body) == ("Maintenance on Sunday", "Uploads pause on *Sunday*, 8-10 UTC.")
    assert row.edited_at is not None
    entries = audit_of(db, "announcement.edit")
    assert [(e.actor_id, e.before["title"], e.after["title"]) for e in entries] == [
        (None, "Maintenance", "Maintenance on Sunday"),
        (None, "Maintenance on Sunday", "Maintenance on Sunday")]
    assert "diff" not in entries[0].after  # the title alone changed: no text diff
    assert "+Uploads pause on *Sunday*, 8-10 UTC." in entries[1].after["diff"]["body"]
    unchanged = runner.invoke(args=["announce", "edit", str(first.id), "--title", "Maintenance on Sunday"])
    assert unchanged.exit_code == 0 and "unchanged" in unchanged.output

    # Bad edits: refused, nothing written.
    long = tmp_path / "long.md"
    long.write_text("x" * 20_001)
    for args, code, message in (
            (["announce", "edit", str(first.id)], 2, "give --title, --body-file or both"),
            (["announce", "edit", "999999", "--title", "x"], 1, "no announcement 999999"),
            (["announce", "edit", str(first.id), "--title", " "], 1,
             "not edited: title: an announcement needs a title"),
            (["announce", "edit", str(first.id), "--body-file", str(long)], 1,
             "not edited: body: at most 20000 characters (got 20001)")):
        result = runner.invoke(args=args)
        assert result.exit_code == code and message in result.output, (args, result.output)
    assert len(audit_of(db, "announcement.edit")) == 2

    # Delete asks first (no: nothing happens), or not with --yes; a deleted post is not e-mailed.
    kept = runner.invoke(args=["announce", "delete", str(second.id)], input="n\n")
    assert kept.exit_code == 1 and "Delete announcement" in kept.output and "'Second'" in kept.output
    assert db.get(Announcement, second.id) is not None
    gone = runner.invoke(args=["announce", "delete", str(second.id)], input="y\n")
    assert gone.exit_code == 0 and f"deleted announcement {second.id} of tiny2012: Second" in gone.output
    assert runner.invoke(args=["announce", "delete", str(third.id), "--yes"]).exit_code == 0
    missing = runner.invoke(args=["announce", "delete", str(third.id), "--yes"])
    assert missing.exit_code == 1 and f"no announcement {third.id}" in missing.output
    db.expire_all()
    assert db.scalars(select(Announcement.id)).all() == [first.id]
    assert [e.before["title"] for e in audit_of(db, "announcement.delete")] == ["Second", "Third"]
    assert all(e.actor_id is None for e in audit_of(db, "announcement.delete"))
    assert drain(app)
    subjects = {m["Subject"] for m in outbox(app)}
    assert subjects == {"Tiny 2012: Maintenance on Sunday"}
    assert all("Uploads pause on *Sunday*, 8-10 UTC." in m.get_content() for m in outbox(app))
