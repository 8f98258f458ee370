"""The logged-in user: loading it from the session, and the model instance behind it."""

from __future__ import annotations

import re

from flask_login import current_user

from challenge.extensions import db
from challenge.ids import parse_id
from challenge.models import User

# What User.get_id() puts in the session (and a remember-me cookie): "<id>:<epoch>".
_SESSION_ID = re.compile(r"([0-9]{1,10}):([0-9]{1,10})")


def load_session_user(session_id: str) -> User | None:
    """The user a session names, or None when its epoch is not the user's current one:
    logging out and changing the password bump the epoch, which ends every session of
    that account, a copied cookie included. Sessions of the old form ("<id>") are refused
    too (one more login after the upgrade)."""
    match = _SESSION_ID.fullmatch(session_id)
    user_id = parse_id(match.group(1)) if match else None
    if match is None or user_id is None:
        return None
    # Read afresh even if the session already holds the row: the epoch may have just moved.
    user = db.session.get(User, user_id, populate_existing=True)
    if user is None or (user.session_epoch or 0) != int(match.group(2)):
        return None
    return user


def me() -> User:
    """``current_user`` unwrapped: SQLAlchemy relationships need the instance, not
    Flask-Login's proxy. Only call it behind ``login_required``."""
    user = current_user._get_current_object()  # type: ignore[attr-defined]
    assert isinstance(user, User), "me() called without a logged-in user"
    return user
