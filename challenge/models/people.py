"""People: users, their API tokens, teams and team membership."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import TYPE_CHECKING

from flask_login import UserMixin
from sqlalchemy import ForeignKey, String, UniqueConstraint, false, text, true
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from challenge.models.base import Base, UTCDateTime, utcnow

if TYPE_CHECKING:
    from challenge.models.challenges import Challenge
    from challenge.models.hosts import ChallengeHost


class User(UserMixin, Base):
    __tablename__ = "user"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # stored lower-case
    name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))
    is_organizer: Mapped[bool] = mapped_column(default=False)
    # Bumped by logout and password change: a session cookie carrying an older
    # epoch no longer logs anyone in (challenge.auth.current).
    session_epoch: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set when the owner opened the verification link (or a reset link: it proves the
    # same thing). Only consulted when REQUIRE_EMAIL_VERIFICATION is on.
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # E-mail when one of the user's submissions is scored or fails (challenge.notify).
    notify_submissions: Mapped[bool] = mapped_column(default=True, server_default=true())
    # E-mail the organizers' announcements and the final results of the challenges the
    # user is on a team for (challenge.notify).
    notify_announcements: Mapped[bool] = mapped_column(default=True, server_default=true())

    memberships: Mapped[list[Membership]] = relationship(back_populates="user")
    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user")
    # The challenges this user hosts (challenge.admin.access); site admins need no rows.
    hosting: Mapped[list[ChallengeHost]] = relationship(
        back_populates="user", foreign_keys="ChallengeHost.user_id", cascade="all, delete-orphan",
        passive_deletes=True)

    def get_id(self) -> str:
        """What Flask-Login keeps in the session: the id and the session epoch, so a
        session from before the last logout or password change is refused."""
        return f"{self.id}:{self.session_epoch or 0}"

    def set_password(self, password: str) -> None:
        """Set a new password; changing one ends every session of the account."""
        if self.password_hash:
            self.session_epoch = (self.session_epoch or 0) + 1
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def is_site_admin(self) -> bool:
        """The global role: every challenge and the site-wide pages. Stored as ``is_organizer``
        (the name from before per-challenge hosts; kept so existing data and tools still work)."""
        return bool(self.is_organizer)

    def manages(self, challenge_id: int | None) -> bool:
        """May this user act as an organizer of challenge ``challenge_id``: a site admin, or
        one of its hosts?"""
        return self.is_site_admin or (
            challenge_id is not None and any(h.challenge_id == challenge_id for h in self.hosting))

    @property
    def uses_console(self) -> bool:
        """A site admin or the host of at least one challenge."""
        return self.is_site_admin or bool(self.hosting)


def hash_token(token: str) -> str:
    """API tokens are stored as their SHA-256: high-entropy, so no salt is needed."""
    return hashlib.sha256(token.encode()).hexdigest()


class ApiToken(Base):
    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))  # shown so users can tell tokens apart
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(back_populates="tokens")


class Team(Base):
    __tablename__ = "team"
    __table_args__ = (UniqueConstraint("challenge_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_id: Mapped[int] = mapped_column(ForeignKey("challenge.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    invite_code: Mapped[str] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Moderation of the whole team (challenge.moderation): "", "hidden" or "disqualified".
    moderation: Mapped[str] = mapped_column(String(20), default="", server_default=text("''"))
    moderation_reason: Mapped[str] = mapped_column(String(2000), default="", server_default=text("''"))
    # An organizers' reference entry (e.g. a baseline): shown on the board, never ranked.
    is_reference: Mapped[bool] = mapped_column(default=False, server_default=false())

    challenge: Mapped[Challenge] = relationship(back_populates="teams")
    memberships: Mapped[list[Membership]] = relationship(
        back_populates="team", cascade="all, delete-orphan"
    )


class Membership(Base):
    """A user on a team. ``challenge_id`` is repeated here so the database itself
    enforces 'at most one team per user per challenge'."""

    __tablename__ = "membership"
    __table_args__ = (UniqueConstraint("user_id", "challenge_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    challenge_id: Mapped[int] = mapped_column(ForeignKey("challenge.id", ondelete="CASCADE"))
    is_captain: Mapped[bool] = mapped_column(default=False)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    team: Mapped[Team] = relationship(back_populates="memberships")
    user: Mapped[User] = relationship(back_populates="memberships")
