"""Organizer commands for leaderboards: ``challenge phases publish SLUG/TRACK/PHASE`` and
``challenge results publish SLUG``."""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from challenge.extensions import db
from challenge.leaderboards import cache, final
from challenge.leaderboards.publish import PublishError, find_phase, publish_private
from challenge.models import Challenge, Phase

phases_cli = AppGroup("phases", help="Phases: publish a split phase's private leaderboard; reset boards.")


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


@phases_cli.command("reset-boards")
@click.argument("phase_spec", metavar="[SLUG/TRACK/PHASE]", required=False)
def reset_boards_command(phase_spec: str | None) -> None:
    """Recompute the cached leaderboards of one phase (or all) on their next read: after
    restoring a database backup, or any write made around the application."""
    try:
        ids = [find_phase(phase_spec).id] if phase_spec else list(db.session.scalars(select(Phase.id)))
    except PublishError as exc:
        raise click.ClickException(str(exc)) from None
    for phase_id in ids:
        cache.invalidate(phase_id)
    click.echo(f"the boards of {len(ids)} phase(s) will be recomputed on their next read")


results_cli = AppGroup("results", help="A year's final results: publish them once, for good.")


@results_cli.command("publish")
@click.argument("slug")
def publish_results_command(slug: str) -> None:
    """Publish the final results of challenge SLUG (every phase closed, private boards published)."""
    challenge = db.session.scalar(select(Challenge).where(Challenge.slug == slug))
    if challenge is None:
        raise click.ClickException(f"no challenge {slug!r}")
    try:
        results = final.publish(None, challenge)
    except final.ResultsError as exc:
        raise click.ClickException(f"not published: {exc}") from None
    click.echo(f"published the final results of {challenge.title} ({len(results.data['boards'])} boards) "
               f"at {results.published_at:%Y-%m-%d %H:%M} UTC: /results/{slug}")

