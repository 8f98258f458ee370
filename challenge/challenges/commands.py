"""Organizer commands: ``challenge load PATH`` and ``challenge demo``."""

from __future__ import annotations

import click
from flask import current_app

from challenge import demo
from challenge.bundles import BundleError, load_bundle


@click.command("load")
@click.argument("path", type=click.Path(file_okay=False, exists=True))
def load_command(path: str) -> None:
    """Create or update a challenge from the bundle folder PATH (with challenge.toml)."""
    try:
        challenge = load_bundle(path)
    except BundleError as exc:
        raise click.ClickException(f"bundle not loaded, nothing changed: {exc}") from None
    phases = sum(len(t.phases) for t in challenge.tracks)
    click.echo(f"loaded {challenge.slug} ({challenge.title}): {len(challenge.tracks)} tracks, "
               f"{phases} phases")


@click.command("demo")
def demo_command() -> None:
    """Load the synthetic demo challenge (only into a database without challenges)."""
    if demo.load_demo(current_app):
        click.echo(f"demo loaded; log in as {demo.DEMO_EMAIL} / {demo.DEMO_PASSWORD}")
    else:
        click.echo("the database already has a challenge; demo not loaded")
