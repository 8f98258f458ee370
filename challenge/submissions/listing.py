"""What a team's submission lists show of each row beyond its status: the score the viewer
may see, and the organizers' moderation marks.

The lists (the track page's recent uploads, /teams/<id>/submissions, the year page's
My submissions tab) ask ``visible_scores``, the one visibility decision: on a split phase
before the private board is published that is the public images' number, marked so; a
hidden board shows no number at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from challenge.leaderboards.visibility import sees_moderated, visible_scores
from challenge.models import Submission, User


@dataclass(frozen=True)
class ShownScore:
    error: float
    cls_error: float | None
    subset: str  # "all" (every test image) or "public" (a split phase's public images only)


def shown_score(submission: Submission, viewer: User | None) -> ShownScore | None:
    """The headline error ``viewer`` may see for ``submission`` (None: not scored, or not shown).

    The caller must already know that ``viewer`` may see the submission itself."""
    views = {v.subset: v for v in visible_scores(submission, viewer)}
    view = views.get("all") or views.get("public")
    if view is None or view.error is None:
        return None
    return ShownScore(error=view.error, cls_error=view.cls_error, subset=view.subset)


@dataclass(frozen=True)
class Mark:
    """One moderation mark: ``state`` is 'hidden' or 'disqualified'; ``what`` says whether
    it is the submission's own or its whole team's."""

    state: str
    what: str  # "submission" or "team"
    reason: str


def marks(submission: Submission, viewer: User | None) -> list[Mark]:
    """The organizers' marks on ``submission`` that ``viewer`` (its team, an organizer) sees."""
    if not sees_moderated(viewer, submission.team_id):
        return []
    found = []
    if submission.moderation:
        found.append(Mark(submission.moderation, "submission", submission.moderation_reason))
    if submission.team.moderation:
        found.append(Mark(submission.team.moderation, "team", submission.team.moderation_reason))
    return found
