"""Organizer commands for leaderboards: ``challenge phases publish SLUG/TRACK/PHASE``."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from challenge.leaderboards.publish import PublishError, find_phase, publish_private

phases_cli = AppGroup("phases", help="Phases: publish a split phase's private leaderboard.")


@phases_cli.command("publish")
@click.argument("phase_spec", metavar="SLUG/TRACK/PHASE")
def publish_command(phase_spec: str) -> None:
    """Publish the private leaderboard of a closed split phase (recorded in the audit log)."""
    try:
        phase = publish_private(None, find_phase(phase_spec))
    except PublishError as exc:
        raise click.ClickException(f"not published: {exc}") from None
    click.echo(f"published the private leaderboard of {phase_spec} at "
               f"{phase.private_published_at:%Y-%m-%d %H:%M} UTC")
