"""Teams: who is on which team, and the rules for changing that.

A user is on at most one team per challenge; the database enforces it with a
unique (user_id, challenge_id) on Membership, and these functions turn a
collision into a message a person can act on.

The quota follows people (challenge.quota): a person's uploads count for whichever
team they are on. So that nobody escapes their count by changing teams, **a person
with a counted upload in a phase of the challenge that is open now cannot leave
their team, be removed from it, or join or create another team in that challenge**;
once every phase they uploaded to has closed they may. An organizer can still move
them (``move_member``, audited), and their uploads go with them. Every change
first locks the people involved and then the teams involved (each in id order, the
order the upload path's team lock fits into), so a quota count never sees half a
change.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ParamSpec, TypeVar

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from challenge import audit, quota
from challenge.extensions import db
from challenge.models import Challenge, Membership, Phase, Submission, Team, User, utcnow

MAX_NAME = 100
P = ParamSpec("P")
R = TypeVar("R")


class TeamError(Exception):
    """A team change that cannot be done; the message is for the user. ``field``: the form
    input the refusal is about ("name", "invite_code"), so a page can show it there; None
    when it is about the person or the challenge rather than what they typed."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def team_for(user_id: int, challenge_id: int) -> Team | None:
    """The user's team in a challenge (a user is on at most one per challenge)."""
    return db.session.scalar(
        select(Team).join(Membership).where(
            Membership.user_id == user_id, Membership.challenge_id == challenge_id
        )
    )


def memberships_of(user: User) -> list[Membership]:
    """The user's memberships, newest challenge first."""
    return list(
        db.session.scalars(
            select(Membership)
            .join(Challenge, Membership.challenge_id == Challenge.id)
            .where(Membership.user_id == user.id)
            .order_by(Challenge.year.desc(), Challenge.slug)
        )
    )


def closed_since(challenge: Challenge, now: datetime | None = None) -> datetime | None:
    """When the challenge's last phase closed; None while any phase is open or to come
    (or it has no phase yet: an organizer is still setting it up)."""
    ends = [p.closes_at for t in challenge.tracks for p in t.phases]
    last = max(ends) if ends else None
    return last if last is not None and last <= (now or utcnow()) else None


def challenges_without_team(user: User, now: datetime | None = None) -> list[Challenge]:
    """Challenges the user could still create or join a team for, newest first: not
    those the user is on a team for, and not closed ones (nothing is left to submit)."""
    mine = select(Membership.challenge_id).where(Membership.user_id == user.id)
    found = db.session.scalars(
        select(Challenge).where(Challenge.id.not_in(mine)).order_by(Challenge.year.desc(), Challenge.slug))
    return [c for c in found if closed_since(c, now) is None]


def is_member(user: User, team: Team) -> bool:
    return any(m.user_id == user.id for m in team.memberships)


def captain_of(team: Team) -> User | None:
    return next((m.user for m in team.memberships if m.is_captain), None)


def _change(func: Callable[P, R]) -> Callable[P, R]:
    """A team change: a refusal (or any error) rolls back, releasing the locks it took."""
    @functools.wraps(func)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except BaseException:
            db.session.rollback()
            raise
    return wrapped


def _lock_people(user_ids: Iterable[int], team_ids: Iterable[int] = ()) -> None:
    """Serialize team changes of these users (and uploads to these teams) across
    concurrent requests.

    Takes a write lock before the checks read anything: on PostgreSQL a row lock
    on each user (in id order, so two requests cannot deadlock); on SQLite the
    database's write lock, which must come first because a transaction that
    read and then tries to write after another writer committed fails with
    'database is locked' instead of waiting. Then the teams' rows, as an upload
    does before counting its team's quota (``quota.lock_teams``).
    """
    db.session.commit()  # end the read-only transaction the request may hold (nothing pending)
    for user_id in sorted(set(user_ids)):
        db.session.execute(
            update(User).where(User.id == user_id).values(is_organizer=User.is_organizer),
            execution_options={"synchronize_session": False},
        )
    _lock_teams(team_ids)


def _lock_teams(team_ids: Iterable[int]) -> None:
    """Lock the teams' rows (after the people's), then read everything afresh: the
    objects in the session may predate a change that committed while we waited."""
    quota.lock_teams(team_ids)
    db.session.expire_all()


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M UTC")


def _uploaded(user: User, challenge: Challenge, now: datetime) -> str | None:
    """Where the user made a counted upload in a phase of the challenge open now (for a
    message), or None: then they may change teams."""
    phases = quota.open_phases_uploaded_to(user.id, challenge.id, now)
    if not phases:
        return None
    names = ", ".join(f"{p.track.slug}/{p.slug}" for p in phases)
    return f"{names}, open until {_stamp(max(p.closes_at for p in phases))}"


