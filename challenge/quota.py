"""Submission quotas: calendar periods in UTC, counted per person, allocated under a lock.

A phase allows ``quota_count`` uploads per team per period: "day" resets at
00:00 UTC, "week" at Monday 00:00 UTC (ISO weeks), "total" never.

**The quota follows people** (Kaggle's merge rule): a team's count in a period
is the sum of its current members' counts, and a member's count is the uploads
they made in that phase and period, to any team. Leaving a team and starting
another therefore starts from what one has already used, and when an organizer
moves a member (challenge.teams.service.move_member) their uploads move with
them, with nothing to copy. An upload whose scoring failed for an internal
reason (``quota_refunded_at`` set) does not count. Uploads whose uploader's
account is gone (``user_id`` NULL) count for the team they went to.

**Allocation never refuses while slots remain**: an upload locks its team's row
(``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite the write transaction holds
the database's write lock from its first statement), then checks the uploader is
still on the team, counts, inserts and commits. Racing uploads of a team queue
on that lock instead of colliding and retrying. Team changes that can move
uploads between teams take the same locks (``lock_teams``), in the same order
(people first, then teams, each by id), so a count never sees half a move.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, or_, select, update

from challenge.extensions import db
from challenge.models import Membership, Phase, Submission, Team, Track


class QuotaExceeded(Exception):
    def __init__(self, phase: Phase, period: str, retry_after: int | None) -> None:
        self.retry_after = retry_after
        when = "in total" if phase.quota_period == "total" else f"per {phase.quota_period} (UTC)"
        message = f"quota reached: {phase.quota_count} submissions {when} for this phase"
        if retry_after is not None:
            message += f"; the next period starts in {retry_after} seconds"
        super().__init__(message)
        self.message = message


class NoLongerOnTeam(Exception):
    """The uploader left the team (or was moved) between choosing it and taking a slot."""

    def __init__(self, team: Team) -> None:
        super().__init__(f"you are no longer on the team '{team.name}'")
        self.team = team


def period_key(kind: str, now: datetime) -> str:
    """The key of the period ``now`` falls in: "2026-11-23", "2026-W48" or "total"."""
    now = now.astimezone(UTC)
    if kind == "day":
        return now.strftime("%Y-%m-%d")
    if kind == "week":
        year, week, _ = now.isocalendar()
        return f"{year}-W{week:02d}"
    if kind == "total":
        return "total"
    raise ValueError(f"unknown quota period {kind!r} (expected day, week or total)")


def next_reset(kind: str, now: datetime) -> datetime | None:
    """When the period containing ``now`` ends; None for "total"."""
    now = now.astimezone(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if kind == "day":
        return midnight + timedelta(days=1)
    if kind == "week":
        return midnight + timedelta(days=7 - now.weekday())
    if kind == "total":
        return None
    raise ValueError(f"unknown quota period {kind!r} (expected day, week or total)")


def retry_after(kind: str, now: datetime) -> int | None:
    reset = next_reset(kind, now)
    if reset is None:
        return None
    return max(1, int((reset - now).total_seconds() + 0.999))


def counted() -> ColumnElement[bool]:
    """The uploads that count against a quota: every one not refunded."""
    return Submission.quota_refunded_at.is_(None)


def used(phase: Phase, team: Team, now: datetime) -> int:
    """The team's count in the period containing ``now``: its current members' uploads in
    ``phase`` (to any team), plus uploads to it by accounts since deleted."""
    members = select(Membership.user_id).where(Membership.team_id == team.id)
    return db.session.scalar(
        select(func.count()).select_from(Submission).where(
            Submission.phase_id == phase.id,
            Submission.quota_period == period_key(phase.quota_period, now),
            counted(),
            or_(Submission.user_id.in_(members),
                and_(Submission.user_id.is_(None), Submission.team_id == team.id)),
        )
    ) or 0


def used_by(phase: Phase, user_id: int, now: datetime) -> int:
    """One person's count in ``phase`` in the period containing ``now`` (to any team)."""
    return db.session.scalar(
        select(func.count()).select_from(Submission).where(
            Submission.phase_id == phase.id, Submission.user_id == user_id,
            Submission.quota_period == period_key(phase.quota_period, now), counted(),
        )
    ) or 0


