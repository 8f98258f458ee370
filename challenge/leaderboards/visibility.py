"""Who may see which scores of a phase: the one place that decides.

The phase's ``leaderboard`` rule says who sees scores at all:

- public: everyone sees every team's scores.
- after-close: everyone sees them once the phase has closed; before that a
  team's members see their own team's scores (on their submission pages).
- hidden: nobody but the organizers; teams see their submissions' status only.

Organizers always see everything, live: site admins on every challenge, a host on the
challenges they host (``User.manages``), nobody else anywhere. On top of the rule:

- Split phases (``splits.is_split``) have a public board, scored on the public
  images only, and a private board on the rest. Private and whole-set numbers
  stay hidden from everyone but organizers until the phase has closed and an
  organizer has published the private board; before that, teams and the public
  see public-image numbers only.
- Freeze: after ``frozen_at`` the public board stops changing for everyone but
  organizers: it shows only submissions uploaded before the freeze, and other
  teams' later scores are hidden everywhere (a team still sees its own). The
  freeze ends when the final results are out (the phase closed, and for a split
  phase its private board published).

``score_sight`` (one score) and ``board_sight`` (a phase's boards) are the
decisions; every page, export and API route asks them (directly or through
``visible_scores``, ``board_visible`` and ``may_see_scores_of``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from challenge import splits
from challenge.models import Phase, Score, Submission, User, utcnow

BOARDS = ("public", "private")


class Sight(Enum):
    ALL = "all"  # every team's scores: the leaderboard
    OWN_TEAM = "own-team"  # only the viewer's own team's scores
    NONE = "none"  # statuses only


def scores_sight(phase: Phase, viewer: User | None, now: datetime | None = None) -> Sight:
    """The phase's ``leaderboard`` rule alone: whose scores ``viewer`` may see at ``now``."""
    now = now or utcnow()
    if _organizer(viewer, phase):
        return Sight.ALL
    if phase.leaderboard == "public":
        return Sight.ALL
    if phase.leaderboard == "after-close":
        if now >= phase.closes_at:
            return Sight.ALL
        return Sight.OWN_TEAM if viewer is not None else Sight.NONE
    return Sight.NONE


def revealed(phase: Phase, now: datetime | None = None) -> bool:
    """Are the final results out: closed, and for a split phase, its private board published?"""
    now = now or utcnow()
    if now < phase.closes_at:
        return False
    return not splits.is_split(phase) or (
        phase.private_published_at is not None and phase.private_published_at <= now)


def frozen(phase: Phase, now: datetime | None = None) -> bool:
    """Is the phase's public board frozen for non-organizers at ``now``?"""
    now = now or utcnow()
    return phase.frozen_at is not None and now >= phase.frozen_at and not revealed(phase, now)


def _organizer(viewer: User | None, phase: Phase | None = None, challenge_id: int | None = None) -> bool:
    """A site admin, or a host of the phase's (or ``challenge_id``'s) challenge."""
    if viewer is None:
        return False
    if viewer.is_site_admin:
        return True
    if phase is not None:
        challenge_id = phase.track.challenge_id
    return viewer.manages(challenge_id)


def _member(viewer: User | None, team_id: int) -> bool:
    return viewer is not None and any(m.team_id == team_id for m in viewer.memberships)


def sees_moderated(viewer: User | None, team_id: int, challenge_id: int | None = None) -> bool:
    """May ``viewer`` see team ``team_id``'s hidden or disqualified entries (challenge.moderation)?
    Organizers (of ``challenge_id``, the team's challenge) and the team itself do; everyone else
    sees them gone, as on the boards."""
    return _organizer(viewer, challenge_id=challenge_id) or _member(viewer, team_id)


@dataclass(frozen=True)
class BoardSight:
    """What a viewer may see of a phase's leaderboards."""

    public: bool  # the public board (an unsplit phase's only board)
    private: bool  # the private board (split phases only)
    live: bool  # False: the public board as it stood at the freeze

    @property
    def boards(self) -> tuple[str, ...]:
        return tuple(b for b in BOARDS if getattr(self, b))


def board_sight(phase: Phase, viewer: User | None, now: datetime | None = None) -> BoardSight:
    now = now or utcnow()
    if _organizer(viewer, phase):
        return BoardSight(public=True, private=splits.is_split(phase), live=True)
    everyone = scores_sight(phase, viewer, now) is Sight.ALL
    return BoardSight(public=everyone,
                      private=everyone and splits.is_split(phase) and revealed(phase, now),
                      live=not frozen(phase, now))


@dataclass(frozen=True)
class ScoreSight:
    """What a viewer may see of one submission's score."""

    full: bool  # the headline numbers, on every image
    public: bool  # the public-image numbers (split phases)
    private: bool  # the private-image numbers (split phases)

    @property
    def anything(self) -> bool:
        return self.full or self.public or self.private


NOTHING = ScoreSight(False, False, False)


