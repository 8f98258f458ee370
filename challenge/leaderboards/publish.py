"""Publishing a split phase's private leaderboard (organizers; CLI and console), audited."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from challenge import audit, splits
from challenge.extensions import db
from challenge.leaderboards import cache
from challenge.models import Challenge, Phase, Track, User, utcnow

FIELDS = ("private_published_at",)


class PublishError(Exception):
    """A refused publication; the message says why (nothing changed)."""


def find_phase(spec: str) -> Phase:
    """The phase named ``SLUG/TRACK/PHASE``; raises PublishError naming what is missing."""
    parts = spec.strip("/").split("/")
    if len(parts) != 3 or not all(parts):
        raise PublishError(f"name the phase as CHALLENGE/TRACK/PHASE, e.g. ilsvrc2012/cls/test "
                           f"(got {spec!r})")
    slug, track_slug, phase_slug = parts
    phase = db.session.scalar(
        select(Phase).join(Track).join(Challenge)
        .where(Challenge.slug == slug, Track.slug == track_slug, Phase.slug == phase_slug))
    if phase is None:
        raise PublishError(f"no phase {phase_slug!r} in track {track_slug!r} of challenge {slug!r}")
    return phase


def publish_private(actor: User | None, phase: Phase, now: datetime | None = None) -> Phase:
    """Show the phase's private board (to everyone the phase's rule lets see scores); commits.

    Only a split phase that has closed can be published, once."""
    now = now or utcnow()
    name = f"{phase.track.challenge.slug}/{phase.track.slug}/{phase.slug}"
    if not splits.is_split(phase):
        raise PublishError(f"{name} has no public/private split, so no private board to publish")
    if now < phase.closes_at:
        raise PublishError(f"{name} closes at {phase.closes_at.strftime('%Y-%m-%d %H:%M')} UTC; "
                           "its private board can be published after that")
    if phase.private_published_at is not None:
        raise PublishError(f"{name}'s private board was already published at "
                           f"{phase.private_published_at.strftime('%Y-%m-%d %H:%M')} UTC")
    before = audit.snapshot(phase, FIELDS)
    phase.private_published_at = now
    audit.record(actor, "phase.publish_private", f"phase:{phase.id}",
                 challenge_id=phase.track.challenge_id, before=before,
                 after=audit.snapshot(phase, FIELDS), note=f"private leaderboard of {name} published")
    db.session.commit()
    cache.invalidate(phase.id)
    return phase
