"""The organizers' audit log: who did what, when, with the values before and after."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from challenge.models.base import Base, UTCDateTime, utcnow
from challenge.models.people import User


class AuditEntry(Base):
    """One organizer action. Rows are only ever added (never edited or deleted)."""

    __tablename__ = "audit_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # None for actions taken from the command line without a named organizer.
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(64), index=True)  # e.g. "phase.update"
    # What was acted on, as "kind:id" (e.g. "phase:12"), and the challenge it belongs to.
    target: Mapped[str] = mapped_column(String(100), default="")
    challenge_id: Mapped[int | None] = mapped_column(ForeignKey("challenge.id", ondelete="SET NULL"),
                                                     index=True)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    note: Mapped[str] = mapped_column(String(2000), default="")  # e.g. a moderation reason

    actor: Mapped[User | None] = relationship()
