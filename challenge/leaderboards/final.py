"""A year's final results: every board the public may see, written once into one record.

ILSVRC announced its results at the end of each year and never changed them; the live
boards can still move afterwards (a rescore, a disqualification), so the announced
results are a snapshot, not a view. Publishing waits until every phase has closed and
every split phase's private board is public, so the record is the whole answer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from challenge import audit, notify, splits
from challenge.challenges.service import phase_path
from challenge.extensions import db
from challenge.leaderboards import export
from challenge.leaderboards.real import real_columns
from challenge.leaderboards.service import board_names, leaderboard, rankings
from challenge.leaderboards.visibility import board_sight, explain
from challenge.models import Challenge, FinalResults, User, utcnow

BOARD_TITLES = {"public": "Leaderboard", "private": "Private leaderboard"}
RANKING_TITLES = {"all": "all entries", "provided": "provided data only",
                  "categories": "by categories won"}


class ResultsError(Exception):
    """Publishing refused; the message says why (nothing changed)."""


def results_of(challenge: Challenge) -> FinalResults | None:
    return db.session.scalar(select(FinalResults).where(FinalResults.challenge_id == challenge.id))


def not_ready(challenge: Challenge, now: datetime) -> list[str]:
    """Why the year's results cannot be final yet (empty when they can)."""
    reasons: list[str] = []
    for track in challenge.tracks:
        for phase in track.phases:
            name = phase_path(phase)
            if now < phase.closes_at:
                reasons.append(f"{name} is open until {phase.closes_at:%Y-%m-%d %H:%M} UTC")
            elif splits.is_split(phase) and phase.private_published_at is None:
                reasons.append(f"{name}'s private leaderboard is not published yet "
                               f"(challenge phases publish {name})")
    return reasons


def snapshot(challenge: Challenge, now: datetime) -> dict[str, Any]:
    """Every board of every phase as an anonymous visitor sees it at ``now``."""
    boards: list[dict[str, Any]] = []
    withheld: list[dict[str, str]] = []
    for track in challenge.tracks:
        for phase in track.phases:
            where = {"track": track.slug, "track_title": track.title, "task": track.task,
                     "phase": phase.slug, "phase_title": phase.title or phase.slug}
            sight = board_sight(phase, None, now)
            for board in board_names(phase):
                if not getattr(sight, board):
                    withheld.append({**where, "board": board, "reason": explain(phase, None, now, board)})
                    continue
                for ranking in rankings(phase):
                    entries = leaderboard(phase, None, now, board, ranking)
                    boards.append({**where, "board": board, "ranking": ranking,
                                   "title": f"{BOARD_TITLES[board]}, {RANKING_TITLES[ranking]}",
                                   "entries": export.rows(entries, track, real_columns(phase))})
    return {"boards": boards, "withheld": withheld}


def publish(actor: User | None, challenge: Challenge, now: datetime | None = None) -> FinalResults:
    """Write the year's final results once; commits with its audit entry."""
    now = now or utcnow()
    existing = results_of(challenge)
    if existing is not None:
        raise ResultsError(f"the final results of {challenge.slug} were published at "
                           f"{existing.published_at:%Y-%m-%d %H:%M} UTC and cannot change")
    reasons = not_ready(challenge, now)
    if reasons:
        raise ResultsError("not yet: " + "; ".join(reasons))
    data = snapshot(challenge, now)
    results = FinalResults(challenge_id=challenge.id, published_at=now,
                           published_by_id=actor.id if actor is not None else None, data=data)
    db.session.add(results)
    audit.record(actor, "challenge.publish_results", f"challenge:{challenge.id}", challenge_id=challenge.id,
                 after={"published_at": now.isoformat(), "boards": len(data["boards"])},
                 note=f"final results of {challenge.title}")
    db.session.commit()
    # E-mail the participants (challenge.notify: a worker job; never raises).
    notify.queue_results_published(challenge)
    return results
