"""Rate limits on the expensive or guessable routes, counted in the platform's Redis.

Counting in Redis (``REDIS_URL``, or the embedded server) means every web process and
thread shares one count. The limits themselves are settings (``RATELIMIT_*`` in
``challenge.config``, Flask-Limiter's syntax) and are read per request:

- ``login_limits``: failed logins (a 400 answer) per client address and per target
  e-mail; a successful login costs nothing. One address's hourly budget is below an
  account's, so one attacker cannot lock a user out, and a botnet cannot guess one
  account's password fast.
- ``register_limit``: registrations per client address (each costs a password hash).
- ``token_create_limit``: API tokens created per user.
- ``api_upload_limit``: API uploads per user (whatever token it uses).
- ``password_reset_limits``: "forgot password" requests per client address and per
  e-mail asked about, every one counted (the answer is always the same, and each may
  send a message); ``verification_resend_limit`` the same budget per user.
- ``password_change_limit``: wrong current passwords on the account page, per user,
  on the login budget per address (a borrowed session must not guess fast).

A refused request gets 429 with ``Retry-After`` (seconds): a page on the web, JSON
``{"error": ...}`` under /api/. If Redis cannot be reached the limits are skipped
(and the error logged) rather than failing logins and uploads: like the scoring queue,
Redis holds nothing the platform cannot do without for a while.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable

from flask import Flask, current_app, g, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask.wrappers import Response
from flask_limiter import RateLimitExceeded
from flask_limiter.util import get_remote_address
from flask_login import current_user
from limits import parse_many

from challenge.extensions import limiter
from challenge.queue import embedded, get_redis

SETTINGS = ("RATELIMIT_LOGIN_IP", "RATELIMIT_LOGIN_EMAIL", "RATELIMIT_REGISTER",
            "RATELIMIT_TOKEN_CREATE", "RATELIMIT_API_UPLOAD", "RATELIMIT_PASSWORD_RESET")


def init_app(app: Flask) -> None:
    for key in SETTINGS:
        try:
            parse_many(app.config[key])
        except ValueError as exc:
            raise ValueError(f"{key}={app.config[key]!r} is not a rate limit ({exc})") from None
    app.config.setdefault("RATELIMIT_STORAGE_URI", storage_uri(app.extensions["redis_url"]))
    app.config.setdefault("RATELIMIT_STORAGE_OPTIONS",
                          {"socket_connect_timeout": 2, "socket_timeout": 2})
    app.config.setdefault("RATELIMIT_STRATEGY", "moving-window")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    if app.config["RATELIMIT_ENABLED"] and embedded(app):
        # The storage's client connects on first use: have the embedded server up by then.
        app.before_request(lambda: (get_redis(app), None)[1])
    limiter.init_app(app)
    app.register_error_handler(RateLimitExceeded, _too_many)


def storage_uri(redis_url: str) -> str:
    """The limits library's spelling of the platform's Redis URL (unix sockets differ)."""
    if redis_url.startswith("unix://"):
        return "redis+unix://" + redis_url[len("unix://"):]
    return redis_url


def _setting(key: str) -> Callable[[], str]:
    return lambda: str(current_app.config[key])


def _failed(response: Response) -> bool:
    return response.status_code == 400


def _login_email() -> str:
    # Normalized as accounts are (challenge.auth.service), and hashed: the keys in Redis
    # should not be a list of addresses. Empty: no limit applies.
    email = request.form.get("email", "").strip().lower()
    return "email:" + hashlib.sha256(email.encode()).hexdigest()[:32] if email else ""


def _logged_in_user() -> str:
    return f"user:{current_user.id}" if current_user.is_authenticated else get_remote_address()


def _api_user() -> str:
    user = g.get("api_user")
    return f"user:{user.id}" if user is not None else get_remote_address()


def login_limits(view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
    view = limiter.limit(_setting("RATELIMIT_LOGIN_EMAIL"), key_func=_login_email,
                         methods=["POST"], deduct_when=_failed)(view)
    return limiter.limit(_setting("RATELIMIT_LOGIN_IP"), methods=["POST"], deduct_when=_failed)(view)


def password_reset_limits(
        view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
    view = limiter.limit(_setting("RATELIMIT_PASSWORD_RESET"), key_func=_login_email,
                         methods=["POST"])(view)
    return limiter.limit(_setting("RATELIMIT_PASSWORD_RESET"), methods=["POST"])(view)


verification_resend_limit = limiter.limit(_setting("RATELIMIT_PASSWORD_RESET"),
                                          key_func=_logged_in_user, methods=["POST"])
password_change_limit = limiter.limit(_setting("RATELIMIT_LOGIN_IP"), key_func=_logged_in_user,
                                      methods=["POST"], deduct_when=_failed)
register_limit = limiter.limit(_setting("RATELIMIT_REGISTER"), methods=["POST"])
#: Below ``login_required`` (so per user).
token_create_limit = limiter.limit(_setting("RATELIMIT_TOKEN_CREATE"), key_func=_logged_in_user)
#: Below ``token_required`` (so per user).
api_upload_limit = limiter.limit(_setting("RATELIMIT_API_UPLOAD"), key_func=_api_user)


def _too_many(exc: RateLimitExceeded) -> ResponseReturnValue:
    breached = limiter.current_limit
    wait = max(1, math.ceil(breached.reset_at - time.time())) if breached is not None else 60
    headers = {"Retry-After": str(wait)}
    if request.path.startswith("/api/"):
        message = f"too many requests ({exc.description}); retry in {wait} seconds"
        return jsonify({"error": message, "retry_after": wait}), 429, headers
    return render_template("rate_limited.html", wait=wait, limit=exc.description), 429, headers
