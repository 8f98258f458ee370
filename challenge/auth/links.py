"""Signed links e-mailed to a user: password reset and e-mail verification.

Both are itsdangerous tokens signed with ``SECRET_KEY`` (a salt per purpose, so one kind
cannot stand in for the other) and carry a time stamp that the check bounds. Nothing is
stored: a reset token names the user and a fingerprint of the password hash it was made
for, so it dies as soon as the password changes (it is used once); a verification token
names the user and the address, so it dies when the address changes.
"""

from __future__ import annotations

import hashlib
import time

from flask import current_app
from itsdangerous import BadSignature, TimestampSigner, URLSafeTimedSerializer

from challenge.extensions import db
from challenge.models import User

RESET_MAX_AGE = 3600
VERIFY_MAX_AGE = 7 * 24 * 3600
_RESET, _VERIFY = "password-reset", "email-verification"


def _serializer(salt: str, at: float | None = None) -> URLSafeTimedSerializer:
    if at is None:
        return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt)

    class _Then(TimestampSigner):
        # A token stamped at ``at`` (tests make expired ones this way instead of waiting).
        def get_timestamp(self) -> int:
            return int(at)

    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt, signer=_Then)


def _fingerprint(user: User) -> str:
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def reset_token(user: User, at: float | None = None) -> str:
    return _serializer(_RESET, at).dumps({"u": user.id, "p": _fingerprint(user)})


def reset_user(token: str, now: float | None = None) -> User | None:
    """The user a reset token is for, or None when it is forged, older than an hour, or
    already used (the password changed since)."""
    payload = _load(_RESET, token, RESET_MAX_AGE, now)
    user = db.session.get(User, payload.get("u")) if isinstance(payload.get("u"), int) else None
    if user is None or payload.get("p") != _fingerprint(user):
        return None
    return user


def verify_token(user: User, at: float | None = None) -> str:
    return _serializer(_VERIFY, at).dumps({"u": user.id, "e": user.email})


def verify_user(token: str, now: float | None = None) -> User | None:
    """The user a verification token is for, or None (forged, expired, another address)."""
    payload = _load(_VERIFY, token, VERIFY_MAX_AGE, now)
    user = db.session.get(User, payload.get("u")) if isinstance(payload.get("u"), int) else None
    if user is None or payload.get("e") != user.email:
        return None
    return user


def _load(salt: str, token: str, max_age: int, now: float | None) -> dict:
    try:
        payload, stamp = _serializer(salt).loads(token, return_timestamp=True)
    except BadSignature:  # SignatureExpired is one, checked below with our own clock
        return {}
    age = (now if now is not None else time.time()) - stamp.timestamp()
    if not isinstance(payload, dict) or age > max_age or age < -60:
        return {}
    return payload
