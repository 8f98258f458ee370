"""Admin commands: ``challenge teams create NAME --challenge SLUG --member EMAIL...`` and
``challenge teams move EMAIL --challenge SLUG --to TEAM | --new-team NAME | --out --reason R``."""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import func, select

from challenge.auth.service import normalize_email, user_by_email
from challenge.extensions import db
from challenge.models import Challenge, Team
from challenge.teams.service import TeamError, create_team, move_member

teams_cli = AppGroup("teams", help="Teams.")


@teams_cli.command("create")
@click.argument("name")
@click.option("--challenge", "slug", required=True, help="The challenge's slug, e.g. ilsvrc2012.")
@click.option("--member", "emails", multiple=True, required=True,
              help="A member's email; repeat for more. The first is the captain.")
def create_team_command(name: str, slug: str, emails: tuple[str, ...]) -> None:
    """Create a team NAME in a challenge with existing users as members."""
    challenge = _challenge(slug)
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


@teams_cli.command("move")
@click.argument("email")
@click.option("--challenge", "slug", required=True, help="The challenge's slug, e.g. ilsvrc2012.")
@click.option("--to", "to", default="", help="The team to move them to: its name or its id.")
@click.option("--new-team", default="", help="Move them to a new team with this name instead.")
@click.option("--out", "out", is_flag=True, help="Take them out of their team, onto no team.")
@click.option("--reason", required=True, help="Why (kept in the audit log).")
def move_team_command(email: str, slug: str, to: str, new_team: str, out: bool, reason: str) -> None:
    """Move a member to another team of a challenge (or out of their team), audited.

    Their uploads go with them: a person's uploads count for whichever team they are on.
    """
    if sum(map(bool, (to, new_team, out))) != 1:
        raise click.UsageError("give exactly one of --to TEAM, --new-team NAME or --out")
    challenge = _challenge(slug)
    user = user_by_email(email)
    if user is None:
        raise click.ClickException(f"no user with the email {normalize_email(email)}")
    target = _team(challenge, to) if to else None
    try:
        team = move_member(None, challenge, user, to_team=target, new_team=new_team, reason=reason)
    except TeamError as exc:
        raise click.ClickException(exc.message) from None
    if team is None:
        click.echo(f"moved {user.email} out of their team in {challenge.slug}: they are on no team now")
    else:
        click.echo(f"moved {user.email} to the team '{team.name}' (id {team.id}) in {challenge.slug}; "
                   "their uploads count there now")


def _challenge(slug: str) -> Challenge:
    challenge = db.session.scalar(select(Challenge).where(Challenge.slug == slug))
    if challenge is None:
        raise click.ClickException(f"no challenge with the slug '{slug}'")
    return challenge


def _team(challenge: Challenge, name_or_id: str) -> Team:
    """A team of the challenge by its name (any case) or its id."""
    name_or_id = name_or_id.strip()
    query = select(Team).where(Team.challenge_id == challenge.id)
    team = db.session.scalar(query.where(func.lower(Team.name) == name_or_id.lower()))
    if team is None and name_or_id.isdigit():
        team = db.session.scalar(query.where(Team.id == int(name_or_id)))
    if team is None:
        raise click.ClickException(f"no team named or numbered '{name_or_id}' in {challenge.slug}")
    return team
