"""Making people hosts of a challenge, and no longer: site admins only (console and CLI),
each change audited in the same transaction.

A host runs one challenge as an organizer would (challenge.admin.access says where);
the role is a ``challenge_host`` row, so removing it takes effect on the host's next request.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from challenge import audit
from challenge.auth.service import normalize_email, user_by_email
from challenge.extensions import db
from challenge.models import Challenge, ChallengeHost, User


class HostError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def hosts_of(challenge: Challenge) -> list[ChallengeHost]:
    """The challenge's hosts, in the order they were added."""
    return list(db.session.scalars(
        select(ChallengeHost).where(ChallengeHost.challenge_id == challenge.id)
        .order_by(ChallengeHost.added_at, ChallengeHost.id)))


def _user(email: str) -> User:
    if not email.strip():
        raise HostError("email: give the e-mail address of the person's account")
    user = user_by_email(email)
    if user is None:
        raise HostError(f"email: no user with the email {normalize_email(email)} "
                        "(they register first, or an admin runs 'challenge users create')")
    return user


def add_host(actor: User | None, challenge: Challenge, email: str) -> ChallengeHost:
    """Make the account with ``email`` a host of ``challenge``."""
    user = _user(email)
    if user.is_site_admin:
        raise HostError(f"{user.email} is a site admin: they manage every challenge already")
    if any(h.challenge_id == challenge.id for h in user.hosting):
        raise HostError(f"{user.email} is a host of {challenge.slug} already")
    host = ChallengeHost(challenge_id=challenge.id, user=user,
                         added_by_id=actor.id if actor is not None else None)
    db.session.add(host)
    audit.record(actor, "host.add", f"user:{user.id}", challenge_id=challenge.id,
                 after={"host": user.email})
    try:
        db.session.commit()
    except IntegrityError:  # added at the same moment by someone else
        db.session.rollback()
        raise HostError(f"{normalize_email(email)} is a host of {challenge.slug} already") from None
    return host


def remove_host(actor: User | None, challenge: Challenge, email: str) -> User:
    """End ``email``'s host role on ``challenge``. Returns who."""
    user = _user(email)
    host = next((h for h in user.hosting if h.challenge_id == challenge.id), None)
    if host is None:
        raise HostError(f"{user.email} is not a host of {challenge.slug}")
    user.hosting.remove(host)
    audit.record(actor, "host.remove", f"user:{user.id}", challenge_id=challenge.id,
                 before={"host": user.email})
    db.session.commit()
    return user
