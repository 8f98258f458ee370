"""Submission quotas: calendar periods in UTC and atomic slot allocation.

A phase allows ``quota_count`` uploads per team per period: "day" resets at
00:00 UTC, "week" at Monday 00:00 UTC (ISO weeks), "total" never. Each accepted
upload takes slot (uploads so far in the period) + 1 under the key of its
period; the unique constraint on Submission (phase, team, period, slot) makes
two uploads racing for the same slot collide in the database, so the last slot
cannot be taken twice however many web processes run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from challenge.extensions import db
from challenge.models import Phase, Submission, Team

#: How often a collision on a slot that was not the last one is retried.
RETRIES = 5


class QuotaExceeded(Exception):
    def __init__(self, phase: Phase, period: str, retry_after: int | None) -> None:
        self.retry_after = retry_after
        when = "in total" if phase.quota_period == "total" else f"per {phase.quota_period} (UTC)"
        message = f"quota reached: {phase.quota_count} submissions {when} for this phase"
        if retry_after is not None:
            message += f"; the next period starts in {retry_after} seconds"
        super().__init__(message)
        self.message = message


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


def used(phase: Phase, team: Team, now: datetime) -> int:
    key = period_key(phase.quota_period, now)
    return db.session.scalar(
        select(func.count()).select_from(Submission).where(
            Submission.phase_id == phase.id, Submission.team_id == team.id,
            Submission.quota_period == key,
        )
    ) or 0


def _lock_for_sqlite(team: Team) -> None:
    # SQLite fails a transaction that read and then writes after another writer
    # committed ("database is locked") instead of waiting; taking the write lock
    # before counting makes racing uploads queue up. PostgreSQL needs no lock:
    # the unique constraint decides the race.
    if db.session.get_bind().dialect.name == "sqlite":
        db.session.execute(
            update(Team).where(Team.id == team.id).values(name=Team.name),
            execution_options={"synchronize_session": False},
        )


def allocate_and_commit(submission: Submission, phase: Phase, team: Team, now: datetime) -> Submission:
    """Give ``submission`` (of ``team`` in ``phase``) the next free slot of the
    current period and commit it. Raises QuotaExceeded (nothing committed) when
    the period is full."""
    key = period_key(phase.quota_period, now)
    for _ in range(RETRIES):
        db.session.commit()  # start from a fresh transaction (nothing is pending here)
        _lock_for_sqlite(team)
        slot = used(phase, team, now) + 1
        if slot > phase.quota_count:
            db.session.rollback()
            raise QuotaExceeded(phase, key, retry_after(phase.quota_period, now))
        submission.quota_period, submission.quota_slot = key, slot
        db.session.add(submission)
        try:
            db.session.commit()
            return submission
        except IntegrityError:
            # Another upload took this slot first; count again.
            db.session.rollback()
    raise QuotaExceeded(phase, key, retry_after(phase.quota_period, now))


@dataclass(frozen=True)
class QuotaStatus:
    """A team's standing in a phase's quota right now (for the page and the API)."""

    limit: int
    period: str  # "day", "week" or "total"
    period_key: str  # e.g. "2026-11-23"
    used: int
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
