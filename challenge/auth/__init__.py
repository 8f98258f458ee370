"""The auth area: Flask-Login wiring, blueprint, views and commands."""

from __future__ import annotations

from flask import Flask, flash, g, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import Unauthorized

from challenge.auth.commands import tokens_cli, users_cli
from challenge.auth.current import load_session_user, me
from challenge.auth.service import verification_required
from challenge.auth.views import bp
from challenge.extensions import login_manager
from challenge.models import User


@login_manager.user_loader
def _load_user(session_id: str) -> User | None:
    return load_session_user(session_id)


@login_manager.unauthorized_handler
def _unauthorized() -> ResponseReturnValue:
    # Flask-Login's default would put an absolute URL in ?next=, which the login
    # view rightly refuses; send the path instead. A POST cannot be replayed
    # after logging in, so it gets the 401 page rather than a redirect.
    if request.method == "GET":
        flash("Please log in to see that page.", "error")
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    return _unauthorized_page(Unauthorized())


def _unauthorized_page(_exc: Unauthorized) -> ResponseReturnValue:
    if request.path.startswith("/api/"):
        return jsonify({"error": "authentication required"}), 401
    return render_template("auth/unauthorized.html"), 401


def _csrf_failed(exc: CSRFError) -> ResponseReturnValue:
    if request.path.startswith("/api/"):
        return jsonify({"error": exc.description}), 400
    return render_template("auth/csrf_failed.html", reason=exc.description), 400


def _forget_cached_user() -> None:
    # Flask-Login caches the user in ``g``, which lives as long as the app context: a
    # request inside an app context that is already open (tests, CLI) would otherwise
    # act as whoever the previous request there loaded.
    g.pop("_login_user", None)


def _email_unverified() -> bool:
    # For the banner in base.html: only asked for a logged-in user.
    return bool(current_user.is_authenticated) and verification_required(me())


def init_app(app: Flask) -> None:
    app.add_template_global(_email_unverified, "email_unverified")
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "basic"
    app.before_request(_forget_cached_user)
    app.register_blueprint(bp)
    app.register_error_handler(401, _unauthorized_page)
    app.register_error_handler(CSRFError, _csrf_failed)
    app.cli.add_command(users_cli)
    app.cli.add_command(tokens_cli)
