"""Register, log in, log out, reset a forgotten password, verify an address, and the
account page (password, e-mail settings, API tokens)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required, login_user, logout_user

from challenge.auth import links
from challenge.auth.current import me
from challenge.auth.forms import (
    ChangePasswordForm,
    EmailSettingsForm,
    ForgotPasswordForm,
    LoginForm,
    RegisterForm,
    ResetPasswordForm,
    TokenForm,
)
from challenge.auth.service import (
    AccountError,
    EmailTaken,
    authenticate,
    change_own_password,
    end_sessions,
    live_tokens,
    mark_verified,
    register_user,
    request_reset,
    reset_password,
    send_verification,
    set_email_settings,
    verification_required,
)
from challenge.ratelimits import (
    login_limits,
    password_change_limit,
    password_reset_limits,
    register_limit,
    token_create_limit,
    verification_resend_limit,
)
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
            user = register_user(form.email.data or "", form.password.data or "",
                                 form.name.data or "")
            if verification_required(user):
                send_verification(user)
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


@bp.route("/account/password", methods=["POST"])
@login_required
@password_change_limit
def change_password() -> ResponseReturnValue:
    form = ChangePasswordForm()
    if form.validate_on_submit():
        user = me()
        try:
            change_own_password(user, form.current.data or "", form.password.data or "")
        except AccountError as exc:
            form.current.errors = [*form.current.errors, exc.message]
        else:
            login_user(user)  # this session goes on; every other one has ended
            flash("Password changed. Every other session of your account has ended.", "success")
            return redirect(url_for("auth.account"))
    return _account_page(password_form=form), 400


@bp.route("/account/emails", methods=["POST"])
@login_required
def email_settings() -> ResponseReturnValue:
    form = EmailSettingsForm()
    if not form.validate_on_submit():
        return _account_page(), 400
    set_email_settings(me(), submissions=bool(form.submissions.data),
                       announcements=bool(form.announcements.data))
    flash("E-mails about your submissions are " + ("on" if form.submissions.data else "off")
          + "; announcements and results are " + ("on." if form.announcements.data else "off."), "success")
    return redirect(url_for("auth.account"))


@bp.route("/account/verify", methods=["POST"])
@login_required
@verification_resend_limit
def resend_verification() -> ResponseReturnValue:
    user = me()
    if user.email_verified_at is not None:
        flash("Your e-mail address is already confirmed.", "success")
    else:
        send_verification(user)
        flash(f"We sent a new confirmation link to {user.email}.", "success")
    return redirect(url_for("auth.account"))


@bp.route("/verify/<token>")
def verify_email(token: str) -> ResponseReturnValue:
    user = links.verify_user(token)
    if user is None:
        return render_template("auth/link_invalid.html", what="confirmation"), 400
    mark_verified(user)
    flash(f"Thank you: {user.email} is confirmed.", "success")
    return redirect(url_for("auth.account" if current_user.is_authenticated else "auth.login"))


@bp.route("/forgot", methods=["GET", "POST"])
@password_reset_limits
def forgot_password() -> ResponseReturnValue:
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        request_reset(form.email.data or "")
        # The same answer whether or not the address has an account.
        flash("If an account has this address, we e-mailed it a link to choose a new password. "
              "The link works once, within an hour.", "success")
        return redirect(url_for("auth.login"))
    return render_template("auth/forgot.html", form=form), 400 if form.errors else 200


@bp.route("/reset/<token>", methods=["GET", "POST"], endpoint="reset_password")
def reset_password_page(token: str) -> ResponseReturnValue:
    user = links.reset_user(token)
    if user is None:
        return render_template("auth/link_invalid.html", what="password reset"), 400
    form = ResetPasswordForm()
    if form.validate_on_submit():
        reset_password(user, form.password.data or "")
        flash("Your password is changed: log in with the new one.", "success")
        return redirect(url_for("auth.login"))
    response = make_response(render_template("auth/reset.html", form=form),
                             400 if form.errors else 200)
    # The token is in the URL: keep it out of caches and other sites' Referer.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


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


def _account_page(token_form: TokenForm | None = None, new_token: str | None = None,
                  password_form: ChangePasswordForm | None = None) -> str:
    user = me()
    return render_template(
        "auth/account.html",
        tokens=live_tokens(user),
        token_form=token_form or TokenForm(formdata=None),
        new_token=new_token,
        password_form=password_form or ChangePasswordForm(formdata=None),
        email_form=EmailSettingsForm(formdata=None, submissions=user.notify_submissions,
                                     announcements=user.notify_announcements),
        unverified=verification_required(user),
    )
