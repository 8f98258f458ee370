"""Accounts, issue 12 item 3: registration errors all at once and tied to their inputs,
password change and reset, and the optional e-mail verification gate."""

from __future__ import annotations

import html
import re

import pytest
from mail_helpers import outbox
from sqlalchemy import select
from submit_helpers import api_upload, drain, team_with_token

from challenge.auth import links
from challenge.auth.service import UNVERIFIED
from challenge.models import Team, User
from tests.conftest import perfect_predictions


def login(client, email, password="password123"):
    return client.post("/login", data={"email": email, "password": password})


def inputs(page: str) -> dict[str, str]:
    """Each <input>'s tag, by its id."""
    tags = re.findall(r"<input[^>]*>", page)
    return {m.group(1): tag for tag in tags if (m := re.search(r'\sid="([^"]+)"', tag))}


# ---------------------------------------------------------------- registration

def test_registration_shows_every_error_at_once_tied_to_its_input(client, db):
    response = client.post("/register", data={
        "email": "not-an-address", "name": "Ada Lovelace", "password": "short", "confirm": "other"})
    assert response.status_code == 400
    page = response.text
    tags = inputs(page)
    for field in ("email", "password", "confirm"):
        tag = tags[field]
        assert 'aria-invalid="true"' in tag, tag
        described = re.search(r'aria-describedby="([^"]+)"', tag).group(1).split()
        assert described, tag
        for error_id in described:  # each id names one error message on the page
            assert re.search(rf'<span class="error-text" id="{error_id}">[^<]+</span>', page), error_id
    assert "aria-invalid" not in tags["name"]
    assert "not an email address" in page
    assert "passwords need at least 8 characters" in page
    assert "the passwords differ" in page
    # Values kept, except passwords.
    assert 'value="not-an-address"' in tags["email"]
    assert 'value="Ada Lovelace"' in tags["name"]
    assert 'value=""' in tags["password"] and 'value=""' in tags["confirm"]
    assert "short" not in page.replace("shortly", "")
    assert db.scalar(select(User)) is None


def test_a_field_with_two_errors_names_both(client):
    response = client.post("/register", data={"email": "x" * 300, "name": "A", "password": "",
                                              "confirm": ""})
    assert response.status_code == 400
    tag = inputs(response.text)["email"]  # too long, and not an address
    assert 'aria-describedby="email-error-1 email-error-2"' in tag
    assert 'id="email-error-2"' in response.text


# ---------------------------------------------------------------- change password

def test_change_password_asks_for_the_current_one_and_ends_other_sessions(app, client, db, make_user):
    user = make_user("ada@example.org", password="old password")
    other = app.test_client()
    assert login(other, "ada@example.org", "old password").status_code == 302
    assert login(client, "ada@example.org", "old password").status_code == 302

    wrong = client.post("/account/password", data={
        "current": "not it", "password": "new password", "confirm": "new password"})
    assert wrong.status_code == 400
    tag = inputs(wrong.text)["current"]
    assert 'aria-invalid="true"' in tag and "that is not your current password" in wrong.text
    mismatch = client.post("/account/password", data={
        "current": "old password", "password": "new password", "confirm": "new passw0rd"})
    assert mismatch.status_code == 400 and "the passwords differ" in mismatch.text
    db.expire_all()
    assert db.get(User, user.id).check_password("old password")

    done = client.post("/account/password", data={
        "current": "old password", "password": "new password", "confirm": "new password"})
    assert done.status_code == 302 and done.headers["Location"] == "/account"
    assert client.get("/account").status_code == 200  # this session goes on
    assert other.get("/account").status_code == 302  # the other one has ended
    client.post("/logout")
    assert login(client, "ada@example.org", "old password").status_code == 400
    assert login(client, "ada@example.org", "new password").status_code == 302


# ---------------------------------------------------------------- forgot password

def test_forgot_password_answers_alike_whether_or_not_the_address_exists(app, client, redis, make_user):
    make_user("ada@example.org")
    assert "Forgot your password?" in client.get("/login").text
    known = client.post("/forgot", data={"email": "ada@example.org"})
    unknown = client.post("/forgot", data={"email": "nobody@example.org"})
    assert known.status_code == unknown.status_code == 302
    assert known.headers["Location"] == unknown.headers["Location"] == "/login"
    pages = []
    for email in ("ada@example.org", "nobody@example.org"):
        other = app.test_client()
        other.post("/forgot", data={"email": email})
        pages.append(other.get("/login").text)
    assert "If an account has this address" in pages[0]
    assert pages[0] == pages[1]
    assert drain(app)
    messages = outbox(app)  # only the real account got any
    assert len(messages) == 2 and {m["To"] for m in messages} == {"ada@example.org"}


