"""Web hardening: rate limits (real Redis), security headers, trusted proxies and Secure
cookies, sessions that end at logout, formula-safe CSV, bounded ids, and a register page
that does not tell who has an account."""

from __future__ import annotations

import csv
import io
import math
import re
import statistics
import time
from pathlib import Path

import pytest
from limits import parse_many
from sqlalchemy import select
from submit_helpers import api_upload, team_with_token

from challenge import csv_export
from challenge.config import load_config
from challenge.models import Score, Submission, User
from challenge.tokens import create_token

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def login(client, email, password="password123", **extra):
    return client.post("/login", data={"email": email, "password": password}, **extra)


def register(client, email, password="correct horse", **extra):
    return client.post("/register", data={"email": email, "name": "Ada", "password": password,
                                          "confirm": password}, **extra)


def from_address(address: str) -> dict:
    return {"environ_base": {"REMOTE_ADDR": address}}


def session_cookie(response) -> str:
    return next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("session="))


@pytest.fixture
def limits_on(app_config):
    """Ask for this before ``app``/``client``: rate limits on, small, in the test Redis."""
    app_config.update({
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_LOGIN_IP": "3 per minute",
        "RATELIMIT_LOGIN_EMAIL": "4 per hour",
        "RATELIMIT_REGISTER": "2 per minute",
        "RATELIMIT_TOKEN_CREATE": "2 per hour",
        "RATELIMIT_API_UPLOAD": "2 per hour",
    })


@pytest.fixture
def fresh_counts(redis):
    """The test Redis, emptied (the counts of an earlier test must not leak in)."""
    return redis


# ------------------------------------------------------------------ rate limits

def test_failed_logins_per_address_end_in_429_with_retry_after(limits_on, client, fresh_counts,
                                                                make_user):
    make_user("bob@example.org")
    for email in ("bob@example.org", "eve@example.org", "amy@example.org"):
        assert login(client, email, "wrong-password").status_code == 400
    refused = login(client, "bob@example.org")  # even the right password, from this address
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert "Too many attempts" in refused.text
    assert client.get("/account").status_code == 302
    # Another address is not affected, and the form still shows (a GET costs nothing).
    other = from_address("192.0.2.7")
    assert client.get("/login", **other).status_code == 200
    assert login(client, "bob@example.org", **other).status_code == 302


def test_failed_logins_per_email_from_many_addresses(limits_on, client, fresh_counts, make_user):
    make_user("bob@example.org")
    make_user("amy@example.org")
    for n in range(4):
        assert login(client, "bob@example.org", "wrong", **from_address(f"192.0.2.{n}")).status_code == 400
    # A fifth address may not try bob (in any spelling of the address) ...
    refused = login(client, " BOB@example.org", **from_address("192.0.2.99"))
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 60
    # ... but may log in to another account.
    assert login(client, "amy@example.org", **from_address("192.0.2.99")).status_code == 302


def test_successful_logins_cost_nothing(limits_on, client, fresh_counts, make_user):
    make_user("bob@example.org")
    for _ in range(6):
        assert login(client, "bob@example.org").status_code == 302
        client.post("/logout")


def test_default_limits_keep_one_address_below_an_accounts_budget():
    """One attacker (one address) cannot use up an account's hourly budget, so cannot
    lock its owner out; the per-account limit is what stops a botnet."""
    config = load_config({"CHALLENGE_INSTANCE": "/tmp/unused", "SECRET_KEY": "x"})

    def per_hour(setting: str) -> float:
        return min(item.amount * math.ceil(3600 / item.get_expiry()) for item in parse_many(config[setting]))

    assert per_hour("RATELIMIT_LOGIN_IP") < per_hour("RATELIMIT_LOGIN_EMAIL")
    assert config["RATELIMIT_ENABLED"] is True


def test_registrations_per_address(limits_on, client, fresh_counts):
    assert register(client, "a@example.org").status_code == 302
    assert register(client, "b@example.org", password="short").status_code == 400  # still counts
    refused = register(client, "c@example.org")
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    assert register(client, "c@example.org", **from_address("192.0.2.1")).status_code == 302


