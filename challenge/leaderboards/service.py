"""Leaderboards: each team's best scored submission in a phase, ranked.

Lower error is better. Equal headline errors share a rank (1, 2, 2, 4); within
a team, the best error wins and the earlier upload breaks a tie, so resubmitting
the same file never moves a team.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from challenge.extensions import db
from challenge.leaderboards.visibility import board_visible
from challenge.models import Phase, Score, Submission, Team, User


@dataclass(frozen=True)
class Entry:
    rank: int
    team_id: int
    team: str
    submission_id: int
    method: str
    submitted_at: datetime
    error: float
    error_at_k: list[float]
    cls_error: float | None
    ci_low: float
    ci_high: float


def _best_per_team(phase: Phase) -> list[tuple[Submission, Score, Team]]:
    rows = db.session.execute(
        select(Submission, Score, Team)
        .join(Score, Score.submission_id == Submission.id)
        .join(Team, Team.id == Submission.team_id)
        .where(Submission.phase_id == phase.id, Submission.status == "scored")
        .order_by(Score.error, Submission.created_at, Submission.id)
    )
    best: dict[int, tuple[Submission, Score, Team]] = {}
    for submission, score, team in rows:
        best.setdefault(team.id, (submission, score, team))  # rows come best first
    return list(best.values())


def ranked(phase: Phase) -> list[Entry]:
    """Every team's best entry, ranked, regardless of who is looking."""
    entries: list[Entry] = []
    previous: float | None = None
    rank = 0
    for position, (submission, score, team) in enumerate(_best_per_team(phase), 1):
        if score.error != previous:
            rank, previous = position, score.error
        entries.append(Entry(
            rank=rank, team_id=team.id, team=team.name, submission_id=submission.id,
            method=submission.method, submitted_at=submission.created_at, error=score.error,
            error_at_k=list(score.error_at_k), cls_error=score.cls_error,
            ci_low=score.ci_low, ci_high=score.ci_high,
        ))
    return entries


def leaderboard(phase: Phase, viewer: User | None, now: datetime | None = None) -> list[Entry]:
    """The entries ``viewer`` may see: all of them, or none while the board is not visible."""
    if not board_visible(phase, viewer, now):
        return []
    return ranked(phase)
