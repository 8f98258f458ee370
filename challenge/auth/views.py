"""Register, log in, log out, and the account page with its API tokens."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required, login_user, logout_user

from challenge.auth.current import me
from challenge.auth.forms import LoginForm, RegisterForm, TokenForm
from challenge.auth.service import (
    AccountError,
    EmailTaken,
    authenticate,
    end_sessions,
    live_tokens,
    register_user,
)
from challenge.ratelimits import login_limits, register_limit, token_create_limit
from challenge.tokens import create_token, revoke_token

bp = Blueprint("auth", __name__)


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site, else None (no open redirects).

    Only relative paths pass: '/teams?x=1' yes; 'https://evil', '//evil',
    '/\\evil' and 'javascript:' no.
    """
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    if any(ch.isspace() or ord(ch) < 32 for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


@bp.route("/register", methods=["GET", "POST"])
@register_limit
def register() -> ResponseReturnValue:
    if current_user.is_authenticated:
        return redirect(url_for("teams.mine"))
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            register_user(form.email.data or "", form.password.data or "", form.name.data or "")
        except EmailTaken:
            # Answered exactly as a new account (same redirect, same message, the same
            # password hash first): the page must not tell anyone who has an account.
            pass
        except AccountError as exc:
            form.email.errors = [*form.email.errors, exc.message]
        if not form.errors:
            flash("If this address was new, your account is ready: log in with the password you "
                  "chose. If it already had an account, that account and its password are "
                  "unchanged.", "success")
            return redirect(url_for("auth.login", next=url_for("teams.mine")))
    return render_template("auth/register.html", form=form), 400 if form.errors else 200


@bp.route("/login", methods=["GET", "POST"])
@login_limits
def login() -> ResponseReturnValue:
    form = LoginForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next")) or ""
    if current_user.is_authenticated and request.method == "GET":
        return redirect(safe_next(form.next.data) or url_for("challenges.index"))
    if form.validate_on_submit():
        user = authenticate(form.email.data or "", form.password.data or "")
        if user is not None:
            login_user(user)
            return redirect(safe_next(form.next.data) or url_for("challenges.index"))
        form.password.errors = [*form.password.errors, "wrong email or password"]
    return render_template("auth/login.html", form=form), 400 if form.errors else 200


@bp.route("/logout", methods=["POST"])
def logout() -> ResponseReturnValue:
    # POST with a CSRF token (checked by CSRFProtect before this runs): a link
    # or image on another site cannot log people out. Every session of the account
    # ends, on every device, a copied cookie included.
    if current_user.is_authenticated:
        end_sessions(me())
    logout_user()
    flash("You are logged out.", "success")
    return redirect(url_for("challenges.index"))


@bp.route("/account")
@login_required
def account() -> ResponseReturnValue:
    return _account_page()


@bp.route("/account/tokens", methods=["POST"])
@login_required
@token_create_limit
def create_api_token() -> ResponseReturnValue:
    form = TokenForm()
    if not form.validate_on_submit():
        return _account_page(token_form=form), 400
    raw = create_token(me(), (form.name.data or "").strip())
    # Rendered straight from the POST instead of redirecting: the raw token must
    # not be kept anywhere (not even in the session cookie) to survive a redirect.
    response = make_response(_account_page(new_token=raw))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/account/tokens/<int:token_id>/revoke", methods=["POST"])
@login_required
def revoke_api_token(token_id: int) -> ResponseReturnValue:
    if revoke_token(me(), token_id):  # CSRFProtect has checked the token
        flash("Token revoked: it no longer works.", "success")
    else:
        flash("No such token of yours to revoke.", "error")
    return redirect(url_for("auth.account"))


def _account_page(token_form: TokenForm | None = None, new_token: str | None = None) -> str:
    return render_template(
        "auth/account.html",
        tokens=live_tokens(me()),
        token_form=token_form or TokenForm(formdata=None),
        new_token=new_token,
    )
