"""Teams: who is on which team."""

from __future__ import annotations

from sqlalchemy import select

from challenge.extensions import db
from challenge.models import Membership, Team


def team_for(user_id: int, challenge_id: int) -> Team | None:
    """The user's team in a challenge (a user is on at most one per challenge)."""
    return db.session.scalar(
        select(Team).join(Membership).where(
            Membership.user_id == user_id, Membership.challenge_id == challenge_id
        )
    )