def test_token_creation_per_user(limits_on, client, fresh_counts, make_user):
    make_user("bob@example.org")
    make_user("amy@example.org")
    login(client, "bob@example.org")
    statuses = [client.post("/account/tokens", data={"name": "t"}).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    client.post("/logout")
    login(client, "amy@example.org")  # same address, another user: a budget of its own
    assert client.post("/account/tokens", data={"name": "t"}).status_code == 200


def test_api_uploads_per_user_answer_json(limits_on, client, fresh_counts, make_user, make_challenge,
                                          make_team):
    ctx = team_with_token(make_user, make_challenge, make_team)
    second_token = create_token(ctx["user"], "second")
    assert api_upload(client, ctx["token"], b"not-a-class\n").status_code == 400
    assert api_upload(client, ctx["token"], b"not-a-class\n").status_code == 400
    refused = api_upload(client, second_token, b"not-a-class\n")  # another token, same user
    assert refused.status_code == 429
    assert refused.is_json and "too many requests" in refused.json["error"]
    assert 0 < int(refused.headers["Retry-After"]) <= 3600


def test_limits_can_be_turned_off(client, make_user):
    """The suite's default (tests/conftest.py): no limits."""
    make_user("bob@example.org")
    assert {login(client, "bob@example.org", "wrong").status_code for _ in range(12)} == {400}


# ------------------------------------------------------------------ headers

@pytest.mark.parametrize("path", ["/", "/login", "/api/v1/challenges", "/static/style.css",
                                  "/static/live-status.js", "/no-such-page"])
def test_security_headers_on_every_response(client, path):
    with client.get(path) as response:
        headers = response.headers
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "style-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert "Strict-Transport-Security" not in headers  # plain HTTP


def test_hsts_only_over_https(client):
    assert client.get("/", base_url="https://localhost").headers["Strict-Transport-Security"] \
        == "max-age=31536000"


INLINE = [
    (re.compile(r"<script\b(?![^>]*\bsrc=)", re.I), "an inline <script>"),
    (re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I), "an inline event handler (on...=)"),
    (re.compile(r"<[a-z][^>]*\sstyle\s*=", re.I), "an inline style= attribute"),
    (re.compile(r"<style\b", re.I), "a <style> element"),
    (re.compile(r"javascript:", re.I), "a javascript: URL"),
]


def test_templates_have_no_inline_script_or_style():
    """The CSP allows scripts and styles from static/ only: inline ones would be blocked."""
    found = []
    for template in sorted(TEMPLATES.rglob("*.html")):
        text = re.sub(r"\{#.*?#\}", "", template.read_text(), flags=re.S)  # Jinja comments
        for pattern, what in INLINE:
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{template.relative_to(TEMPLATES)}:{line}: {what}")
    assert found == []


# ------------------------------------------------------------------ proxies and Secure cookies

@pytest.fixture
def behind_proxy(app_config):
    app_config["FORWARDED_ALLOW_IPS"] = "10.0.0.1, 10.1.0.0/16"


HTTPS = {"X-Forwarded-Proto": "https"}


def test_cookie_is_secure_behind_a_listed_proxy_only(behind_proxy, client, make_user):
    make_user("bob@example.org")
    for proxy in ("10.0.0.1", "10.1.2.3"):
        response = login(client, "bob@example.org", headers=HTTPS, **from_address(proxy))
        assert response.status_code == 302
        assert "; Secure" in session_cookie(response)
        assert response.headers["Strict-Transport-Security"]
    # The same headers from anyone else change nothing.
    response = login(client, "bob@example.org", headers=HTTPS, **from_address("10.0.0.2"))
    assert response.status_code == 302
    assert "Secure" not in session_cookie(response)
    assert "Strict-Transport-Security" not in response.headers


def test_cookie_is_not_secure_over_plain_http_without_a_proxy(client, make_user):
    make_user("bob@example.org")
    response = login(client, "bob@example.org", headers=HTTPS)  # 127.0.0.1 is not listed
    assert "Secure" not in session_cookie(response)


@pytest.fixture
def always_secure(app_config):
    app_config["SESSION_COOKIE_SECURE"] = True


def test_session_cookie_secure_setting(always_secure, client, make_user):
    make_user("bob@example.org")
    assert "; Secure" in session_cookie(login(client, "bob@example.org"))


