"""Organizers' actions on a phase's boards (CLI and console), each audited: publishing a
split phase's private leaderboard, and the split, freeze, final picks and rankings settings."""

from __future__ import annotations

from datetime import datetime

from challenge import audit, scoring, splits
from challenge.challenges import service as challenges
from challenge.extensions import db
from challenge.models import Phase, User, utcnow
from challenge.models.challenges import new_split_secret

FIELDS = ("private_published_at",)


class PublishError(Exception):
    """A refused publication; the message says why (nothing changed)."""


def find_phase(spec: str) -> Phase:
    """The phase named ``SLUG/TRACK/PHASE``; raises PublishError naming what is missing."""
    try:
        return challenges.find_phase(spec)
    except LookupError as exc:
        raise PublishError(str(exc)) from None


def publish_private(actor: User | None, phase: Phase, now: datetime | None = None) -> Phase:
    """Show the phase's private board (to everyone the phase's rule lets see scores); commits.

    Only a split phase that has closed can be published, once."""
    now = now or utcnow()
    name = challenges.phase_path(phase)
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
    return phase


SETTINGS = ("public_fraction", "public_images", "frozen_at", "final_picks", "separate_outside_data")
MAX_PICKS = 100


def update_settings(actor: User | None, phase: Phase, *, public_fraction: float | None,
                    public_images: list[int] | None, frozen_at: datetime | None, final_picks: int,
                    separate_outside_data: bool) -> Phase:
    """Set the phase's split, freeze, final picks and rankings; audited, committed.

    Raises PublishError naming the setting (nothing changed) for a bad value, or for a
    change of the split once the private board is published (it would change the result)."""
    try:
        splits.check_split(public_fraction, public_images, phase.images)
    except ValueError as exc:
        raise PublishError(f"split: {exc}") from None
    if (public_fraction is not None or public_images is not None) and \
            not scoring.task_of(phase.track).split_ok:
        raise PublishError(f"split: a {phase.track.task} phase cannot be split into public and "
                           "private boards (its headline is not a mean over images)")
    if frozen_at is not None and not phase.opens_at < frozen_at < phase.closes_at:
        raise PublishError("freeze: must be after the phase opens and before it closes")
    if not 1 <= final_picks <= MAX_PICKS:
        raise PublishError(f"final picks: from 1 to {MAX_PICKS}")
    split_changes = (public_fraction, public_images) != (phase.public_fraction, phase.public_images)
    if split_changes and phase.private_published_at is not None:
        raise PublishError("split: the private leaderboard is published; changing the split would "
                           "change the final result")
    before = audit.snapshot(phase, SETTINGS)
    phase.public_fraction, phase.public_images = public_fraction, public_images
    if not phase.split_secret:
        phase.split_secret = new_split_secret()
    phase.frozen_at, phase.final_picks = frozen_at, final_picks
    phase.separate_outside_data = separate_outside_data
    after = audit.snapshot(phase, SETTINGS)
    if after != before:
        audit.record(actor, "phase.boards", f"phase:{phase.id}", challenge_id=phase.track.challenge_id,
                     before=before, after=after)
    db.session.commit()
    return phase
