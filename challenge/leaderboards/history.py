"""History across years: the winning error of each year and track of a series,
and one team's scored submissions over time.

A series is the challenges whose slugs are equal once the year is taken out
("ilsvrc2010", "ilsvrc2012" -> "ilsvrc"; "ilsvrc2012-demo" -> "ilsvrc-demo"),
so no new column is needed and a bundle names its series by its slug.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from challenge import scoring
from challenge.challenges.service import all_challenges, select_phase
from challenge.extensions import db
from challenge.leaderboards.service import leaderboard
from challenge.leaderboards.visibility import (
    board_sight,
    board_visible,
    explain,
    sees_moderated,
    visible_scores,
)
from challenge.models import Challenge, Phase, Score, Submission, Team, Track, User


def series_of(challenge: Challenge) -> str:
    """The series slug: the challenge's slug without its year."""
    stripped = challenge.slug.replace(str(challenge.year), "", 1)
    stripped = re.sub(r"[-_.]{2,}", "-", stripped).strip("-_.")
    return stripped or challenge.slug


def series_title(challenge: Challenge) -> str:
    return challenge.title.replace(str(challenge.year), "").strip(" -·:") or challenge.title


@dataclass(frozen=True)
class Winner:
    """The best visible headline error of one year's track (its default phase)."""

    year: int
    challenge_slug: str
    track_slug: str
    track_title: str
    task: str
    phase_slug: str
    error: float
    team: str


@dataclass(frozen=True)
class Series:
    slug: str
    title: str
    challenges: list[Challenge]  # oldest first
    winners: list[Winner]  # by year, then track position


def _best(phase: Phase, viewer: User | None) -> tuple[float, str] | None:
    """The top of the most final board ``viewer`` may see: the private board of a split
    phase once published, else the public one (as frozen, if it is)."""
    sight = board_sight(phase, viewer)
    board = "private" if sight.private else "public"
    entries = [e for e in leaderboard(phase, viewer, board=board) if e.rank is not None]
    return None if not entries else (float(entries[0].error), entries[0].team)


def _winner(challenge: Challenge, track: Track, viewer: User | None) -> Winner | None:
    # The phase a track's page shows by default: the open one, else the last to close
    # (the final test phase of a past year).
    phase = select_phase(track, None)
    if phase is None or not board_visible(phase, viewer):
        return None
    best = _best(phase, viewer)
    if best is None:
        return None
    return Winner(year=challenge.year, challenge_slug=challenge.slug, track_slug=track.slug,
                  track_title=track.title, task=track.task, phase_slug=phase.slug,
                  error=best[0], team=best[1])


def all_series(viewer: User | None) -> list[Series]:
    """Every series with its winners as ``viewer`` may see them, by name."""
    grouped: dict[str, list[Challenge]] = {}
    for challenge in sorted(all_challenges(), key=lambda c: (c.year, c.slug)):
        grouped.setdefault(series_of(challenge), []).append(challenge)
    out: list[Series] = []
    for slug, challenges in sorted(grouped.items()):
        winners = [w for c in challenges for t in c.tracks if (w := _winner(c, t, viewer))]
        out.append(Series(slug=slug, title=series_title(challenges[-1]), challenges=challenges,
                          winners=winners))
    return out


def get_series(slug: str, viewer: User | None) -> Series | None:
    return next((s for s in all_series(viewer) if s.slug == slug), None)


@dataclass(frozen=True)
class HistoryRow:
    submission_id: int
    created_at: datetime
    track: Track
    phase: Phase
    method: str
    error: float
    top1: float | None
    cls_error: float | None
    subset: str = "all"  # "public": a split phase's public-image numbers (the rest not yet shown)

    @property
    def measure(self) -> str:
        """What ``error`` is on this track ("top-k error", "mean AP", ...: its task's headline)."""
        return scoring.task_of(self.track).headline_for(self.track.guesses)


@dataclass(frozen=True)
class TeamHistory:
    rows: list[HistoryRow]  # oldest first
    withheld: list[tuple[Phase, str]]  # phases whose scores the viewer may not see, and why


def team_history(team: Team, viewer: User | None) -> TeamHistory:
    """The team's scored submissions over time, only where ``viewer`` may see their scores."""
    result = db.session.execute(
        select(Submission, Score)
        .join(Score, Score.submission_id == Submission.id)
        .where(Submission.team_id == team.id, Submission.status == "scored")
        .order_by(Submission.created_at, Submission.id)
    )
    rows: list[HistoryRow] = []
    withheld: dict[int, tuple[Phase, str]] = {}
    # Hidden or disqualified entries are off the public boards, so off the public history too.
    insider = sees_moderated(viewer, team.id, team.challenge_id)
    for submission, _score in result:
        if not insider and (team.moderation or submission.moderation):
            continue
        phase = submission.phase
        views = {v.subset: v for v in visible_scores(submission, viewer)}
        view = views.get("all") or views.get("public")
        if view is None or view.error is None:
            withheld.setdefault(phase.id, (phase, explain(phase, viewer) or
                                           "Some scores are not shown (the leaderboard is frozen)."))
            continue
        rows.append(HistoryRow(
            submission_id=submission.id, created_at=submission.created_at, track=phase.track,
            phase=phase, method=submission.method, error=view.error,
            top1=view.error_at_k[0] if view.error_at_k else None, cls_error=view.cls_error,
            subset=view.subset,
        ))
    return TeamHistory(rows=rows, withheld=list(withheld.values()))
