"""Teams: who is on which team, and the rules for changing that.

A user is on at most one team per challenge; the database enforces it with a
unique (user_id, challenge_id) on Membership, and these functions turn a
collision into a message a person can act on.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from challenge.extensions import db
from challenge.models import Challenge, Membership, Submission, Team, User

MAX_NAME = 100


class TeamError(Exception):
    """A team change that cannot be done; the message is for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


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


def challenges_without_team(user: User) -> list[Challenge]:
    """Challenges the user could still create or join a team for, newest first."""
    mine = select(Membership.challenge_id).where(Membership.user_id == user.id)
    return list(
        db.session.scalars(
            select(Challenge).where(Challenge.id.not_in(mine)).order_by(Challenge.year.desc(), Challenge.slug)
        )
    )


def is_member(user: User, team: Team) -> bool:
    return any(m.user_id == user.id for m in team.memberships)


def captain_of(team: Team) -> User | None:
    return next((m.user for m in team.memberships if m.is_captain), None)


def _lock_people(users: Sequence[User]) -> None:
    """Serialize team changes of these users across concurrent requests.

    Takes a write lock before the checks read anything: on PostgreSQL a row lock
    on each user (in id order, so two requests cannot deadlock); on SQLite the
    database's write lock, which must come first because a transaction that
    read and then tries to write after another writer committed fails with
    'database is locked' instead of waiting.
    """
    db.session.commit()  # end the read-only transaction the request may hold (nothing pending)
    for user_id in sorted(u.id for u in users):
        db.session.execute(
            update(User).where(User.id == user_id).values(is_organizer=User.is_organizer),
            execution_options={"synchronize_session": False},
        )


def _already_on_team(user: User, challenge: Challenge) -> TeamError | None:
    team = team_for(user.id, challenge.id)
    if team is None:
        return None
    return TeamError(f"{user.email} is already on the team '{team.name}' in {challenge.title}; "
                     "a user can be on one team per challenge")


def create_team(challenge: Challenge, name: str, members: Sequence[User]) -> Team:
    """Create and commit a team; the first member is its captain."""
    name = " ".join(name.split())
    if not name:
        raise TeamError("a team needs a name")
    if len(name) > MAX_NAME:
        raise TeamError(f"team names are at most {MAX_NAME} characters")
    if not members:
        raise TeamError("a team needs at least one member")
    if len({u.id for u in members}) != len(members):
        raise TeamError("a member is listed twice")
    _lock_people(members)
    for user in members:
        if (error := _already_on_team(user, challenge)) is not None:
            raise error
    if _name_taken(challenge, name):
        raise TeamError(f"a team named '{name}' already exists in {challenge.title}")
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
        raise TeamError(f"a team named '{name}' already exists in {challenge.title}") from None
    return team


def _name_taken(challenge: Challenge, name: str) -> bool:
    return db.session.scalar(
        select(func.count()).select_from(Team).where(
            Team.challenge_id == challenge.id, func.lower(Team.name) == name.lower()
        )
    ) > 0


def join_team(user: User, invite_code: str, challenge: Challenge | None = None) -> Team:
    """Join the team with this invite code (in ``challenge``, when given) and commit."""
    code = invite_code.strip()
    _lock_people([user])
    team = db.session.scalar(select(Team).where(Team.invite_code == code)) if code else None
    if team is None:
        raise TeamError("no team has that invite code; ask your captain for it again")
    if challenge is not None and team.challenge_id != challenge.id:
        raise TeamError(f"that invite code is for a team in {team.challenge.title}, not {challenge.title}")
    if (error := _already_on_team(user, team.challenge)) is not None:
        raise error
    db.session.add(Membership(team=team, user=user, challenge_id=team.challenge_id,
                              is_captain=not team.memberships))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise _already_on_team(user, team.challenge) or TeamError("could not join; try again") from None
    return team


def remove_member(actor: User, team: Team, user_id: int) -> User:
    """The captain (or an organizer) removes someone else from the team. Returns who."""
    captain = captain_of(team)
    if not actor.is_organizer and (captain is None or captain.id != actor.id):
        raise TeamError("only the team's captain can remove members")
    if user_id == actor.id:
        raise TeamError("you cannot remove yourself; use 'Leave team' instead")
    membership = next((m for m in team.memberships if m.user_id == user_id), None)
    if membership is None:
        raise TeamError("that person is not on this team")
    if membership.is_captain:
        raise TeamError("the captain cannot be removed")
    removed = membership.user
    team.memberships.remove(membership)
    db.session.commit()
    return removed


def leave_team(user: User, team: Team) -> None:
    """Leave the team. A leaving captain hands over to the longest-standing member.

    An emptied team is kept when it has submissions (they stay on the
    leaderboard under its name) and deleted otherwise.
    """
    membership = next((m for m in team.memberships if m.user_id == user.id), None)
    if membership is None:
        raise TeamError("you are not on this team")
    team.memberships.remove(membership)
    if membership.is_captain and team.memberships:
        min(team.memberships, key=lambda m: (m.joined_at, m.id)).is_captain = True
    if not team.memberships and not _has_submissions(team):
        db.session.delete(team)
    db.session.commit()


def _has_submissions(team: Team) -> bool:
    return db.session.scalar(
        select(func.count()).select_from(Submission).where(Submission.team_id == team.id)
    ) > 0
