"""API tokens: created once, shown once, stored as a hash."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm.attributes import set_committed_value

from challenge.db import read_only
from challenge.extensions import db
from challenge.models import ApiToken, User, hash_token, utcnow

log = logging.getLogger(__name__)
PREFIX = "ilsvrc_"
#: A token's last use is recorded at most this often: authenticating must not
#: write on every request (a poll every 50 ms would queue behind the scorers).
LAST_USED_RESOLUTION = timedelta(minutes=1)


def create_token(user: User, name: str = "") -> str:
    """Make a new token for ``user``, commit it, and return the raw token (never stored)."""
    raw = PREFIX + secrets.token_urlsafe(32)
    db.session.add(ApiToken(user=user, name=name, token_hash=hash_token(raw), prefix=raw[:12]))
    db.session.commit()
    return raw


def user_for_token(raw: str) -> User | None:
    """The user a live token belongs to, or None; records when it was last used
    (to the minute)."""
    token = db.session.scalar(
        select(ApiToken).where(ApiToken.token_hash == hash_token(raw), ApiToken.revoked_at.is_(None))
    )
    if token is None:
        return None
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        _record_use(token.id, now)
        # What the stamp wrote, without making the loaded row dirty (a GET may not flush).
        set_committed_value(token, "last_used_at", now)
    return token.user


def _record_use(token_id: int, now: datetime) -> None:
    """Stamp the token's last use in a short transaction of its own, never the request's:
    the request may be a read (a GET holds a read snapshot), and a failure here must not
    fail it. The WHERE clause makes racing requests write once a minute, not each."""
    stale = or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= now - LAST_USED_RESOLUTION)
    assert db.engine is not None
    # End what the request holds so far (nothing is pending when it authenticates): in a
    # POST that is SQLite's write lock, which the stamp's own connection would wait for.
    db.session.commit()
    try:
        with read_only(False), db.engine.begin() as conn:
            conn.execute(update(ApiToken).where(ApiToken.id == token_id, stale).values(last_used_at=now))
    except SQLAlchemyError:
        log.warning("could not record the use of API token %s", token_id, exc_info=True)


def revoke_token(user: User, token_id: int) -> bool:
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id or token.revoked_at is not None:
        return False
    token.revoked_at = utcnow()
    db.session.commit()
    return True
