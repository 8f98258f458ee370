"""``challenge hosts add|remove|list``: per-challenge hosts from the command line (audited)."""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from challenge.admin import hosts
from challenge.extensions import db
from challenge.models import Challenge

hosts_cli = AppGroup("hosts", help="Who hosts a challenge: add, remove or list hosts (site admin).")


def _challenge(slug: str) -> Challenge:
    challenge = db.session.scalar(select(Challenge).where(Challenge.slug == slug))
    if challenge is None:
        raise click.ClickException(f"no challenge with the slug '{slug}'")
    return challenge


@hosts_cli.command("add")
@click.argument("slug")
@click.argument("email")
def add_command(slug: str, email: str) -> None:
    """Make the account EMAIL a host of challenge SLUG."""
    challenge = _challenge(slug)
    try:
        host = hosts.add_host(None, challenge, email)
    except hosts.HostError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"{host.user.email} hosts {challenge.slug} now")


@hosts_cli.command("remove")
@click.argument("slug")
@click.argument("email")
def remove_command(slug: str, email: str) -> None:
    """End EMAIL's host role on challenge SLUG."""
    challenge = _challenge(slug)
    try:
        user = hosts.remove_host(None, challenge, email)
    except hosts.HostError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"{user.email} no longer hosts {challenge.slug}")


@hosts_cli.command("list")
@click.argument("slug", required=False)
def list_command(slug: str | None) -> None:
    """The hosts of challenge SLUG (or of every challenge), with who added them and when."""
    challenges = [_challenge(slug)] if slug else list(
        db.session.scalars(select(Challenge).order_by(Challenge.year.desc(), Challenge.slug)))
    for challenge in challenges:
        rows = hosts.hosts_of(challenge)
        if slug and not rows:
            click.echo(f"{challenge.slug}: no hosts (site admins manage it)")
        for row in rows:
            by = row.added_by.email if row.added_by is not None else "command line"
            click.echo(f"{challenge.slug}\t{row.user.email}\tadded {row.added_at:%Y-%m-%d %H:%M} UTC by {by}")