def _stuck(user: User, challenge: Challenge, now: datetime, what: str, *,
           you: bool = False) -> TeamError | None:
    """The refusal of ``what`` (a team change) for a person with uploads in an open phase;
    ``you``: the message speaks to that person."""
    where = _uploaded(user, challenge, now)
    if where is None:
        return None
    if you:
        return TeamError(
            f"{what}: you have uploaded to a phase of {challenge.title} that is still open ({where}). "
            "Your uploads count against the quota of whichever team you are on, so you cannot change "
            "teams until the phases you uploaded to have closed. If you must, ask an organizer: "
            "they can move you to another team (your uploads go with you)")
    return TeamError(
        f"{what}: {user.email} has uploaded to a phase of {challenge.title} that is still open ({where}). "
        "Their uploads count against the quota of whichever team they are on, so they cannot change "
        "teams until the phases they uploaded to have closed; an organizer can move them to another "
        "team (their uploads go with them)")


def _already_on_team(user: User, challenge: Challenge) -> TeamError | None:
    team = team_for(user.id, challenge.id)
    if team is None:
        return None
    return TeamError(f"{user.email} is already on the team '{team.name}' in {challenge.title}; "
                     "a user can be on one team per challenge")


@_change
def create_team(challenge: Challenge, name: str, members: Sequence[User], *,
                now: datetime | None = None) -> Team:
    """Create and commit a team; the first member is its captain."""
    name = " ".join(name.split())
    if not name:
        raise TeamError("a team needs a name", "name")
    if len(name) > MAX_NAME:
        raise TeamError(f"team names are at most {MAX_NAME} characters", "name")
    if not members:
        raise TeamError("a team needs at least one member")
    if len({u.id for u in members}) != len(members):
        raise TeamError("a member is listed twice")
    _lock_people(u.id for u in members)
    for user in members:
        if (error := _already_on_team(user, challenge)) is not None:
            raise error
    for user in members:
        if (error := _stuck(user, challenge, now or utcnow(), "the team cannot be created")) is not None:
            raise error
    if _name_taken(challenge, name):
        raise TeamError(f"a team named '{name}' already exists in {challenge.title}", "name")
    team = Team(challenge=challenge, name=name, invite_code=secrets.token_urlsafe(12))
    for i, user in enumerate(members):
        team.memberships.append(Membership(user=user, challenge_id=challenge.id, is_captain=i == 0))
    db.session.add(team)
    try:
        db.session.commit()
    except IntegrityError:
        # A concurrent request won a race past the checks; ask them again to say which.
        db.session.rollback()
        for user in members:
            if (error := _already_on_team(user, challenge)) is not None:
                raise error from None
        raise TeamError(f"a team named '{name}' already exists in {challenge.title}", "name") from None
    return team


def _name_taken(challenge: Challenge, name: str) -> bool:
    return db.session.scalar(
        select(func.count()).select_from(Team).where(
            Team.challenge_id == challenge.id, func.lower(Team.name) == name.lower()
        )
    ) > 0


@_change
def join_team(user: User, invite_code: str, challenge: Challenge | None = None, *,
              now: datetime | None = None) -> Team:
    """Join the team with this invite code (in ``challenge``, when given) and commit."""
    code = invite_code.strip()
    _lock_people([user.id])
    team = db.session.scalar(select(Team).where(Team.invite_code == code)) if code else None
    if team is None or team.is_reference:
        raise TeamError("no team has that invite code; ask your captain for it again", "invite_code")
    if challenge is not None and team.challenge_id != challenge.id:
        raise TeamError(f"that invite code is for a team in {team.challenge.title}, not {challenge.title}",
                        "invite_code")
    _lock_teams([team.id])
    if (error := _already_on_team(user, team.challenge)) is not None:
        raise error
    if (error := _stuck(user, team.challenge, now or utcnow(), f"you cannot join '{team.name}'",
                        you=True)) is not None:
        raise error
    db.session.add(Membership(team=team, user=user, challenge_id=team.challenge_id,
                              is_captain=not team.memberships))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise _already_on_team(user, team.challenge) or TeamError("could not join; try again") from None
    return team


@_change
def remove_member(actor: User, team: Team, user_id: int, *, now: datetime | None = None) -> User:
    """The captain (or an organizer) removes someone else from the team. Returns who.

    Refused while the member has uploads in an open phase (an organizer moves them
    instead, with ``move_member``)."""
    _lock_people([user_id], [team.id])
    captain = captain_of(team)
    if not actor.manages(team.challenge_id) and (captain is None or captain.id != actor.id):
        raise TeamError("only the team's captain can remove members")
    if user_id == actor.id:
        raise TeamError("you cannot remove yourself; use 'Leave team' instead")
    membership = next((m for m in team.memberships if m.user_id == user_id), None)
    if membership is None:
        raise TeamError("that person is not on this team")
    if membership.is_captain:
        raise TeamError("the captain cannot be removed")
    removed = membership.user
    if (error := _stuck(removed, team.challenge, now or utcnow(),
                        f"{removed.name} cannot be removed from '{team.name}'")) is not None:
        raise error
    team.memberships.remove(membership)
    db.session.commit()
    return removed


