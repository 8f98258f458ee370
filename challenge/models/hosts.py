"""Per-challenge hosts: people who run one challenge in the console without being site admins.

Site admins (``User.is_organizer``) manage every challenge; a host manages only the
challenges listed here for them (challenge.admin.access decides what that allows)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from challenge.models.base import Base, UTCDateTime, utcnow
from challenge.models.challenges import Challenge
from challenge.models.people import User


class ChallengeHost(Base):
    __tablename__ = "challenge_host"
    __table_args__ = (UniqueConstraint("challenge_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_id: Mapped[int] = mapped_column(ForeignKey("challenge.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    # Who made them a host (None: the command line without a named admin, or since deleted).
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    challenge: Mapped[Challenge] = relationship()
    user: Mapped[User] = relationship(foreign_keys=[user_id], back_populates="hosting")
    added_by: Mapped[User | None] = relationship(foreign_keys=[added_by_id])
