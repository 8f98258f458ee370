"""Reading challenges for pages and the API: years, tracks, phases, samples."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import contains_eager, joinedload

from challenge import scoring
from challenge.extensions import db
from challenge.models import Challenge, Phase, Track, utcnow


def all_challenges() -> Sequence[Challenge]:
    """Every year, newest first."""
    return db.session.scalars(select(Challenge).order_by(Challenge.year.desc(), Challenge.slug)).all()


def get_challenge(slug: str) -> Challenge | None:
    return db.session.scalar(select(Challenge).where(Challenge.slug == slug))


def find_track(slug: str, track_slug: str) -> Track | None:
    """The track ``track_slug`` of challenge ``slug`` with its challenge and phases, in one
    query (a track page is the most read page: three lazy loads cost a third of it)."""
    return db.session.scalars(
        select(Track).join(Track.challenge)
        .where(Challenge.slug == slug, Track.slug == track_slug)
        .options(contains_eager(Track.challenge), joinedload(Track.phases))).unique().first()


def get_track(challenge: Challenge, track_slug: str) -> Track | None:
    return next((t for t in challenge.tracks if t.slug == track_slug), None)


def phase_path(phase: Phase) -> str:
    """The phase's name on the command line and in messages: SLUG/TRACK/PHASE."""
    return f"{phase.track.challenge.slug}/{phase.track.slug}/{phase.slug}"


def find_phase(path: str) -> Phase:
    """The phase named ``SLUG/TRACK/PHASE``; raises LookupError naming the missing part."""
    parts = path.strip().strip("/").split("/")
    if len(parts) != 3 or not all(parts):
        raise LookupError(f"{path!r} does not name a phase; write it as SLUG/TRACK/PHASE, "
                          "e.g. ilsvrc2012/cls/test")
    slug, track_slug, phase_slug = parts
    challenge = get_challenge(slug)
    if challenge is None:
        raise LookupError(f"no challenge {slug!r}")
    track = get_track(challenge, track_slug)
    if track is None:
        raise LookupError(f"challenge {slug!r} has no track {track_slug!r}")
    phase = next((p for p in track.phases if p.slug == phase_slug), None)
    if phase is None:
        raise LookupError(f"track {slug}/{track_slug} has no phase {phase_slug!r}")
    return phase


def phase_status(phase: Phase, now: datetime | None = None) -> str:
    """'upcoming', 'open' or 'closed'."""
    now = now or utcnow()
    if now < phase.opens_at:
        return "upcoming"
    return "open" if phase.is_open(now) else "closed"


def select_phase(track: Track, phase_slug: str | None, now: datetime | None = None) -> Phase | None:
    """The named phase (None if the track has no such phase); without a name,
    the phase open now, else the one that closed last, else the first."""
    if phase_slug:
        return next((p for p in track.phases if p.slug == phase_slug), None)
    if not track.phases:
        return None
    now = now or utcnow()
    open_now = [p for p in track.phases if p.is_open(now)]
    if open_now:
        return open_now[0]
    closed = [p for p in track.phases if p.closes_at <= now]
    if closed:
        return max(closed, key=lambda p: p.closes_at)
    return track.phases[0]


def quota_text(phase: Phase) -> str:
    if phase.quota_period == "total":
        return f"{phase.quota_count} in total"
    return f"{phase.quota_count} per {phase.quota_period} (UTC)"


def sample_predictions(phase: Phase) -> bytes:
    """A public example prediction file for the phase.

    The organizers' sample when the bundle has one; otherwise a file in the
    right format that guesses the first classes for every image (it scores
    like chance). Never derived from the ground truth.
    """
    if phase.sample_blob is not None:
        return phase.sample_blob.data
    track = phase.track
    task = scoring.task_of(track)
    if task.parse_with_truth:
        return b""  # its lines name images of the ground truth's list: only the organizers' sample
    # The task's rehearsal file: a valid file of the phase's shape guessing the first classes.
    return task.rehearsal(max(track.guesses, 1), track.guesses, phase.images)