def test_forwarded_for_is_believed_from_the_proxy_only(limits_on, behind_proxy, client, fresh_counts,
                                                        make_user):
    """Behind the proxy each client has its own login budget; a client talking to us directly
    cannot pick a fresh address with X-Forwarded-For."""
    emails = (f"user{n}@example.org" for n in range(100))  # the per-e-mail limit stays out of it

    def attempt(client_address: str, sender: str) -> int:
        return login(client, next(emails), "wrong", headers={"X-Forwarded-For": client_address},
                     **from_address(sender)).status_code

    assert [attempt("198.51.100.1", "10.0.0.1") for _ in range(4)] == [400, 400, 400, 429]
    assert attempt("198.51.100.2", "10.0.0.1") == 400  # another client behind the proxy
    assert [attempt(f"203.0.113.{n}", "192.0.2.50") for n in range(4)] == [400, 400, 400, 429]


@pytest.fixture
def any_proxy(app_config):
    app_config["FORWARDED_ALLOW_IPS"] = "*"


def test_any_proxy_with_a_star(any_proxy, client, make_user):
    make_user("bob@example.org")
    response = login(client, "bob@example.org", headers=HTTPS, **from_address("203.0.113.9"))
    assert "; Secure" in session_cookie(response)


# ------------------------------------------------------------------ sessions

def test_a_copied_cookie_is_dead_after_logout(app, client, make_user):
    make_user("bob@example.org")
    assert login(client, "bob@example.org").status_code == 302
    thief = app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    assert thief.get("/account").status_code == 200  # the copy works while the session lives
    assert client.post("/logout").status_code == 302
    assert thief.get("/account").status_code == 302  # anonymous now
    # Logging in again starts a new session; the old copy stays dead.
    login(client, "bob@example.org")
    assert client.get("/account").status_code == 200
    assert thief.get("/account").status_code == 302


def test_logout_ends_every_session_of_the_user_only(app, client, db, make_user):
    make_user("bob@example.org")
    make_user("amy@example.org")
    laptop, phone, amy = client, app.test_client(), app.test_client()
    for c, email in ((laptop, "bob@example.org"), (phone, "bob@example.org"), (amy, "amy@example.org")):
        assert login(c, email).status_code == 302
    laptop.post("/logout")
    assert phone.get("/account").status_code == 302
    assert amy.get("/account").status_code == 200
    assert db.scalar(select(User.session_epoch).where(User.email == "bob@example.org")) == 1


def test_changing_a_password_ends_the_sessions(app, client, runner, db, make_user):
    make_user("bob@example.org")
    login(client, "bob@example.org")
    result = runner.invoke(args=["users", "set-password", "BOB@example.org", "--password", "new-password"])
    assert result.exit_code == 0, result.output
    assert "sessions have ended" in result.output
    assert client.get("/account").status_code == 302
    assert login(client, "bob@example.org").status_code == 400
    assert login(client, "bob@example.org", "new-password").status_code == 302
    short = runner.invoke(args=["users", "set-password", "bob@example.org", "--password", "short"])
    assert short.exit_code != 0 and "at least 8 characters" in short.output
    assert runner.invoke(args=["users", "set-password", "no@example.org", "--password", "long-enough"]
                         ).exit_code != 0


def test_a_session_from_before_the_epoch_format_is_refused(app, client, make_user):
    user = make_user("bob@example.org")
    with client.session_transaction() as session:
        session["_user_id"] = str(user.id)  # the old form, "<id>"
        session["_fresh"] = True
    assert client.get("/account").status_code == 302


# ------------------------------------------------------------------ CSV

def test_csv_cells_neutralise_formulas_and_keep_numbers():
    for text in ("=HYPERLINK(\"http://x\",\"y\")", "=cmd|' /C calc'!A0", "+1", "-1", "@SUM(A1)",
                 "\tx", "\rx"):
        assert csv_export.cell(text) == "'" + text
    assert csv_export.cell(-0.25) == -0.25 and csv_export.cell(0) == 0 and csv_export.cell(None) == ""
    assert csv_export.cell("plain text") == "plain text"
    assert csv_export.to_csv(["a", "b"], [{"a": "=1", "b": -0.5}]) == "a,b\n'=1,-0.5\n"


