"""Organizers' announcements to a challenge's participants."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from challenge.models.base import Base, UTCDateTime, utcnow
from challenge.models.challenges import Challenge
from challenge.models.people import User


class Announcement(Base):
    """A post on the challenge page (Markdown body), e-mailed once to its participants."""

    __tablename__ = "announcement"

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_id: Mapped[int] = mapped_column(ForeignKey("challenge.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    # Set by the mail job once every participant's message is queued (None: not yet);
    # a job run twice (a retry) sees it and sends nothing again.
    mailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    mailed_to: Mapped[int | None]
    # The last edit of its title or text (None: never edited); an edit is not e-mailed again.
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    challenge: Mapped[Challenge] = relationship()
    author: Mapped[User | None] = relationship()
