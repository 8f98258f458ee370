"""Moderation: organizers hide or disqualify a submission or a whole team, with a reason.

- ``hidden``: kept off the public boards (e.g. a test upload, a duplicate account's entry).
- ``disqualified``: kept off the public boards for breaking the rules.

Either way the submission still counts against its team's quota (its slot is not given
back) and the team sees the state and the reason on its submission and team pages. Every
change, including the undo, is written to the audit log in the same transaction, and the
affected phases' board versions are bumped by the commit (``leaderboards.cache``).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, select

from challenge import audit
from challenge.extensions import db
from challenge.models import Phase, Submission, Team, Track, User

#: Moderation states; "" is "not moderated".
STATES = ("hidden", "disqualified")
MAX_REASON = 2000
FIELDS = ("moderation", "moderation_reason")


class ModerationError(Exception):
    """A refused moderation request; ``message`` names what is wrong."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def listed() -> ColumnElement[bool]:
    """SQL condition: the submission and its team are on the public boards.

    For queries that join ``Submission`` and ``Team``."""
    return and_(Submission.moderation == "", Team.moderation == "")


def _check(state: str, reason: str) -> tuple[str, str]:
    state, reason = state.strip(), reason.strip()
    if state not in ("", *STATES):
        raise ModerationError(f"state: {state!r} is not one of hidden | disqualified | (empty to restore)")
    if len(reason) > MAX_REASON:
        raise ModerationError(f"reason: at most {MAX_REASON} characters (got {len(reason)})")
    if state and not reason:
        # The team is shown the reason; an unexplained disqualification helps nobody.
        raise ModerationError(f"reason: say why the entry is {state} (the team is shown it)")
    return state, reason


def _verb(state: str) -> str:
    return {"hidden": "hide", "disqualified": "disqualify", "": "restore"}[state]


def moderate_submission(actor: User | None, submission: Submission, state: str, reason: str) -> Submission:
    """Set (or with ``state=""`` undo) a submission's moderation; audited, committed.

    Raises ModerationError (nothing changed) for a bad state or a missing reason."""
    state, reason = _check(state, reason)
    before = audit.snapshot(submission, FIELDS)
    submission.moderation = state
    submission.moderation_reason = reason if state else ""
    audit.record(actor, f"submission.{_verb(state)}", f"submission:{submission.id}",
                 challenge_id=submission.phase.track.challenge_id, before=before,
                 after=audit.snapshot(submission, FIELDS), note=reason)
    db.session.commit()  # bumps the phase's board version (leaderboards.cache)
    return submission


def moderate_team(actor: User | None, team: Team, state: str, reason: str) -> Team:
    """Set (or undo) a whole team's moderation: all its entries leave (or return to) the boards."""
    state, reason = _check(state, reason)
    if team.is_reference and state == "disqualified":
        raise ModerationError("state: a reference entry cannot be disqualified; hide it instead")
    before = audit.snapshot(team, FIELDS)
    team.moderation = state
    team.moderation_reason = reason if state else ""
    audit.record(actor, f"team.{_verb(state)}", f"team:{team.id}", challenge_id=team.challenge_id,
                 before=before, after=audit.snapshot(team, FIELDS), note=reason)
    db.session.commit()  # bumps the board versions of the challenge's phases
    return team


def moderated_submissions(challenge_id: int | None = None) -> list[Submission]:
    """Every hidden or disqualified submission (newest first), optionally of one challenge."""
    query = select(Submission).where(Submission.moderation != "")
    if challenge_id is not None:
        query = query.join(Phase).join(Track).where(Track.challenge_id == challenge_id)
    return list(db.session.scalars(query.order_by(Submission.id.desc())))


def moderated_teams(challenge_id: int | None = None) -> list[Team]:
    query = select(Team).where(Team.moderation != "")
    if challenge_id is not None:
        query = query.where(Team.challenge_id == challenge_id)
    return list(db.session.scalars(query.order_by(Team.id.desc())))
