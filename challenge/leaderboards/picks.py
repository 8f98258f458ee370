"""Final picks: the submissions a team marks as final for the private ranking.

Each team may mark up to ``phase.final_picks`` submissions of a phase, and change
its mind until the phase closes. The private board ranks each team's best
private score among its marked picks; a team that marks none is ranked on its
``final_picks`` best submissions by public error (``service._picks``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from challenge import splits
from challenge.extensions import db
from challenge.models import Phase, Submission, Team, User, utcnow


class PickError(Exception):
    """A refused pick; ``message`` is for the competitor, ``status`` the HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def marked(phase: Phase, team_id: int) -> list[Submission]:
    """The team's submissions marked final in ``phase``, oldest first."""
    return list(db.session.scalars(
        select(Submission).where(Submission.phase_id == phase.id, Submission.team_id == team_id,
                                 Submission.final.is_(True))
        .order_by(Submission.created_at, Submission.id)))


def can_pick(user: User | None, submission: Submission, now: datetime | None = None) -> bool:
    """May ``user`` mark or unmark ``submission`` now (a member of its team, phase still open)?"""
    return (user is not None and any(m.user_id == user.id for m in submission.team.memberships)
            and (now or utcnow()) < submission.phase.closes_at)


def set_final(user: User, submission: Submission, final: bool, now: datetime | None = None) -> None:
    """Mark (``final=True``) or unmark one of the team's final picks; commits.

    Raises PickError (nothing changed): 403 not on the team, 409 phase closed, a failed
    submission, or the team's picks are full."""
    now = now or utcnow()
    phase = submission.phase
    if not any(m.user_id == user.id for m in submission.team.memberships):
        raise PickError(403, "only the submitting team's members choose its final picks")
    if now >= phase.closes_at:
        raise PickError(409, f"final picks could be changed until the phase closed "
                             f"({phase.closes_at.strftime('%Y-%m-%d %H:%M')} UTC)")
    if submission.final == final:
        return
    if final:
        if submission.status == "failed":
            raise PickError(409, "a submission that failed to score cannot be a final pick")
        # Lock the team's row (PostgreSQL) so two members marking at once cannot both take
        # the last pick.
        db.session.execute(select(Team.id).where(Team.id == submission.team_id).with_for_update())
        already = marked(phase, submission.team_id)
        if len(already) >= phase.final_picks:
            ids = ", ".join(str(s.id) for s in already)
            raise PickError(409, f"your team has already marked {len(already)} final submission(s) "
                                 f"(the limit is {phase.final_picks}): {ids}; unmark one first")
    submission.final = final
    db.session.commit()


def pick_state(submission: Submission) -> dict[str, int | bool] | None:
    """For the submission page: is it a final pick, how many the team marked, the limit;
    None when the phase has no private board (picks do not matter there)."""
    phase = submission.phase
    if not splits.is_split(phase):
        return None
    return {"final": submission.final, "marked": len(marked(phase, submission.team_id)),
            "limit": phase.final_picks}