@_change
def leave_team(user: User, team: Team, *, now: datetime | None = None) -> None:
    """Leave the team. A leaving captain hands over to the longest-standing member.

    Refused while the user has uploads in a phase of the challenge that is open.
    An emptied team is kept when it has submissions (they stay on the
    leaderboard under its name) and deleted otherwise.
    """
    _lock_people([user.id], [team.id])
    membership = next((m for m in team.memberships if m.user_id == user.id), None)
    if membership is None:
        raise TeamError("you are not on this team")
    if (error := _stuck(user, team.challenge, now or utcnow(), f"you cannot leave '{team.name}'",
                        you=True)) is not None:
        raise error
    _take_out(team, membership)
    db.session.commit()


def _take_out(team: Team, membership: Membership) -> None:
    """Remove a membership; hand a captaincy over; delete an emptied team that never submitted."""
    team.memberships.remove(membership)
    if membership.is_captain and team.memberships:
        min(team.memberships, key=lambda m: (m.joined_at, m.id)).is_captain = True
    if not team.memberships and not _has_submissions(team):
        db.session.delete(team)


def _has_submissions(team: Team) -> bool:
    return db.session.scalar(
        select(func.count()).select_from(Submission).where(Submission.team_id == team.id)
    ) > 0


@_change
def move_member(actor: User | None, challenge: Challenge, user: User, *, to_team: Team | None = None,
                new_team: str = "", reason: str) -> Team | None:
    """An organizer moves ``user`` to ``to_team``, to a new team called ``new_team``, or
    (neither given) out of every team of ``challenge``; audited, committed with the change.

    Their uploads go with them: by the quota's rule a person's uploads count for
    whichever team they are on, so the team they leave gets the slots back and the
    team they join counts them (it may end up over its quota until the period ends).
    A captain moved out hands over as on leaving; an emptied team is deleted unless it
    has submissions; someone moved into a team with no members becomes its captain.
    Returns the team they are now on (None: no team).
    """
    reason = reason.strip()
    if not reason:
        raise TeamError("say why the member is moved (the reason is kept in the audit log)")
    new_team = " ".join(new_team.split())
    if to_team is not None and new_team:
        raise TeamError("choose an existing team or a new team's name, not both")
    if to_team is not None and (to_team.challenge_id != challenge.id or to_team.is_reference):
        raise TeamError(f"'{to_team.name}' is not a competing team of {challenge.title}")
    if new_team and len(new_team) > MAX_NAME:
        raise TeamError(f"team names are at most {MAX_NAME} characters")
    _lock_people([user.id])
    current = team_for(user.id, challenge.id)
    _lock_teams(t.id for t in (current, to_team) if t is not None)
    if current is None and to_team is None and not new_team:
        raise TeamError(f"{user.email} is on no team in {challenge.title}; nothing to move")
    if current is not None and to_team is not None and current.id == to_team.id:
        raise TeamError(f"{user.email} is already on '{to_team.name}'")
    if new_team and _name_taken(challenge, new_team):
        raise TeamError(f"a team named '{new_team}' already exists in {challenge.title}")
    before = _placement(current, user)
    if current is not None:
        membership = next(m for m in current.memberships if m.user_id == user.id)
        _take_out(current, membership)
        db.session.flush()  # the old membership goes before the new one (one per challenge)
    target = to_team
    if new_team:
        target = Team(challenge=challenge, name=new_team, invite_code=secrets.token_urlsafe(12))
        db.session.add(target)
    if target is not None:
        target.memberships.append(Membership(user=user, challenge_id=challenge.id,
                                             is_captain=not target.memberships))
    db.session.flush()
    audit.record(actor, "team.move_member", f"user:{user.id}", challenge_id=challenge.id,
                 before=before, after=_placement(target, user), note=reason)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise TeamError(f"{user.email} could not be moved (a team changed at the same moment, or the "
                        "new name was just taken); try again") from None
    return target


def _placement(team: Team | None, user: User) -> dict[str, object]:
    """Where a person is, for the audit log."""
    if team is None:
        return {"user": user.email, "team_id": None, "team": None, "captain": False}
    captain = any(m.user_id == user.id and m.is_captain for m in team.memberships)
    return {"user": user.email, "team_id": team.id, "team": team.name, "captain": captain}


@dataclass(frozen=True)
class Standing:
    """Where a person is in a challenge, for an organizer about to move them."""

    team: Team | None
    #: Each phase open now with the person's counted uploads in its current period
    #: (what follows them to another team).
    uploads: list[tuple[Phase, int]]


def standing(user: User, challenge: Challenge, now: datetime | None = None) -> Standing:
    now = now or utcnow()
    phases = [p for track in challenge.tracks for p in track.phases if p.is_open(now)]
    return Standing(team_for(user.id, challenge.id), [(p, quota.used_by(p, user.id, now)) for p in phases])
