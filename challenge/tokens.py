"""API tokens: created once, shown once, stored as a hash."""

from __future__ import annotations

import secrets

from sqlalchemy import select

from challenge.extensions import db
from challenge.models import ApiToken, User, hash_token, utcnow

PREFIX = "ilsvrc_"


def create_token(user: User, name: str = "") -> str:
    """Make a new token for ``user``, commit it, and return the raw token (never stored)."""
    raw = PREFIX + secrets.token_urlsafe(32)
    db.session.add(ApiToken(user=user, name=name, token_hash=hash_token(raw), prefix=raw[:12]))
    db.session.commit()
    return raw


def user_for_token(raw: str) -> User | None:
    """The user a live token belongs to, or None; records when it was last used."""
    token = db.session.scalar(
        select(ApiToken).where(ApiToken.token_hash == hash_token(raw), ApiToken.revoked_at.is_(None))
    )
    if token is None:
        return None
    token.last_used_at = utcnow()
    db.session.commit()
    return token.user


def revoke_token(user: User, token_id: int) -> bool:
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id or token.revoked_at is not None:
        return False
    token.revoked_at = utcnow()
    db.session.commit()
    return True
