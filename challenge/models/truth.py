"""Versions of a phase's hidden ground truth, and rescoring runs against them.

A phase's files (``Phase.labels_blob`` ...) are always those of its current
version, numbered ``Phase.truth_version``; replacing the ground truth adds a
``TruthVersion`` and leaves the phase, and every published score, on the old
one until a rescoring run against the new version is published. Version 1 gets
its row lazily (``challenge.truth.versions``), from the phase's own files.

A ``RescoreRun`` scores submissions again (one per ``RescoreItem``) into
candidate ``Score`` rows that are not attached to their submission, so no page,
board or export sees them until the run is published; publishing swaps them
with the published rows (kept, detached, for a rollback).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from challenge.models.base import Base, UTCDateTime, utcnow
from challenge.models.challenges import Blob, Phase
from challenge.models.people import User
from challenge.models.submissions import Score, Submission

RUN_STATUSES = ("open", "published", "rolled-back", "discarded")
ITEM_STATUSES = ("queued", "running", "scored", "failed")


class TruthVersion(Base):
    """One version of a phase's ground truth: its files, as they were uploaded."""

    __tablename__ = "truth_version"
    __table_args__ = (UniqueConstraint("phase_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    phase_id: Mapped[int] = mapped_column(ForeignKey("phase.id", ondelete="CASCADE"), index=True)
    number: Mapped[int]  # 1, 2, ... per phase
    images: Mapped[int]
    labels_blob_id: Mapped[int] = mapped_column(ForeignKey("blob.id"))
    boxes_blob_id: Mapped[int | None] = mapped_column(ForeignKey("blob.id"))
    blacklist_blob_id: Mapped[int | None] = mapped_column(ForeignKey("blob.id"))
    real_blob_id: Mapped[int | None] = mapped_column(ForeignKey("blob.id"))  # ReaL labels
    note: Mapped[str] = mapped_column(String(2000), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))

    phase: Mapped[Phase] = relationship()
    labels_blob: Mapped[Blob] = relationship(foreign_keys=[labels_blob_id])
    boxes_blob: Mapped[Blob | None] = relationship(foreign_keys=[boxes_blob_id])
    blacklist_blob: Mapped[Blob | None] = relationship(foreign_keys=[blacklist_blob_id])
    real_blob: Mapped[Blob | None] = relationship(foreign_keys=[real_blob_id])
    created_by: Mapped[User | None] = relationship()


class TruthArtifact(Base):
    """A parsed class list or ground truth as a scorer artifact (``scorer.artifact``): numpy
    arrays that load in milliseconds instead of parsing the files again in every process.

    ``key`` names what it was parsed from (challenge.artifacts: the artifact format, the
    class list's checksum and, for ground truth, the checksums of its labels, boxes and
    blacklist), so a new file is a new key and an old artifact is simply never asked for.
    Built once by whoever needs it first (insert-or-ignore: two builders race harmlessly);
    ``data_sha256`` lets a reader tell a damaged row, which is rebuilt, never trusted.
    """

    __tablename__ = "truth_artifact"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(10))  # "classes" or "truth"
    format_version: Mapped[int]
    classes_sha256: Mapped[str] = mapped_column(String(64))
    data_sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int]
    data: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RescoreRun(Base):
    """Scoring a phase's submissions (or one of them) again against a truth version.

    ``status``: open (candidates being computed or waiting to be published),
    published, rolled-back (the previous scores were restored) or discarded.
    Progress is counted from the items, so concurrent workers never race on a counter.
    """

    __tablename__ = "rescore_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    phase_id: Mapped[int] = mapped_column(ForeignKey("phase.id", ondelete="CASCADE"), index=True)
    version: Mapped[int]  # TruthVersion.number
    # Set when only this submission is rescored; None: the whole phase.
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submission.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(12), default="open")  # RUN_STATUSES
    # The phase's version before publishing: what a rollback returns to.
    previous_version: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # rolled back or discarded

    phase: Mapped[Phase] = relationship()
    submission: Mapped[Submission | None] = relationship()
    created_by: Mapped[User | None] = relationship()
    items: Mapped[list[RescoreItem]] = relationship(
        back_populates="run", cascade="all, delete-orphan", order_by="RescoreItem.submission_id"
    )


class RescoreItem(Base):
    """One submission of a run: its candidate score, and after publishing the score it replaced.

    ``error`` is for organizers only: it may describe the hidden ground truth.
    """

    __tablename__ = "rescore_item"
    __table_args__ = (UniqueConstraint("run_id", "submission_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("rescore_run.id", ondelete="CASCADE"), index=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submission.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(10), default="queued")  # ITEM_STATUSES
    error: Mapped[str | None] = mapped_column(Text)
    score_id: Mapped[int | None] = mapped_column(ForeignKey("score.id", ondelete="SET NULL"))
    previous_score_id: Mapped[int | None] = mapped_column(ForeignKey("score.id", ondelete="SET NULL"))
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    run: Mapped[RescoreRun] = relationship(back_populates="items")
    submission: Mapped[Submission] = relationship()
    score: Mapped[Score | None] = relationship(foreign_keys=[score_id])
    previous_score: Mapped[Score | None] = relationship(foreign_keys=[previous_score_id])

    @property
    def job_id(self) -> str:
        return f"rescore-{self.run_id}-{self.submission_id}"


__all__ = ["ITEM_STATUSES", "RUN_STATUSES", "RescoreItem", "RescoreRun", "TruthVersion"]
