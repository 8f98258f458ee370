"""A year's final results: the boards as they stood when the organizers published them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column, relationship

from challenge.models.base import Base, UTCDateTime, utcnow
from challenge.models.challenges import Challenge
from challenge.models.people import User


class FinalResults(Base):
    """Written once per challenge and never changed: later rescoring, moderation or edits
    change the live boards, not what was announced."""

    __tablename__ = "final_results"

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_id: Mapped[int] = mapped_column(ForeignKey("challenge.id", ondelete="CASCADE"), unique=True)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    # {"boards": [{"track", "track_title", "task", "phase", "phase_title", "board", "ranking",
    #              "entries": [export rows]}], "withheld": [{"track", "phase", "reason"}]}
    data: Mapped[dict[str, Any]] = mapped_column(JSON)

    challenge: Mapped[Challenge] = relationship()
    published_by: Mapped[User | None] = relationship()
