"""Challenges: a year, its tracks, their phases, and the hidden files behind them."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import JSON, Float, ForeignKey, LargeBinary, String, Text, UniqueConstraint, false, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from challenge.models.base import Base, UTCDateTime, utcnow

if TYPE_CHECKING:
    from challenge.models.people import Team
    from challenge.models.submissions import Submission

#: The built-in tasks; the full list, with operator-installed ones, is ``scorer.tasks.names()``.
TASKS = ("classification", "localization", "hierarchical", "detection")
QUOTA_PERIODS = ("day", "week", "total")
VISIBILITIES = ("public", "after-close", "hidden")


def new_split_secret() -> str:
    """The seed of a phase's public/private split: server-side only, never derivable."""
    return secrets.token_hex(16)


class Blob(Base):
    """A server-side file (ground truth, class list), content-addressed.

    Stored in the database so that web and every worker see the same bytes and
    nothing hidden ever sits under a static path. ``data`` is deferred: listing
    phases never loads ground truth.
    """

    __tablename__ = "blob"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    filename: Mapped[str] = mapped_column(String(255))
    size: Mapped[int]
    data: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Challenge(Base):
    __tablename__ = "challenge"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    year: Mapped[int] = mapped_column(index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    classes_blob_id: Mapped[int] = mapped_column(ForeignKey("blob.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    classes_blob: Mapped[Blob] = relationship()
    tracks: Mapped[list[Track]] = relationship(
        back_populates="challenge", cascade="all, delete-orphan", order_by="Track.position"
    )
    teams: Mapped[list[Team]] = relationship(back_populates="challenge")


class Track(Base):
    __tablename__ = "track"
    __table_args__ = (UniqueConstraint("challenge_id", "slug"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_id: Mapped[int] = mapped_column(ForeignKey("challenge.id", ondelete="CASCADE"))
    slug: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    task: Mapped[str] = mapped_column(String(20))  # a scorer.tasks name
    guesses: Mapped[int] = mapped_column(default=5)
    position: Mapped[int] = mapped_column(default=0)
    # The track's own class list (a DET track's 200 classes in a year of 1,000 CLS-LOC
    # classes); NULL: the challenge's. Read through challenge.scoring.class_list.
    classes_blob_id: Mapped[int | None] = mapped_column(ForeignKey("blob.id"))

    classes_blob: Mapped[Blob | None] = relationship(foreign_keys=[classes_blob_id])
    challenge: Mapped[Challenge] = relationship(back_populates="tracks")
    phases: Mapped[list[Phase]] = relationship(
        back_populates="track", cascade="all, delete-orphan", order_by="Phase.opens_at"
    )


class Phase(Base):
    __tablename__ = "phase"
    __table_args__ = (UniqueConstraint("track_id", "slug"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("track.id", ondelete="CASCADE"))
    slug: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200), default="")
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime)
    quota_count: Mapped[int] = mapped_column(default=5)
    quota_period: Mapped[str] = mapped_column(String(10), default="day")  # QUOTA_PERIODS
    leaderboard: Mapped[str] = mapped_column(String(20), default="public")  # VISIBILITIES
    # Number of images in the ground truth: the public size of the test set,
    # which the upload check needs without loading the hidden files.
    images: Mapped[int]
    labels_blob_id: Mapped[int] = mapped_column(ForeignKey("blob.id"))
    boxes_blob_id: Mapped[int | None] = mapped_column(ForeignKey("blob.id"))
    blacklist_blob_id: Mapped[int | None] = mapped_column(ForeignKey("blob.id"))
    # ReaL labels (real.json, scorer.real) of a classification phase: hidden like the labels,
    # versioned with them; when set, boards add ReaL top-1 and top-5 error columns.
    real_blob_id: Mapped[int | None] = mapped_column(ForeignKey("blob.id"))
    # A public example prediction file (never ground truth), offered for download.
    sample_blob_id: Mapped[int | None] = mapped_column(ForeignKey("blob.id"))
    # The number of the current ground-truth version, whose files the three above are
    # (challenge.truth: replacing them adds a version, published by a rescore).
    truth_version: Mapped[int] = mapped_column(default=1, server_default=text("1"))
    # Public/private split, Kaggle style (see challenge.splits): the share of
    # images, or an explicit list of 1-based image numbers, that score the public board;
    # both None: one board on every image. Which images are public is never shown.
    public_fraction: Mapped[float | None] = mapped_column(Float)
    public_images: Mapped[list[int] | None] = mapped_column(JSON)
    split_secret: Mapped[str] = mapped_column(String(64), default=new_split_secret,
                                              server_default=text("''"))
    # The private board is shown once the phase has closed and an organizer published it.
    private_published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # After this time the public board stops changing for everyone but organizers.
    frozen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # How many submissions a team may mark as final for the private ranking.
    final_picks: Mapped[int] = mapped_column(default=2, server_default=text("2"))
    # ILSVRC's two rankings: "all entries" and "provided data only".
    separate_outside_data: Mapped[bool] = mapped_column(default=False, server_default=false())

    track: Mapped[Track] = relationship(back_populates="phases")
    labels_blob: Mapped[Blob] = relationship(foreign_keys=[labels_blob_id])
    boxes_blob: Mapped[Blob | None] = relationship(foreign_keys=[boxes_blob_id])
    blacklist_blob: Mapped[Blob | None] = relationship(foreign_keys=[blacklist_blob_id])
    real_blob: Mapped[Blob | None] = relationship(foreign_keys=[real_blob_id])
    sample_blob: Mapped[Blob | None] = relationship(foreign_keys=[sample_blob_id])
    submissions: Mapped[list[Submission]] = relationship(back_populates="phase")

    def is_open(self, now: datetime) -> bool:
        return self.opens_at <= now < self.closes_at
