"""Accounts through the pages: register, log in/out, sessions, CSRF and API tokens."""

from __future__ import annotations

import hashlib
import re
import threading

import pytest
from sqlalchemy import select

from challenge.auth.service import AccountError, register_user
from challenge.auth.views import safe_next
from challenge.db import read_only
from challenge.extensions import db as database
from challenge.models import ApiToken, User
from challenge.tokens import create_token, user_for_token


def register(client, email="ada@example.org", password="correct horse", confirm=None, name="Ada"):
    return client.post("/register", data={
        "email": email, "name": name, "password": password,
        "confirm": password if confirm is None else confirm,
    })


def login(client, email, password="password123", **extra):
    return client.post("/login", data={"email": email, "password": password, **extra})


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


@pytest.fixture
def csrf_on(app_config):
    """Ask for this before ``app``/``client`` to run with CSRF protection enabled."""
    app_config["WTF_CSRF_ENABLED"] = True


# ------------------------------------------------------------------ register

def test_register_stores_a_password_hash_and_sends_to_login(client, db):
    response = register(client, email="  Ada@Example.ORG ", password="correct horse")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/teams"
    assert "If this address was new, your account is ready" in client.get("/login?next=/teams").text
    user = db.scalar(select(User))
    assert user.email == "ada@example.org"
    assert user.name == "Ada"
    assert "correct horse" not in user.password_hash
    assert user.password_hash.startswith(("scrypt:", "pbkdf2:"))
    assert user.check_password("correct horse") and not user.check_password("wrong horse")
    assert not user.is_organizer
    assert client.get("/account").status_code == 302  # not logged in by registering
    response = login(client, "ada@example.org", "correct horse", next="/teams")
    assert response.headers["Location"] == "/teams"
    assert client.get("/account").status_code == 200


def test_email_is_unique_whatever_the_case_and_the_page_does_not_tell(client, db):
    """A second registration of an address is answered like the first (it must not reveal
    that the address has an account) and changes nothing: no user, same password."""
    first = register(client, email="ada@example.org", password="correct horse")
    second = register(client, email="ADA@example.ORG", password="another password")
    assert second.status_code == first.status_code == 302
    assert second.headers["Location"] == first.headers["Location"]
    assert len(db.scalars(select(User)).all()) == 1
    assert login(client, "ada@example.org", "another password").status_code == 400
    assert login(client, "ada@example.org", "correct horse").status_code == 302


@pytest.mark.parametrize(("fields", "message"), [
    ({"password": "short7!"}, "at least 8 characters"),
    ({"confirm": "something else"}, "the passwords differ"),
    ({"email": "not-an-email"}, "is not an email address"),
    ({"email": "ada@localhost"}, "is not an email address"),
    ({"name": ""}, "This field is required"),
])
def test_bad_registrations_are_refused_and_change_nothing(client, db, fields, message):
    response = register(client, **fields)
    assert response.status_code == 400
    assert message in response.text
    assert db.scalars(select(User)).all() == []
    assert client.get("/account").status_code == 302  # still anonymous


# ------------------------------------------------------------------ log in / out

def test_login_with_any_case_email_and_follow_a_relative_next(client, make_user):
    make_user("bob@example.org")
    page = client.get("/login?next=/teams%3Fx%3D1")
    assert 'name="next" type="hidden" value="/teams?x=1"' in page.text
    response = login(client, "BOB@example.org", next="/teams?x=1")
    assert response.status_code == 302
    assert response.headers["Location"] == "/teams?x=1"
    assert client.get("/account").status_code == 200


@pytest.mark.parametrize("target", [
    "https://evil.example/x", "//evil.example/x", "/\\evil.example", "javascript:alert(1)",
    "http:/evil.example", "/ok\r\nLocation: https://evil.example", "teams",
])
def test_login_refuses_to_redirect_off_site(client, make_user, target):
    assert safe_next(target) is None
    make_user("bob@example.org")
    response = login(client, "bob@example.org", next=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_safe_next_keeps_local_paths():
    assert safe_next("/c/ilsvrc2012/cls?phase=test") == "/c/ilsvrc2012/cls?phase=test"
    assert safe_next(None) is None and safe_next("") is None


def test_wrong_password_or_unknown_email_is_one_message(client, make_user):
    make_user("bob@example.org")
    for email, password in (("bob@example.org", "wrong-password"), ("nobody@example.org", "password123")):
        response = login(client, email, password)
        assert response.status_code == 400
        assert "wrong email or password" in response.text
    assert client.get("/account").status_code == 302


def test_pages_needing_login_redirect_with_a_relative_next(client):
    response = client.get("/account")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/account"
    assert "Please log in" in client.get(response.headers["Location"]).text


def test_a_post_without_login_gets_a_friendly_401(client):
    response = client.post("/account/tokens", data={"name": "x"})
    assert response.status_code == 401
    assert "You need to be logged in to do that" in response.text
    assert 'href="/login"' in response.text


def test_logout_is_post_only(client, make_user):
    make_user("bob@example.org")
    login(client, "bob@example.org")
    assert client.get("/logout").status_code == 405
    assert client.get("/account").status_code == 200
    response = client.post("/logout")
    assert response.status_code == 302
    assert client.get("/account").status_code == 302


def test_session_cookie_is_httponly_and_samesite(client, make_user):
    make_user("bob@example.org")
    response = login(client, "bob@example.org")
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("session="))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_csrf_is_enforced_on_login_and_logout(csrf_on, client, make_user):
    make_user("bob@example.org")
    response = login(client, "bob@example.org")
    assert response.status_code == 400
    assert "CSRF token is missing" in response.text
    assert client.get("/account").status_code == 302

    token = csrf_from(client.get("/login").text)
    assert login(client, "bob@example.org", csrf_token=token).status_code == 302
    assert client.get("/account").status_code == 200

    assert client.post("/logout").status_code == 400
    assert client.post("/logout", data={"csrf_token": "forged"}).status_code == 400
    assert client.get("/account").status_code == 200  # still logged in

    token = csrf_from(client.get("/account").text)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/account").status_code == 302