def open_phases_uploaded_to(user_id: int, challenge_id: int, now: datetime) -> list[Phase]:
    """The phases of the challenge open at ``now`` to which the user made a counted upload
    (reference entries, outside every quota, are not uploads of the person's)."""
    return list(db.session.scalars(
        select(Phase).join(Track, Track.id == Phase.track_id)
        .where(Track.challenge_id == challenge_id, Phase.opens_at <= now, Phase.closes_at > now,
               Phase.id.in_(
                   select(Submission.phase_id).join(Team, Team.id == Submission.team_id)
                   .where(Submission.user_id == user_id, counted(), Team.is_reference.is_(False))))
        .order_by(Phase.closes_at, Phase.id)
    ))


def lock_teams(team_ids: Iterable[int]) -> None:
    """Lock these teams' rows until the transaction ends, in id order (so two lockers of
    the same teams cannot deadlock). Counting a team's quota, and any team change that
    moves uploads between teams, happen under these locks.

    On SQLite a write transaction holds the whole database's write lock from its first
    statement (``BEGIN IMMEDIATE``, challenge.db); the no-op UPDATE takes that lock where
    the transaction began deferred, so it must come before anything is read. PostgreSQL
    locks just the rows.
    """
    sqlite = db.session.get_bind().dialect.name == "sqlite"
    for team_id in sorted(set(team_ids)):
        if sqlite:
            db.session.execute(
                update(Team).where(Team.id == team_id).values(name=Team.name),
                execution_options={"synchronize_session": False},
            )
        else:
            db.session.execute(select(Team.id).where(Team.id == team_id).with_for_update())


def allocate_and_commit(submission: Submission, phase: Phase, team: Team, now: datetime) -> Submission:
    """Count ``team``'s uploads in ``phase`` under a lock on its row and commit
    ``submission`` (by ``submission.user_id``, a member) as the next one.

    Raises QuotaExceeded when the period is full and NoLongerOnTeam when the uploader is no
    longer on the team; then nothing is committed. Racing uploads wait for each other,
    so none is refused while a slot remains.
    """
    key = period_key(phase.quota_period, now)
    db.session.commit()  # start from a fresh transaction (nothing is pending here)
    try:
        lock_teams([team.id])
        if submission.user_id is not None and db.session.scalar(
                select(func.count()).select_from(Membership).where(
                    Membership.team_id == team.id, Membership.user_id == submission.user_id)) == 0:
            raise NoLongerOnTeam(team)
        slot = used(phase, team, now) + 1
        if slot > phase.quota_count:
            raise QuotaExceeded(phase, key, retry_after(phase.quota_period, now))
        submission.quota_period, submission.quota_slot = key, slot
        db.session.add(submission)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return submission


@dataclass(frozen=True)
class QuotaStatus:
    """A team's standing in a phase's quota right now (for the page and the API)."""

    limit: int
    period: str  # "day", "week" or "total"
    period_key: str  # e.g. "2026-11-23"
    used: int  # the members' uploads in the period, to any team (a move can take it past limit)
    remaining: int
    resets_at: datetime | None  # end of the current period; None for "total"
    next_slot_at: datetime | None  # now if a slot is free; None if none will open


def status(phase: Phase, team: Team, now: datetime) -> QuotaStatus:
    """How many uploads ``team`` has left in ``phase`` and when the next one opens.

    A closed (or not yet open) phase has no next slot whatever the count says.
    """
    count = used(phase, team, now)
    remaining = max(0, phase.quota_count - count)
    reset = next_reset(phase.quota_period, now)
    if not phase.is_open(now):
        next_slot = phase.opens_at if now < phase.opens_at else None
    elif remaining > 0:
        next_slot = now
    else:
        next_slot = reset if reset is not None and reset < phase.closes_at else None
    return QuotaStatus(phase.quota_count, phase.quota_period, period_key(phase.quota_period, now),
                       count, remaining, reset, next_slot)