def test_leaderboard_csv_neutralises_team_and_method_names(client, db, make_user, make_challenge,
                                                          make_team):
    challenge = make_challenge()
    phase = challenge.tracks[0].phases[0]
    evil = make_team(challenge, make_user(), name='=HYPERLINK("http://x","y")')
    plain = make_team(challenge, make_user(), name="Plain")
    for n, (team, method, error) in enumerate(((plain, "baseline", 0.2),
                                               (evil, "=cmd|' /C calc'!A0", 0.3))):
        db.add(Submission(phase=phase, team=team, method=method, filename="p.txt",
                          stored_path=f"{phase.id}/{n}.txt", sha256="0" * 64, size=1,
                          quota_period="total", quota_slot=n + 1, status="scored",
                          score=Score(error=error, error_at_k=[error], ci_low=error - 0.01,
                                      ci_high=error + 0.01, images=20)))
    db.commit()
    response = client.get("/c/tiny2012/cls/leaderboard.csv")
    assert response.status_code == 200
    rows = {row["team"]: row for row in csv.DictReader(io.StringIO(response.text))}
    assert set(rows) == {"Plain", "'=HYPERLINK(\"http://x\",\"y\")"}
    row = rows["'=HYPERLINK(\"http://x\",\"y\")"]
    assert row["method"] == "'=cmd|' /C calc'!A0"
    assert float(row["error"]) == 0.3
    assert float(row["ci95_low"]) == pytest.approx(0.29)  # numbers stay numbers
    assert not any(cell.startswith(("=", "+", "@")) for line in csv.reader(io.StringIO(response.text))
                   for cell in line)


# ------------------------------------------------------------------ bad integers

HUGE = "999999999999999999999"


def test_bad_ids_in_the_query_string_are_400(client, make_user):
    make_user("org@example.org", organizer=True)
    login(client, "org@example.org")
    # The console's submission list filters by names (a phase slug), not ids: odd values
    # match nothing; a page number past any integer column is just the last page.
    for value in (HUGE, "2147483648", "abc", "-1", "1.5", "\u00b2"):
        response = client.get(f"/admin/submissions?phase={value}")
        assert response.status_code == 200 and "No submissions match" in response.text, value
        assert client.get(f"/admin/submissions?page={value}").status_code == 200, value
        assert client.get(f"/admin/audit?page={value}").status_code == 200, value
    assert client.get(f"/admin/submissions?team={HUGE}").status_code == 200  # a name search
    assert client.post("/admin/submissions/retry", data={"submission_id": HUGE}).status_code == 404


@pytest.mark.parametrize("path", [f"/submissions/{HUGE}", "/submissions/2147483648",
                                  f"/submissions/{HUGE}/status.json", f"/teams/{HUGE}",
                                  f"/admin/submissions/{HUGE}", f"/admin/phases/{HUGE}",
                                  "/submissions/\u0661\u0662"])
def test_bad_ids_in_paths_are_404(client, make_user, path):
    make_user("org@example.org", organizer=True)
    login(client, "org@example.org")
    assert client.get(path).status_code == 404


def test_bad_ids_in_the_api_are_404(client, make_user, make_challenge, make_team):
    ctx = team_with_token(make_user, make_challenge, make_team)
    response = client.get(f"/api/v1/submissions/{HUGE}", headers={"Authorization": f"Bearer {ctx['token']}"})
    assert response.status_code == 404


def test_a_huge_number_in_a_form_is_400_not_500(client, make_user, make_challenge):
    """The safety net: a number from a form reaching a query unchecked (SQLite raises
    OverflowError beyond 2**63, PostgreSQL NumericValueOutOfRange beyond 2**31)."""
    make_challenge()
    make_user("bob@example.org")
    login(client, "bob@example.org")
    response = client.post("/teams/create", data={"challenge_id": HUGE, "name": "Team"})
    assert response.status_code == 400
    assert "out of range" in response.text


# ------------------------------------------------------------------ registration

def test_registering_a_taken_address_looks_like_registering_a_new_one(app, db, make_user):
    """Same status, same redirect, same next page; and about the same time: the password is
    hashed either way."""
    make_user("taken@example.org")

    def attempt(email: str) -> tuple[float, int, str, str]:
        client = app.test_client()
        start = time.perf_counter()
        response = register(client, email)
        elapsed = time.perf_counter() - start
        landing = client.get(response.headers["Location"]).text
        return elapsed, response.status_code, response.headers["Location"], landing

    new = [attempt(f"new{n}@example.org") for n in range(3)]
    taken = [attempt("taken@example.org") for _ in range(3)]
    assert {outcome[1:] for outcome in new + taken} == {outcome[1:] for outcome in new}
    assert len({outcome[1:] for outcome in new}) == 1
    assert statistics.median(t[0] for t in taken) > 0.5 * statistics.median(t[0] for t in new)
    assert db.scalar(select(User).where(User.email == "taken@example.org")).check_password("password123")
