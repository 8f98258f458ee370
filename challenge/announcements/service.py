"""Organizers' announcements: posted to a challenge (console or CLI), edited or deleted
there too, audited, shown on the challenge page newest first, and e-mailed to its
participants by a worker job (once: an edit is not e-mailed again)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from challenge import audit, notify
from challenge.extensions import db
from challenge.models import Announcement, Challenge, User, utcnow
from challenge.rules import text_audit

MAX_TITLE = 200
MAX_BODY = 20_000


class AnnouncementError(Exception):
    """A refused post or edit; ``message`` names the field and what is wrong."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _checked(title: str, body: str) -> tuple[str, str]:
    """The title and text as stored (one line; one kind of line ending, trimmed), or
    AnnouncementError naming the first field that is empty or too long."""
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
    return title, body


def _state(announcement: Announcement) -> dict[str, Any]:
    """One side of an audit entry: the title whole (it is short), the text as its
    SHA-256 and length (``text_audit``: the diff beside it shows what changed)."""
    return {"title": announcement.title, "body": text_audit.fingerprint(announcement.body)}


def post(actor: User | None, challenge: Challenge, title: str, body: str) -> tuple[Announcement, bool]:
    """Post (and commit, with its audit entry) an announcement, then queue its e-mails.
    Returns it and whether the e-mails were queued (False: Redis was unreachable; the post
    stands and ``challenge announce --resend ID`` can queue them later)."""
    title, body = _checked(title, body)
    announcement = Announcement(challenge_id=challenge.id, title=title, body=body,
                                author_id=actor.id if actor is not None else None)
    db.session.add(announcement)
    db.session.flush()
    audit.record(actor, "announcement.post", f"announcement:{announcement.id}", challenge_id=challenge.id,
                 after={**_state(announcement),
                        **text_audit.diffs(body=("", body, "(new)", f"announcement {announcement.id}"))})
    db.session.commit()
    return announcement, notify.queue_announcement(announcement)


def edit(actor: User | None, announcement: Announcement, title: str, body: str) -> bool:
    """Replace the title and text (and commit, audited), stamping ``edited_at``; False when
    both are unchanged (nothing is written). The participants are not e-mailed again: the
    challenge page says "edited" with the time. (Edited before its mail job ran, the
    e-mails carry the edited text.)"""
    title, body = _checked(title, body)
    if (title, body) == (announcement.title, announcement.body):
        return False
    before, old_body = _state(announcement), announcement.body
    announcement.title, announcement.body, announcement.edited_at = title, body, utcnow()
    audit.record(actor, "announcement.edit", f"announcement:{announcement.id}",
                 challenge_id=announcement.challenge_id, before=before,
                 after={**_state(announcement),
                        **text_audit.diffs(body=(old_body, body, "before", "after"))})
    db.session.commit()
    return True


def delete(actor: User | None, announcement: Announcement) -> None:
    """Delete it for good (and commit, audited): it leaves the challenge page at once, and a
    mail job not yet run sends nothing. The entry keeps its title, the text's SHA-256 and
    length, and the text itself as a diff to nothing, cut like any other."""
    audit.record(actor, "announcement.delete", f"announcement:{announcement.id}",
                 challenge_id=announcement.challenge_id, before=_state(announcement),
                 after=text_audit.diffs(body=(announcement.body, "", f"announcement {announcement.id}",
                                              "(deleted)")) or None)
    db.session.delete(announcement)
    db.session.commit()


def find(challenge: Challenge, announcement_id: int) -> Announcement | None:
    """The challenge's announcement ``announcement_id`` (None: no such one, or another
    challenge's: a host reaches only their own challenge's posts)."""
    announcement = db.session.get(Announcement, announcement_id)
    return announcement if announcement is not None and announcement.challenge_id == challenge.id else None


def recent(challenge: Challenge, limit: int | None = None) -> Sequence[Announcement]:
    """The challenge's announcements, newest first."""
    query = (select(Announcement).where(Announcement.challenge_id == challenge.id)
             .order_by(Announcement.created_at.desc(), Announcement.id.desc()))
    if limit is not None:
        query = query.limit(limit)
    return db.session.scalars(query).all()
