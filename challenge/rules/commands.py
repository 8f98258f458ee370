"""Organizer command: ``challenge rules SLUG`` (show the rules in force) and
``challenge rules SLUG --file rules.md`` (set them: a new version when the text changed)."""

from __future__ import annotations

import click
from sqlalchemy import select

from challenge.extensions import db
from challenge.models import Challenge
from challenge.rules import service


@click.command("rules")
@click.argument("slug")
@click.option("--file", "source", type=click.File("r", encoding="utf-8"),
              help="A Markdown file with the new rules ('-' reads standard input; an empty file "
                   "removes them).")
def rules_command(slug: str, source: click.utils.LazyFile | None) -> None:
    """Show or set the rules of challenge SLUG (each change is a new version, audited; every
    participant accepts it before their next upload)."""
    challenge = db.session.scalar(select(Challenge).where(Challenge.slug == slug))
    if challenge is None:
        raise click.ClickException(f"no challenge with the slug '{slug}'")
    if source is None:
        rules = service.in_force(challenge)
        if rules is None:
            click.echo(f"{slug} has no rules in force")
            return
        click.echo(f"# version {rules.version}, set {rules.created_at:%Y-%m-%d %H:%M} UTC\n{rules.text}")
        return
    try:
        saved = service.set_rules(None, challenge, source.read(), note=f"challenge rules {slug}")
    except service.RulesError as exc:
        raise click.ClickException(f"not saved: {exc.message}") from None
    if saved is None:
        click.echo(f"the rules of {slug} are unchanged (no new version)")
    elif saved.text:
        click.echo(f"the rules of {slug} are now version {saved.version}; participants accept it before "
                   "their next upload")
    else:
        click.echo(f"the rules of {slug} are removed (version {saved.version} is empty)")
