"""Admin command: ``challenge teams create NAME --challenge SLUG --member EMAIL...``."""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from challenge.auth.service import normalize_email, user_by_email
from challenge.extensions import db
from challenge.models import Challenge
from challenge.teams.service import TeamError, create_team

teams_cli = AppGroup("teams", help="Teams.")


@teams_cli.command("create")
@click.argument("name")
@click.option("--challenge", "slug", required=True, help="The challenge's slug, e.g. ilsvrc2012.")
@click.option("--member", "emails", multiple=True, required=True,
              help="A member's email; repeat for more. The first is the captain.")
def create_team_command(name: str, slug: str, emails: tuple[str, ...]) -> None:
    """Create a team NAME in a challenge with existing users as members."""
    challenge = db.session.scalar(select(Challenge).where(Challenge.slug == slug))
    if challenge is None:
        raise click.ClickException(f"no challenge with the slug '{slug}'")
    users = []
    for email in emails:
        user = user_by_email(email)
        if user is None:
            raise click.ClickException(f"no user with the email {normalize_email(email)}")
        users.append(user)
    try:
        team = create_team(challenge, name, users)
    except TeamError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"created team '{team.name}' (id {team.id}) in {challenge.slug}, "
               f"captain {users[0].email}, invite code {team.invite_code}")
