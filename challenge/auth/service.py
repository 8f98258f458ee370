"""Accounts: registering, authenticating and looking up users."""

from __future__ import annotations

import logging
import re

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from challenge import notify
from challenge.auth import links
from challenge.extensions import db
from challenge.models import ApiToken, User, utcnow

log = logging.getLogger(__name__)

MIN_PASSWORD = 8
# Deliberately loose: the only real check of an address is mail reaching it
# (REQUIRE_EMAIL_VERIFICATION). This catches typos like a missing '@' or domain.
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
# Compared against when the email is unknown, so a wrong email and a wrong
# password take the same time and the login form does not reveal who has an account.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


class AccountError(Exception):
    """A request about an account that cannot be done; the message is for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def normalize_email(email: str) -> str:
    return email.strip().lower()


def user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(func.lower(User.email) == normalize_email(email)))


class EmailTaken(AccountError):
    """Registering an address that already has an account. The command line says so;
    the register page must not (challenge.auth.views.register)."""


def register_user(email: str, password: str, name: str = "", *, organizer: bool = False) -> User:
    """Create and commit a user. Emails are unique regardless of case (stored lower-case).

    The password is hashed before anything else, whether or not the address is taken: the
    register page answers both alike, so both must take the same time. (It also keeps
    the slow hash out of SQLite's write lock.)
    """
    email = normalize_email(email)
    name = name.strip() or email.split("@", 1)[0]
    if not EMAIL_RE.match(email):
        raise AccountError(f"'{email}' is not an email address (expected name@domain.tld)")
    if len(email) > 254:
        raise AccountError("email addresses are at most 254 characters")
    if len(name) > 100:
        raise AccountError("names are at most 100 characters")
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"passwords need at least {MIN_PASSWORD} characters")
    password_hash = generate_password_hash(password)
    _lock_users_for_sqlite()
    if user_by_email(email) is not None:
        db.session.rollback()  # give back SQLite's write lock
        raise EmailTaken(f"an account with the email {email} already exists")
    user = User(email=email, name=name, is_organizer=organizer, password_hash=password_hash)
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:
        # Two registrations raced past the check above; the unique index decided.
        db.session.rollback()
        raise EmailTaken(f"an account with the email {email} already exists") from None
    return user


def change_password(user: User, password: str) -> None:
    """Set a new password and commit; every session of the account ends."""
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"passwords need at least {MIN_PASSWORD} characters")
    user.set_password(password)
    db.session.commit()


def change_own_password(user: User, current: str, new: str) -> None:
    """The account page's change: the current password first (a borrowed session must not
    be enough to take the account over). Every other session of the account ends."""
    if not user.check_password(current):
        raise AccountError("that is not your current password")
    change_password(user, new)


def reset_password(user: User, password: str) -> None:
    """Set the password from a reset link. The link proved the mailbox, so the address
    counts as verified too; the password change kills the link (challenge.auth.links)."""
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
    change_password(user, password)


def request_reset(email: str) -> None:
    """Queue a reset link if ``email`` has an account; nothing happens otherwise (the form
    answers alike). A queue that cannot be reached is logged: the answer stays the same."""
    user = user_by_email(email)
    if user is None:
        return
    try:
        notify.password_reset(user, links.reset_token(user))
    except Exception:
        log.exception("could not queue the password reset e-mail for user %s", user.id)


def verification_required(user: User) -> bool:
    """True when the deployment asks for verified addresses and ``user``'s is not."""
    return bool(current_app.config["REQUIRE_EMAIL_VERIFICATION"]) and user.email_verified_at is None


#: What a gated action answers an unverified user (the page adds a resend button).
UNVERIFIED = ("confirm your e-mail address first: open the link we e-mailed to you "
              "(your account page can send it again)")


def send_verification(user: User) -> None:
    """Queue the verification link (logged, not raised, when the queue is down)."""
    try:
        notify.verify_email(user, links.verify_token(user))
    except Exception:
        log.exception("could not queue the verification e-mail for user %s", user.id)


def mark_verified(user: User) -> None:
    """Record the address as confirmed. The link is opened with a GET (a read request), so
    the write gets its own transaction."""
    with db.writing():
        if user.email_verified_at is None:
            user.email_verified_at = utcnow()


def set_email_settings(user: User, *, submissions: bool, announcements: bool) -> None:
    """The account page's e-mail choices: about one's submissions, and challenge news
    (announcements and final results, challenge.notify)."""
    user.notify_submissions = submissions
    user.notify_announcements = announcements
    db.session.commit()


def end_sessions(user: User) -> None:
    """End every session of ``user`` (logout): bump the epoch their sessions carry
    (challenge.auth.current) in one short write transaction."""
    db.session.commit()  # end the request's read transaction first (nothing is pending)
    db.session.execute(update(User).where(User.id == user.id)
                       .values(session_epoch=User.session_epoch + 1))
    db.session.commit()


def _lock_users_for_sqlite() -> None:
    # SQLite fails a transaction that read and then writes after another writer
    # committed ("database is locked") instead of waiting, so two people
    # registering at once would get a 500: take the write lock (a write that
    # matches no row) before the email check. PostgreSQL needs no lock: the
    # unique index decides a race, handled in register_user.
    if db.session.get_bind().dialect.name == "sqlite":
        db.session.commit()  # end any read-only transaction already open (nothing pending)
        db.session.execute(
            update(User).where(User.id == -1).values(name=User.name),
            execution_options={"synchronize_session": False},
        )


def authenticate(email: str, password: str) -> User | None:
    """The user with this email and password, or None."""
    user = user_by_email(email)
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    return user if user.check_password(password) else None


def live_tokens(user: User) -> list[ApiToken]:
    """The user's tokens that still work, newest first."""
    return list(
        db.session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        )
    )
