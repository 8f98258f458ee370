"""Who may see which scores of a phase: the one place that decides.

- public: everyone sees every team's scores.
- after-close: everyone sees them once the phase has closed; before that a
  team's members see their own team's scores (on their submission pages) and
  organizers see everything.
- hidden: organizers only; team members see their submissions' status, not scores.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum

from challenge.models import Phase, User, utcnow


class Sight(Enum):
    ALL = "all"  # every team's scores: the leaderboard
    OWN_TEAM = "own-team"  # only the viewer's own team's scores
    NONE = "none"  # statuses only


def scores_sight(phase: Phase, viewer: User | None, now: datetime | None = None) -> Sight:
    """What ``viewer`` (None: anonymous) may see of ``phase``'s scores at ``now``."""
    now = now or utcnow()
    if viewer is not None and viewer.is_organizer:
        return Sight.ALL
    if phase.leaderboard == "public":
        return Sight.ALL
    if phase.leaderboard == "after-close":
        if now >= phase.closes_at:
            return Sight.ALL
        return Sight.OWN_TEAM if viewer is not None else Sight.NONE
    return Sight.NONE


def board_visible(phase: Phase, viewer: User | None, now: datetime | None = None) -> bool:
    """May ``viewer`` see the phase's leaderboard (every team's best scores)?"""
    return scores_sight(phase, viewer, now) is Sight.ALL


def may_see_scores_of(phase: Phase, viewer: User | None, team_id: int,
                      now: datetime | None = None) -> bool:
    """May ``viewer`` see the scores of team ``team_id``'s submissions to ``phase``?"""
    sight = scores_sight(phase, viewer, now)
    if sight is Sight.ALL:
        return True
    if sight is Sight.OWN_TEAM and viewer is not None:
        return any(m.team_id == team_id for m in viewer.memberships)
    return False


def explain(phase: Phase, viewer: User | None, now: datetime | None = None) -> str:
    """Why the leaderboard is not shown, in words for the page ('' when it is)."""
    if board_visible(phase, viewer, now):
        return ""
    if phase.leaderboard == "after-close":
        return (f"Scores are published when the phase closes "
                f"({phase.closes_at.strftime('%Y-%m-%d %H:%M')} UTC).")
    return "This phase's leaderboard is hidden; only the organizers see the scores."
