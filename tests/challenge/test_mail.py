"""E-mail end to end: a real SMTP server (aiosmtpd) the tests start, real RQ jobs on the
mail queue, the outbox fallback, and the messages about submissions and passwords."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
import redis as redis_lib
from mail_helpers import free_port, outbox, smtp_server
from rq import SimpleWorker
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from submit_helpers import drain, team_with_token

from challenge import mail, notify
from challenge.auth import links
from challenge.config import load_config, mail_settings
from challenge.demo import load_demo
from challenge.models import Submission, User
from challenge.queue import get_queue, queue_names
from challenge.submissions.service import Metadata, submit
from tests.conftest import perfect_predictions


@pytest.fixture
def smtp(app_config):
    """Ask for this before ``app``: MAIL_URL points at a real local SMTP server."""
    with smtp_server() as (url, inbox):
        app_config["MAIL_URL"] = url
        app_config["MAIL_FROM"] = "Challenge <challenge@example.org>"
        yield inbox


def login(client, email, password="password123"):
    return client.post("/login", data={"email": email, "password": password})


def mail_queue(app):
    return get_queue(app, app.config["RQ_MAIL_QUEUE"])


# ---------------------------------------------------------------- settings

def test_mail_url_is_taken_apart_and_checked_at_start():
    assert mail_settings("") is None
    assert mail_settings("smtp://ada:p%40ss@mail.example.org:2525?tls=ssl") == {
        "host": "mail.example.org", "port": 2525, "tls": "ssl", "user": "ada", "password": "p@ss"}
    assert mail_settings("smtp://mail.example.org")["port"] == 587  # STARTTLS by default
    assert mail_settings("smtp://mail.example.org?tls=ssl")["port"] == 465
    assert mail_settings("smtp://mail.example.org?tls=none")["port"] == 25
    for bad in ("http://mail.example.org", "smtp://mail.example.org?tls=maybe", "smtp://:25",
                "smtp://mail.example.org:port"):
        with pytest.raises(ValueError, match="MAIL_URL"):
            mail_settings(bad)
    config = load_config({"SECRET_KEY": "x", "SITE_URL": "https://c.example.org/ "})
    assert config["MAIL"] is None and config["SITE_URL"] == "https://c.example.org"
    assert config["REQUIRE_EMAIL_VERIFICATION"] is False


def test_the_mail_queue_is_taken_last(app):
    assert queue_names(app) == ["scoring", "rescoring", "mail"]


# ---------------------------------------------------------------- SMTP, for real

def test_password_reset_over_smtp_link_works_once(smtp, app, db, redis, client, make_user):
    user = make_user("ada@example.org", password="old password")
    response = client.post("/forgot", data={"email": "ADA@example.org "})
    assert response.status_code == 302
    assert smtp.messages == []  # nothing is sent inside the request
    assert drain(app)
    [(rcpt, message)] = smtp.messages
    assert rcpt == ["ada@example.org"]
    assert message["To"] == "ada@example.org"
    assert message["From"] == "Challenge <challenge@example.org>"
    assert message["Subject"] == "Reset your password"
    assert message["Message-ID"] and message["Date"]
    body = message.get_content()
    link = re.search(r"http://localhost(/reset/\S+)", body)
    assert link, body  # the test client's host: SITE_URL is unset

    assert client.get(link.group(1)).status_code == 200
    response = client.post(link.group(1), data={"password": "new password", "confirm": "new password"})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert login(client, "ada@example.org", "old password").status_code == 400
    assert login(client, "ada@example.org", "new password").status_code == 302
    db.expire_all()
    assert db.get(User, user.id).email_verified_at is not None  # the link proved the mailbox

    # Used once: the password it was made for is gone, so it is dead.
    client.post("/logout")
    assert client.get(link.group(1)).status_code == 400
    again = client.post(link.group(1), data={"password": "third password", "confirm": "third password"})
    assert again.status_code == 400 and "does not work" in again.text
    assert login(client, "ada@example.org", "third password").status_code == 400


def test_a_reset_link_expires_after_an_hour(app, db, client, make_user):
    user = make_user("ada@example.org")
    old = links.reset_token(user, at=time.time() - links.RESET_MAX_AGE - 5)
    fresh = links.reset_token(user, at=time.time() - links.RESET_MAX_AGE + 60)
    assert client.get(f"/reset/{old}").status_code == 400
    assert client.get(f"/reset/{old[:-2]}xx").status_code == 400  # tampered
    assert client.get(f"/reset/{links.verify_token(user)}").status_code == 400  # another purpose
    assert client.get(f"/reset/{fresh}").status_code == 200


@pytest.fixture
def site_url(app_config):
    app_config["SITE_URL"] = "https://challenge.example.org/"


def test_site_url_names_the_links_when_set(site_url, app):
    assert mail.link("auth.reset_password", token="abc") == "https://challenge.example.org/reset/abc"


def test_a_transient_smtp_refusal_is_retried_later_and_then_delivered(smtp, app, redis):
    smtp.refuse = ["451 4.3.0 try again later"]
    job_id = mail.send_later("ada@example.org", "Hello", "a body\n")
    drain(app)
    assert smtp.messages == []
    job = mail_queue(app).fetch_job(job_id)
    assert job.retries_left == len(mail.RETRY_INTERVALS) - 1
    scheduled = ScheduledJobRegistry(queue=mail_queue(app))
    assert job_id in scheduled.get_job_ids()  # waits RETRY_INTERVALS[0] s, not lost
    # What RQ's scheduler does when the wait is over (here at once):
    scheduled.remove(job)
    mail_queue(app).enqueue_job(job)
    assert drain(app)
    [(rcpt, message)] = smtp.messages
    assert rcpt == ["ada@example.org"] and message["Subject"] == "Hello"
    assert message.get_content().replace("\r\n", "\n") == "a body\n"


def test_a_permanent_smtp_refusal_fails_at_once_into_the_failed_registry(smtp, app, redis, caplog):
    smtp.refuse = ["550 5.1.1 no such mailbox"]
    with caplog.at_level(logging.ERROR, logger="challenge.mail"):
        job_id = mail.send_later("nobody@example.org", "Hello", "a body\n")
        drain(app)
    assert job_id in FailedJobRegistry(queue=mail_queue(app)).get_job_ids()
    assert job_id not in ScheduledJobRegistry(queue=mail_queue(app)).get_job_ids()
    assert "refused for good" in caplog.text and "nobody@example.org" in caplog.text


@pytest.fixture
def no_server(app_config):
    app_config["MAIL_URL"] = f"smtp://127.0.0.1:{free_port()}?tls=none"


def test_no_server_at_all_is_transient(no_server, app, redis):
    job_id = mail.send_later("ada@example.org", "Hello", "body\n")
    drain(app)
    assert job_id in ScheduledJobRegistry(queue=mail_queue(app)).get_job_ids()


# ---------------------------------------------------------------- the outbox

def test_without_mail_url_messages_land_in_the_outbox_as_eml_files(app, redis):
    assert app.config["MAIL"] is None
    mail.send_later("ada@example.org", "Grüße", "Ünïcode body\n")
    assert outbox(app) == []  # written by the worker, not the caller
    assert drain(app)
    [message] = outbox(app)
    assert message["To"] == "ada@example.org" and message["Subject"] == "Grüße"
    assert message.get_content() == "Ünïcode body\n"
    folder = app.config["CHALLENGE_INSTANCE"] + "/outbox"
    assert not [n for n in os.listdir(folder) if not n.endswith(".eml")]  # no temp files left


# ---------------------------------------------------------------- submissions

@pytest.fixture
def scored_team(app, db, redis, make_user, make_challenge, make_team):
    def make(leaderboard: str = "public", data: bytes | None = None):
        t = team_with_token(make_user, make_challenge, make_team, leaderboard=leaderboard)
        submission = submit(t["user"], t["phase"], "p.txt", data or perfect_predictions("classification"),
                            Metadata(method="M"))
        return t, submission.id
    return make


def test_a_scored_submission_emails_its_uploader_with_the_visible_score(smtp, app, db, scored_team):
    t, submission_id = scored_team()
    assert drain(app)  # scores, then sends
    [(rcpt, message)] = smtp.messages
    assert rcpt == [t["user"].email]
    assert message["Subject"] == f"Submission {submission_id} scored: Tiny classification"
    body = message.get_content()
    assert "Tiny 2012, Tiny classification, phase Test" in body
    assert "is scored" in body
    assert "All test images: error 0.00000" in body
    assert f"http://localhost:5000/submissions/{submission_id}" in body  # no request: the default
    assert "http://localhost:5000/account" in body  # where to turn it off


def test_a_hidden_board_keeps_the_score_out_of_the_email(smtp, app, db, scored_team):
    _, submission_id = scored_team(leaderboard="hidden")
    assert drain(app)
    [(_, message)] = smtp.messages
    body = message.get_content()
    assert db.get(Submission, submission_id).status == "scored"
    assert "error" not in body and "0.0" not in body
    assert "not shown to teams yet" in body


def test_a_failed_submission_emails_the_reason(app, db, redis, scored_team):
    t, submission_id = scored_team()
    db.get(Submission, submission_id).stored_path = "missing/file.txt"
    db.commit()
    assert drain(app)
    [message] = outbox(app)
    assert message["Subject"].startswith(f"Submission {submission_id} failed")
    assert "Reason: the uploaded file is missing on the server" in message.get_content()


def test_the_opt_out_on_the_account_page_stops_submission_emails(app, db, redis, client, scored_team):
    t, first = scored_team()
    assert drain(app)
    assert len(outbox(app)) == 1
    login(client, t["user"].email)
    page = client.get("/account").text
    assert re.search(r'<input checked id="submissions" name="submissions" type="checkbox"', page)
    assert client.post("/account/emails", data={}).status_code == 302  # unticked
    db.expire_all()
    assert db.get(User, t["user"].id).notify_submissions is False
    assert 'checked id="submissions"' not in client.get("/account").text
    submit(db.get(User, t["user"].id), t["phase"], "p.txt", perfect_predictions("classification"),
           Metadata(method="M"))
    assert drain(app)
    assert len(outbox(app)) == 1  # nothing new
    client.post("/account/emails", data={"submissions": "y"})
    db.expire_all()
    assert db.get(User, t["user"].id).notify_submissions is True


def test_the_scoring_job_only_queues_the_notice_which_composes_what_holds_when_it_runs(
        app, db, redis, scored_team):
    """The scoring job queues notify.submission_notice (no message text); the mail job
    composes it from the row as it is then, and skips one whose uploader opted out since."""
    t, first = scored_team()
    scoring_only = [app.config["RQ_QUEUE"]]
    SimpleWorker([get_queue(app, name) for name in scoring_only], connection=redis).work(burst=True)
    [job] = mail_queue(app).get_jobs()
    assert job.func_name == "challenge.notify.submission_notice" and job.args == (first,)
    assert outbox(app) == []  # nothing composed or sent by the scoring job
    assert drain(app)
    [message] = outbox(app)
    assert f"your submission {first} to" in message.get_content()

    second = submit(db.get(User, t["user"].id), t["phase"], "p.txt", perfect_predictions("classification"),
                    Metadata(method="M")).id
    SimpleWorker([get_queue(app, name) for name in scoring_only], connection=redis).work(burst=True)
    db.expire_all()
    user = db.get(Submission, second).user
    user.notify_submissions = False  # turned off while the notice waited
    db.commit()
    assert drain(app)
    assert len(outbox(app)) == 1  # the second notice sent nothing


def test_scoring_does_not_depend_on_the_mail_queue(app, db, scored_team, caplog, monkeypatch):
    """Redis unreachable when the e-mail is queued: logged, never raised into the job."""
    _, submission_id = scored_team()
    down = redis_lib.Redis(port=free_port(), socket_connect_timeout=0.5)
    monkeypatch.setitem(app.extensions, "redis_client", down)
    with caplog.at_level(logging.ERROR, logger="challenge.notify"):
        notify.submission_finished(db.get(Submission, submission_id))  # must not raise
    assert f"could not queue the e-mail about submission {submission_id}" in caplog.text


def test_the_worker_command_sends_a_retry_once_its_wait_is_over(app, redis):
    """A real `challenge worker` process: its sweep moves a retry whose wait has passed
    back onto the mail queue, and it is sent."""
    queue = mail_queue(app)
    job = queue.enqueue_at(datetime.now(UTC) - timedelta(seconds=1), mail.deliver,
                           "ada@example.org", "Later", "body\n")
    assert job.id in ScheduledJobRegistry(queue=queue).get_job_ids()
    env = dict(os.environ, DATABASE_URL=app.config["DATABASE_URL"], REDIS_URL=app.config["REDIS_URL"],
               CHALLENGE_INSTANCE=app.config["CHALLENGE_INSTANCE"], SECRET_KEY=app.config["SECRET_KEY"])
    done = subprocess.run([sys.executable, "-c", "from challenge.cli import main; main()",
                           "worker", "--burst"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    [message] = outbox(app)
    assert message["Subject"] == "Later"


def test_a_message_that_fails_every_try_ends_in_the_failed_registry_with_an_error_logged(
        smtp, app, redis, caplog):
    smtp.refuse = ["451 busy"] * (len(mail.RETRY_INTERVALS) + 1)
    queue = mail_queue(app)
    scheduled = ScheduledJobRegistry(queue=queue)
    job_id = mail.send_later("ada@example.org", "Hello", "body\n")
    with caplog.at_level(logging.WARNING, logger="challenge.mail"):
        for _ in range(len(mail.RETRY_INTERVALS) + 1):
            drain(app)
            if job_id in scheduled.get_job_ids():  # the scheduler's part, at once
                job = queue.fetch_job(job_id)
                scheduled.remove(job)
                queue.enqueue_job(job)
    assert smtp.messages == [] and smtp.refuse == []  # 4 tries in all
    assert job_id in FailedJobRegistry(queue=queue).get_job_ids()
    assert caplog.text.count("will retry") == len(mail.RETRY_INTERVALS)
    assert "not sent after every retry" in caplog.text


def test_due_retries_are_released_once_and_early_ones_wait(app, redis):
    queue = mail_queue(app)
    now = datetime.now(UTC)
    due = queue.enqueue_at(now - timedelta(seconds=1), mail.deliver, "a@example.org", "Due", "b\n")
    later = queue.enqueue_at(now + timedelta(hours=1), mail.deliver, "a@example.org", "Later", "b\n")
    assert mail.release_due_retries() == 1
    assert mail.release_due_retries() == 0  # a second worker's sweep finds nothing to move
    assert queue.job_ids == [due.id]
    assert later.id in ScheduledJobRegistry(queue=queue).get_job_ids()
    assert drain(app)
    assert [m["Subject"] for m in outbox(app)] == ["Due"]


def test_loading_the_demo_emails_nobody(app, redis):
    assert load_demo(app)  # scores its synthetic entries with the real job
    drain(app)
    assert outbox(app) == []
