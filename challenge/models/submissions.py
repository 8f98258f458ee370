"""Submissions and their scores."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, LargeBinary, String, Text, false, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from challenge.models.base import Base, UTCDateTime, utcnow
from challenge.models.challenges import Phase
from challenge.models.people import Team, User

STATUSES = ("queued", "running", "scored", "failed")
#: Scoring is tried this many times (a worker died, an internal error) before the
#: submission is marked failed (challenge.sweeper).
MAX_ATTEMPTS = 3


class Submission(Base):
    """One uploaded prediction file. The database row is the source of truth for
    its state; the RQ job (id ``submission-<id>``) only carries the id."""

    __tablename__ = "submission"
    # The quota (challenge.quota) counts a phase's submissions per period; the count
    # is taken under a lock on the team's row, so racing uploads queue up.
    __table_args__ = (Index("ix_submission_phase_period", "phase_id", "quota_period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    phase_id: Mapped[int] = mapped_column(ForeignKey("phase.id", ondelete="CASCADE"), index=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    method: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    # Metadata a team may edit until the phase closes.
    link: Mapped[str] = mapped_column(String(500), default="", server_default=text("''"))  # paper or code URL
    # ILSVRC's question: trained on data beyond what the challenge provided?
    extra_data: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Marked by its team as one of its final picks for the private ranking.
    final: Mapped[bool] = mapped_column(default=False, server_default=false())
    filename: Mapped[str] = mapped_column(String(255))
    stored_path: Mapped[str] = mapped_column(String(500))  # relative to UPLOAD_FOLDER
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int]
    quota_period: Mapped[str] = mapped_column(String(20))  # e.g. "2026-11-23", "2026-W48", "total"
    quota_slot: Mapped[int]  # the team's n-th upload in the period (informative)
    # Set when scoring failed for an internal reason: the upload no longer counts
    # against the quota.
    quota_refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(10), default="queued", index=True)  # STATUSES
    error: Mapped[str | None] = mapped_column(Text)  # for a competitor to act on
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Moderation (challenge.moderation): "" (none), "hidden" or "disqualified"; either keeps the
    # submission off the public boards. The reason is shown to the team.
    moderation: Mapped[str] = mapped_column(String(20), default="", server_default=text("''"))
    moderation_reason: Mapped[str] = mapped_column(String(2000), default="", server_default=text("''"))

    phase: Mapped[Phase] = relationship(back_populates="submissions")
    team: Mapped[Team] = relationship()
    user: Mapped[User | None] = relationship()
    score: Mapped[Score | None] = relationship(
        back_populates="submission", uselist=False, cascade="all, delete-orphan",
        foreign_keys="Score.submission_id",
    )

    @property
    def job_id(self) -> str:
        return f"submission-{self.id}"

    @property
    def retry_note(self) -> str | None:
        """'retrying (attempt 2 of 3)' while a submission waits or runs again after an
        interrupted attempt; None otherwise."""
        if self.status == "queued" and self.attempts >= 1:
            return f"retrying (attempt {self.attempts + 1} of {MAX_ATTEMPTS})"
        if self.status == "running" and self.attempts >= 2:
            return f"retrying (attempt {self.attempts} of {MAX_ATTEMPTS})"
        return None


class Score(Base):
    """The result of scoring one submission. ``error`` is the headline number
    (error at the track's number of guesses; mean cost for hierarchical tracks)."""

    __tablename__ = "score"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The published score of this submission. NULL only for scores that are not
    # published (challenge.models.truth): a rescoring candidate, or a result a
    # published rescore replaced; every query joins on this column, so none sees them.
    submission_id: Mapped[int] = mapped_column(
        ForeignKey("submission.id", ondelete="CASCADE"), unique=True, nullable=True
    )
    # The submission an unpublished score belongs to (deleted with it).
    for_submission_id: Mapped[int | None] = mapped_column(
        ForeignKey("submission.id", ondelete="CASCADE"), index=True
    )
    # The number of the phase's ground-truth version this was scored against.
    truth_version: Mapped[int] = mapped_column(default=1, server_default=text("1"))
    error: Mapped[float] = mapped_column(Float, index=True)
    error_at_k: Mapped[list[float]] = mapped_column(JSON)
    cls_error: Mapped[float | None] = mapped_column(Float)  # localization tracks
    cls_error_at_k: Mapped[list[float] | None] = mapped_column(JSON)
    ci_low: Mapped[float] = mapped_column(Float)
    ci_high: Mapped[float] = mapped_column(Float)
    images: Mapped[int]
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # warnings, timings
    # Per-class errors and per-image outcomes (compact, see scorer.summary), kept
    # for statistics; deferred so leaderboards never load them.
    per_class: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    outcomes: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    # Localization only: per-image first correct class guess, for the classification
    # error of a split phase's public and private images.
    cls_outcomes: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    scored_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Scores on the public and private images of a split phase, computed with the
    # headline ones (challenge.splits.subset_scores): {"key": the split's
    # fingerprint, "public": {...}, "private": {...}}; None for unsplit phases.
    subsets: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    submission: Mapped[Submission] = relationship(back_populates="score", foreign_keys=[submission_id])


__all__ = ["MAX_ATTEMPTS", "STATUSES", "Score", "Submission"]
