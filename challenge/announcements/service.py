"""Organizers' announcements: posted to a challenge (console or CLI), audited, shown on the
challenge page newest first, and e-mailed to its participants by a worker job."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from challenge import audit, notify
from challenge.extensions import db
from challenge.models import Announcement, Challenge, User

MAX_TITLE = 200
MAX_BODY = 20_000


class AnnouncementError(Exception):
    """A refused post; ``message`` names the field and what is wrong."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def post(actor: User | None, challenge: Challenge, title: str, body: str) -> tuple[Announcement, bool]:
    """Post (and commit, with its audit entry) an announcement, then queue its e-mails.
    Returns it and whether the e-mails were queued (False: Redis was unreachable; the post
    stands and ``challenge announce --resend ID`` can queue them later)."""
    title = " ".join(title.split())
    body = body.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not title:
        raise AnnouncementError("title: an announcement needs a title")
    if len(title) > MAX_TITLE:
        raise AnnouncementError(f"title: at most {MAX_TITLE} characters (got {len(title)})")
    if not body:
        raise AnnouncementError("body: an announcement needs a text")
    if len(body) > MAX_BODY:
        raise AnnouncementError(f"body: at most {MAX_BODY} characters (got {len(body)})")
    announcement = Announcement(challenge_id=challenge.id, title=title, body=body,
                                author_id=actor.id if actor is not None else None)
    db.session.add(announcement)
    db.session.flush()
    audit.record(actor, "announcement.post", f"announcement:{announcement.id}", challenge_id=challenge.id,
                 after={"title": title, "body": body})
    db.session.commit()
    return announcement, notify.queue_announcement(announcement)


def recent(challenge: Challenge, limit: int | None = None) -> Sequence[Announcement]:
    """The challenge's announcements, newest first."""
    query = (select(Announcement).where(Announcement.challenge_id == challenge.id)
             .order_by(Announcement.created_at.desc(), Announcement.id.desc()))
    if limit is not None:
        query = query.limit(limit)
    return db.session.scalars(query).all()