def score_sight(phase: Phase, viewer: User | None, team_id: int, created_at: datetime | None,
                now: datetime | None = None) -> ScoreSight:
    """What ``viewer`` (None: anonymous) may see at ``now`` of the score of team ``team_id``'s
    submission uploaded at ``created_at`` (None: unknown, treated as after any freeze)."""
    now = now or utcnow()
    is_split = splits.is_split(phase)
    if _organizer(viewer, phase):
        return ScoreSight(full=True, public=is_split, private=is_split)
    member = _member(viewer, team_id)
    sight = scores_sight(phase, viewer, now)
    if not (sight is Sight.ALL or (sight is Sight.OWN_TEAM and member)):
        return NOTHING
    after_freeze = phase.frozen_at is not None and (created_at is None or created_at >= phase.frozen_at)
    current = member or not (after_freeze and frozen(phase, now))
    if not is_split:
        return ScoreSight(full=current, public=False, private=False)
    final = revealed(phase, now)
    return ScoreSight(full=final, public=current or final, private=final)


def board_visible(phase: Phase, viewer: User | None, now: datetime | None = None) -> bool:
    """May ``viewer`` see the phase's public leaderboard (every team's best public scores)?"""
    return board_sight(phase, viewer, now).public


def may_see_scores_of(phase: Phase, viewer: User | None, team_id: int,
                      now: datetime | None = None, created_at: datetime | None = None) -> bool:
    """May ``viewer`` see the headline (whole test set) scores of team ``team_id``'s
    submission to ``phase``? For split phases that waits for the published private board;
    ``visible_scores`` gives the public-image numbers a team may see before."""
    return score_sight(phase, viewer, team_id, created_at, now).full


@dataclass(frozen=True)
class ScoreView:
    """One set of numbers of a score that a viewer may see."""

    subset: str  # "all" (every image), "public" or "private"
    label: str  # for the page
    error: float | None
    error_at_k: list[float | None]
    cls_error: float | None
    cls_error_at_k: list[float] | None
    ci_low: float | None
    ci_high: float | None
    images: int | None  # None on subsets: how many images are public is not shown

    def to_json(self) -> dict[str, Any]:
        row: dict[str, Any] = {"subset": self.subset, "error": self.error,
                               "error_at_k": self.error_at_k, "ci95": [self.ci_low, self.ci_high]}
        if self.cls_error is not None:
            row["cls_error"], row["cls_error_at_k"] = self.cls_error, self.cls_error_at_k
        return row


LABELS = {"all": "All test images", "public": "Public leaderboard images",
          "private": "Private leaderboard images"}


def _view(subset: str, numbers: dict[str, Any]) -> ScoreView:
    low, high = numbers["ci95"]
    return ScoreView(subset=subset, label=LABELS[subset], error=numbers["error"],
                     error_at_k=list(numbers["error_at_k"]), cls_error=numbers.get("cls_error"),
                     cls_error_at_k=numbers.get("cls_error_at_k"), ci_low=low, ci_high=high,
                     images=None)


def visible_scores(submission: Submission, viewer: User | None,
                   now: datetime | None = None) -> list[ScoreView]:
    """The numbers of ``submission``'s score that ``viewer`` may see, in page order
    (public, private, all images); empty when none (or not scored).

    The caller must already know that ``viewer`` may see the submission itself."""
    score: Score | None = submission.score if submission.status == "scored" else None
    if score is None:
        return []
    phase = submission.phase
    sight = score_sight(phase, viewer, submission.team_id, submission.created_at, now)
    views: list[ScoreView] = []
    subsets = splits.scores_of(phase, score) if (sight.public or sight.private) else None
    if subsets is not None:
        views += [_view(name, subsets[name]) for name in splits.SUBSETS if getattr(sight, name)]
    if sight.full:
        views.append(ScoreView(
            subset="all", label=LABELS["all"], error=score.error, error_at_k=list(score.error_at_k),
            cls_error=score.cls_error, cls_error_at_k=score.cls_error_at_k,
            ci_low=score.ci_low, ci_high=score.ci_high, images=score.images))
    return views


def explain(phase: Phase, viewer: User | None, now: datetime | None = None,
            board: str = "public") -> str:
    """Why ``board`` is not shown (or is frozen), in words for the page ('' when fully shown)."""
    now = now or utcnow()
    sight = board_sight(phase, viewer, now)
    if board == "private":
        if sight.private:
            return ""
        if not splits.is_split(phase):
            return "This phase has a single leaderboard."
        if phase.leaderboard == "hidden":
            return "This phase's leaderboard is hidden; only the organizers see the scores."
        if now < phase.closes_at:
            return (f"The private leaderboard is published after the phase closes "
                    f"({phase.closes_at.strftime('%Y-%m-%d %H:%M')} UTC).")
        return "The private leaderboard has not been published yet."
    if sight.public:
        return ""
    if phase.leaderboard == "after-close":
        return (f"Scores are published when the phase closes "
                f"({phase.closes_at.strftime('%Y-%m-%d %H:%M')} UTC).")
    return "This phase's leaderboard is hidden; only the organizers see the scores."


def freeze_note(phase: Phase, viewer: User | None, now: datetime | None = None) -> str:
    """A line for the page when the viewer sees the board as it stood at the freeze."""
    if board_sight(phase, viewer, now).live or phase.frozen_at is None:
        return ""
    return (f"The public leaderboard froze at {phase.frozen_at.strftime('%Y-%m-%d %H:%M')} UTC: "
            "it shows submissions uploaded before then.")
