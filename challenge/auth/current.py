"""The logged-in user as a real model instance."""

from __future__ import annotations

from flask_login import current_user

from challenge.models import User


def me() -> User:
    """``current_user`` unwrapped: SQLAlchemy relationships need the instance, not
    Flask-Login's proxy. Only call it behind ``login_required``."""
    user = current_user._get_current_object()  # type: ignore[attr-defined]
    assert isinstance(user, User), "me() called without a logged-in user"
    return user
