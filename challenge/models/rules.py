"""A challenge's rules: every version of their text, and who accepted which version when."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from challenge.models.base import Base, UTCDateTime, utcnow
from challenge.models.challenges import Challenge
from challenge.models.people import User


class RulesVersion(Base):
    """One version of a challenge's rules (Markdown). Rows are only ever added: a person
    accepted a version, so what that version said must stay readable. The current rules
    are the highest version; an empty text means the challenge has no rules (again)."""

    __tablename__ = "rules_version"
    __table_args__ = (UniqueConstraint("challenge_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_id: Mapped[int] = mapped_column(ForeignKey("challenge.id", ondelete="CASCADE"))
    version: Mapped[int]  # 1, 2, ... per challenge
    text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # None: set from the command line or a bundle load without a named organizer.
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))

    challenge: Mapped[Challenge] = relationship()
    author: Mapped[User | None] = relationship()


class RulesAcceptance(Base):
    """A person accepted version ``version`` of a challenge's rules at ``accepted_at``.
    Kept for every version they accepted (the record an organizer may be asked for)."""

    __tablename__ = "rules_acceptance"
    __table_args__ = (UniqueConstraint("user_id", "challenge_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    challenge_id: Mapped[int] = mapped_column(ForeignKey("challenge.id", ondelete="CASCADE"), index=True)
    version: Mapped[int]
    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship()
