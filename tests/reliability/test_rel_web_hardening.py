"""(g) login limited, (h) security headers, (i) a copied session cookie dies at logout;
against gunicorn serving wsgi:app as in production, with its rate limits in the
platform's Redis. No scoring worker is needed here."""

from __future__ import annotations

import time

import pytest
from reliability_harness import make_user, print_figures

pytestmark = pytest.mark.slow
MAX_TRIES = 300


def test_rapid_wrong_passwords_get_429_with_retry_after_well_before_300_tries(make_stack) -> None:
    stack = make_stack(workers=0)
    make_user(stack, "victim@rel.example.org", "the-right-password")
    browser = stack.browser()
    token = browser.csrf("/login")
    answers: list[int] = []
    limited = None
    started = time.monotonic()
    for _ in range(MAX_TRIES):
        status, headers, _ = browser.open("POST", "/login", {
            "csrf_token": token, "email": "victim@rel.example.org", "password": "wrong-password", "next": ""})
        answers.append(status)
        if status == 429:
            limited = headers
            break
    elapsed = time.monotonic() - started
    # The right password from the limited address is refused too while the limit lasts.
    right, _, _ = browser.open("POST", "/login", {"csrf_token": token, "email": "victim@rel.example.org",
                                                  "password": "the-right-password", "next": ""})
    print_figures("(g) login limited", {
        "wrong passwords before 429": len(answers) - 1 if limited else f"none in {MAX_TRIES}",
        "answers": {s: answers.count(s) for s in sorted(set(answers))},
        "Retry-After": limited.get("retry-after") if limited else None,
        "time": f"{elapsed:.1f} s",
        "right password while limited": right,
    })
    assert limited is not None, f"{MAX_TRIES} wrong passwords in a row and no 429"
    assert len(answers) - 1 <= 30, f"429 only after {len(answers) - 1} tries"
    assert set(answers[:-1]) == {400}, "wrong passwords before the limit are plain 400 refusals"
    assert limited.get("retry-after", "").isdigit() and int(limited["retry-after"]) > 0, limited
    assert right == 429


def _csp(value: str) -> dict[str, list[str]]:
    directives = {}
    for part in value.split(";"):
        words = part.split()
        if words:
            directives[words[0].lower()] = words[1:]
    return directives


def test_security_headers_on_html_json_and_static_and_hsts_only_from_a_trusted_proxy(make_stack) -> None:
    stack = make_stack(workers=0, env={"FORWARDED_ALLOW_IPS": "127.0.0.1"})
    targets = {"html": "/", "json": "/api/v1/challenges", "static": "/static/style.css",
               "404 page": "/no/such/page"}
    seen = {}
    for kind, path in targets.items():
        status, headers, _ = stack.request("GET", path)
        seen[kind] = (status, headers)
    _, via_proxy, _ = stack.request("GET", "/", headers={"X-Forwarded-Proto": "https"})
    _, plain, _ = stack.request("GET", "/")
    # 127.0.0.2 is loopback too, but not a trusted proxy: its X-Forwarded-Proto is ignored.
    _, untrusted, _ = stack.request("GET", "/", headers={"X-Forwarded-Proto": "https"}, source="127.0.0.2")

    print_figures("(h) security headers", {
        **{f"{kind} ({s})": h.get("content-type", "") for kind, (s, h) in seen.items()},
        "CSP": seen["html"][1].get("content-security-policy"),
        "HSTS via trusted proxy / plain / untrusted": (f"{via_proxy.get('strict-transport-security')} / "
                                                       f"{plain.get('strict-transport-security')} / "
                                                       f"{untrusted.get('strict-transport-security')}"),
    })

    assert seen["html"][0] == 200 and seen["html"][1]["content-type"].startswith("text/html")
    assert seen["json"][0] == 200 and seen["json"][1]["content-type"].startswith("application/json")
    assert seen["static"][0] == 200 and seen["static"][1]["content-type"].startswith("text/css")
    for kind, (_, headers) in seen.items():
        csp = _csp(headers.get("content-security-policy", ""))
        assert csp, f"{kind}: no Content-Security-Policy"
        script = csp.get("script-src", csp.get("default-src"))
        assert script is not None, f"{kind}: the CSP does not restrict scripts"
        assert "'unsafe-inline'" not in script and "'unsafe-eval'" not in script, f"{kind}: {script}"
        assert csp.get("frame-ancestors") == ["'none'"], f"{kind}: {csp.get('frame-ancestors')}"
        assert headers.get("x-frame-options", "").upper() == "DENY", kind
        assert headers.get("x-content-type-options", "").lower() == "nosniff", kind
        assert headers.get("referrer-policy"), kind
        assert "strict-transport-security" not in headers, f"{kind}: HSTS over plain HTTP"
    hsts = via_proxy.get("strict-transport-security", "")
    assert hsts.startswith("max-age=") and int(hsts.split("=")[1].split(";")[0]) >= 15552000, hsts
    assert "strict-transport-security" not in plain
    assert "strict-transport-security" not in untrusted, "X-Forwarded-Proto believed from anyone"


def test_a_copied_session_cookie_is_dead_after_logout(make_stack) -> None:
    stack = make_stack(workers=0)
    make_user(stack, "copied@rel.example.org", "password-123")
    owner = stack.browser()
    assert owner.login("copied@rel.example.org", "password-123") == 302
    cookie = owner.cookie("session")
    assert cookie, "no session cookie after login"

    def with_copy(path: str) -> int:
        status, _, _ = stack.request("GET", path, headers={"Cookie": f"session={cookie}"})
        return status

    before = with_copy("/account")
    status, _, _ = owner.open("POST", "/logout", {"csrf_token": owner.csrf("/account")})
    after = with_copy("/account")
    api_after = with_copy("/teams")
    # Logging in again does not bring the old cookie back.
    again = stack.browser()
    assert again.login("copied@rel.example.org", "password-123") == 302
    after_new_login = with_copy("/account")
    print_figures("(i) copied session cookie", {
        "/account with the copy before logout": before, "logout": status,
        "/account, /teams with the copy after logout": f"{after}, {api_after}",
        "after a new login elsewhere": after_new_login,
    })
    assert before == 200
    assert status in (302, 303)
    assert after in (302, 401) and api_after in (302, 401)
    assert after_new_login in (302, 401)