def test_csrf_is_enforced_on_register(csrf_on, client, db):
    assert register(client).status_code == 400
    assert db.scalars(select(User)).all() == []


# ------------------------------------------------------------------ API tokens

def test_tokens_are_stored_hashed_and_revocable(db, make_user):
    user = make_user("bob@example.org")
    raw = create_token(user, "laptop")
    stored = db.scalar(select(ApiToken))
    assert stored.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in (stored.token_hash, stored.prefix, stored.name)
    assert raw.startswith(stored.prefix)
    assert stored.last_used_at is None
    assert user_for_token(raw).id == user.id
    assert db.scalar(select(ApiToken)).last_used_at is not None
    assert user_for_token(raw + "x") is None


def test_account_page_creates_shows_once_and_revokes_tokens(client, db, make_user):
    user = make_user("bob@example.org", name="Bob")
    login(client, "bob@example.org")
    page = client.get("/account").text
    assert "bob@example.org" in page and "competitor" in page
    assert "You have no API tokens" in page

    response = client.post("/account/tokens", data={"name": "laptop"})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    raw = re.search(r'<code id="new-token">([^<]+)</code>', response.text).group(1)
    assert user_for_token(raw).id == user.id

    page = client.get("/account").text
    assert raw not in page  # shown once only
    assert "laptop" in page and raw[:12] in page
    assert '<button type="submit" class="danger">Revoke</button>' in page  # destructive: the danger style
    assert "never" not in page  # used just above: the last-used time is shown

    token = db.scalar(select(ApiToken))
    response = client.post(f"/account/tokens/{token.id}/revoke")
    assert response.status_code == 302
    assert "Token revoked" in client.get("/account").text
    assert user_for_token(raw) is None


def test_nobody_can_revoke_another_users_token(client, db, make_user):
    make_user("bob@example.org")
    eve = make_user("eve@example.org")
    raw = create_token(eve, "eve's")
    token_id = db.scalar(select(ApiToken.id))
    login(client, "bob@example.org")
    client.post(f"/account/tokens/{token_id}/revoke")
    assert "No such token of yours" in client.get("/account").text
    assert user_for_token(raw).id == eve.id


def test_revoking_needs_a_csrf_token(csrf_on, client, db, make_user):
    user = make_user("bob@example.org")
    raw = create_token(user, "laptop")
    token_id = db.scalar(select(ApiToken.id))
    token = csrf_from(client.get("/login").text)
    login(client, "bob@example.org", csrf_token=token)
    assert client.post(f"/account/tokens/{token_id}/revoke").status_code == 400
    assert user_for_token(raw).id == user.id
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/account").text).group(1)
    response = client.post(f"/account/tokens/{token_id}/revoke", data={"csrf_token": token})
    assert response.status_code == 302
    assert user_for_token(raw) is None


def test_token_names_are_limited(client, make_user):
    make_user("bob@example.org")
    login(client, "bob@example.org")
    response = client.post("/account/tokens", data={"name": "x" * 101})
    assert response.status_code == 400
    assert "new-token" not in response.text



def test_simultaneous_registrations_all_succeed_or_get_the_duplicate_message(app, db):
    """Real threads registering at once (two with the same email in another case):
    every request ends in a user or the duplicate message, never a database error."""
    emails = ["a@example.org", "b@example.org", "c@example.org", "A@example.org"]
    barrier = threading.Barrier(len(emails))
    outcomes: dict[str, str] = {}

    def run(email: str) -> None:
        with app.app_context():
            with read_only():  # a read first, as a page does (a POST would hold the write lock)
                database.session.scalar(select(User.id))
                database.session.commit()
            barrier.wait()
            try:
                register_user(email, "password123")
                outcomes[email] = "created"
            except AccountError as exc:
                outcomes[email] = exc.message

    threads = [threading.Thread(target=run, args=(email,)) for email in emails]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes["b@example.org"] == outcomes["c@example.org"] == "created"
    same = sorted([outcomes["a@example.org"], outcomes["A@example.org"]])
    assert same == ["an account with the email a@example.org already exists", "created"]
    db.expire_all()
    assert sorted(db.scalars(select(User.email))) == ["a@example.org", "b@example.org", "c@example.org"]
