"""Console commands: ``challenge moderate ...`` and ``challenge flags``."""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from challenge import flags, moderation
from challenge.challenges.service import phase_path
from challenge.extensions import db
from challenge.models import Challenge, Submission, Team

moderate_cli = AppGroup("moderate", help="Hide, disqualify or restore a submission or a team (audited).")

ACTIONS = {"hide": "hidden", "disqualify": "disqualified", "restore": ""}


def _apply(kind: str, ident: int, action: str, reason: str) -> None:
    row = db.session.get(Submission if kind == "submission" else Team, ident)
    if row is None:
        raise click.ClickException(f"no {kind} with id {ident}")
    try:
        if isinstance(row, Submission):
            moderation.moderate_submission(None, row, ACTIONS[action], reason)
        else:
            moderation.moderate_team(None, row, ACTIONS[action], reason)
    except moderation.ModerationError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"{kind} {ident}: {row.moderation or 'restored'}" + (f" ({reason})" if row.moderation else ""))


@moderate_cli.command("submission")
@click.argument("submission_id", type=int)
@click.argument("action", type=click.Choice(list(ACTIONS)))
@click.option("--reason", default="", help="Why; shown to the team (required to hide or disqualify).")
def moderate_submission_command(submission_id: int, action: str, reason: str) -> None:
    """Hide, disqualify or restore one submission."""
    _apply("submission", submission_id, action, reason)


@moderate_cli.command("team")
@click.argument("team_id", type=int)
@click.argument("action", type=click.Choice(list(ACTIONS)))
@click.option("--reason", default="", help="Why; shown to the team (required to hide or disqualify).")
def moderate_team_command(team_id: int, action: str, reason: str) -> None:
    """Hide, disqualify or restore a whole team (all its entries)."""
    _apply("team", team_id, action, reason)


@click.command("flags")
@click.option("--challenge", "slug", default="", help="Only this challenge (its slug).")
def flags_command(slug: str) -> None:
    """List suspicious patterns: copied prediction files, groups of accounts at their quota."""
    challenge = None
    if slug:
        challenge = db.session.scalar(select(Challenge).where(Challenge.slug == slug))
        if challenge is None:
            raise click.ClickException(f"no challenge with the slug '{slug}'")
    found = flags.scan(challenge)
    for why in found.skipped:
        click.echo(f"skipped: {why}")
    for c in found.copies:
        phase = c.phase
        kind = "identical" if c.identical else f"{c.share:.1%} identical lines"
        click.echo(f"copy: {phase_path(phase)}: submission "
                   f"{c.first.id} ({c.first.team.name}) and {c.second.id} ({c.second.team.name}): {kind}")
    for f in found.farms:
        names = ", ".join(t.name for t in f.teams)
        click.echo(f"domain: {f.challenge.slug}: {len(f.teams)} teams @{f.domain} ({names}), "
                   f"{f.members} members, {f.submissions} submissions, all at their quota")
    if not (found.copies or found.farms):
        click.echo("no flags")