@pytest.fixture
def reset_limit(app_config):
    app_config.update({"RATELIMIT_ENABLED": True, "RATELIMIT_PASSWORD_RESET": "2 per hour"})


def test_forgot_password_is_rate_limited_per_address_asked_about(reset_limit, app, redis, make_user):
    redis.flushdb()
    make_user("ada@example.org")
    for n in range(2):
        client = app.test_client()  # what a botnet would do: a fresh client each time
        assert client.post("/forgot", data={"email": "ada@example.org"},
                           environ_base={"REMOTE_ADDR": f"10.0.0.{n}"}).status_code == 302
    refused = app.test_client().post("/forgot", data={"email": "ADA@example.org"},
                                     environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    # Per client address too, whatever the addresses asked about.
    client = app.test_client()
    for n in range(2):
        client.post("/forgot", data={"email": f"x{n}@example.org"}, environ_base={"REMOTE_ADDR": "10.1.0.1"})
    assert client.post("/forgot", data={"email": "y@example.org"},
                       environ_base={"REMOTE_ADDR": "10.1.0.1"}).status_code == 429
    redis.flushdb()


def test_reset_page_refuses_a_short_password_and_keeps_the_link_alive(app, client, db, make_user):
    user = make_user("ada@example.org")
    token = links.reset_token(user)
    short = client.post(f"/reset/{token}", data={"password": "short", "confirm": "short"})
    assert short.status_code == 400 and "at least 8" in short.text
    assert short.headers["Cache-Control"] == "no-store"
    assert client.get(f"/reset/{token}").status_code == 200  # not used up by a refusal


# ---------------------------------------------------------------- verification

@pytest.fixture
def verification_on(app_config):
    app_config["REQUIRE_EMAIL_VERIFICATION"] = True


def test_verification_gate_blocks_teams_and_uploads_until_the_link_is_opened(
        verification_on, app, client, db, redis, make_user, make_challenge, make_team):
    challenge = make_challenge()
    response = client.post("/register", data={
        "email": "ada@example.org", "name": "Ada", "password": "password123", "confirm": "password123"})
    assert response.status_code == 302
    assert drain(app)
    [message] = outbox(app)
    assert message["Subject"] == "Confirm your e-mail address"
    link = re.search(r"http://localhost(/verify/\S+)", message.get_content()).group(1)

    assert login(client, "ada@example.org").status_code == 302  # logging in works
    page = client.get("/teams").text
    assert "Confirm your e-mail address" in page and "Send the link again" in page
    refused = client.post("/teams/create", data={"challenge_id": challenge.id, "name": "Team A"},
                          follow_redirects=True)
    assert html.escape(UNVERIFIED[0].upper() + UNVERIFIED[1:]) in refused.text
    assert db.scalar(select(Team)) is None

    # The resend button sends a fresh link.
    assert client.post("/account/verify").status_code == 302
    assert drain(app)
    assert len(outbox(app)) == 2

    assert client.get(link).status_code == 302
    db.expire_all()
    assert db.scalar(select(User)).email_verified_at is not None
    assert "Send the link again" not in client.get("/teams").text
    created = client.post("/teams/create", data={"challenge_id": challenge.id, "name": "Team A"})
    assert created.status_code == 302 and db.scalar(select(Team)) is not None


def test_an_unverified_user_cannot_upload_through_the_api(
        verification_on, app, client, db, redis, make_user, make_challenge, make_team):
    t = team_with_token(make_user, make_challenge, make_team)
    response = api_upload(client, t["token"], perfect_predictions("classification"))
    assert response.status_code == 403 and "confirm your e-mail address" in response.json["error"]
    user = db.get(User, t["user"].id)
    assert client.get(f"/verify/{links.verify_token(user)}").status_code == 302
    assert api_upload(client, t["token"], perfect_predictions("classification")).status_code == 202


def test_a_verification_link_for_an_old_address_or_too_old_does_not_work(client, db, make_user):
    user = make_user("ada@example.org")
    stale = links.verify_token(user, at=0)
    token = links.verify_token(user)
    user.email = "ada@new.example.org"
    db.commit()
    assert client.get(f"/verify/{token}").status_code == 400
    assert client.get(f"/verify/{stale}").status_code == 400


def test_verification_is_off_by_default(client, db, redis, make_user, make_challenge):
    make_user("ada@example.org")
    challenge = make_challenge()
    login(client, "ada@example.org")
    assert "Send the link again" not in client.get("/teams").text
    assert client.post("/teams/create", data={"challenge_id": challenge.id, "name": "T"}).status_code == 302
    assert db.scalar(select(Team)) is not None
