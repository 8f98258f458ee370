"""Organizer command: ``challenge announce SLUG --title T --body-file FILE`` (FILE '-': stdin)."""

from __future__ import annotations

import click
from sqlalchemy import select

from challenge import notify
from challenge.announcements.service import AnnouncementError, post
from challenge.extensions import db
from challenge.models import Announcement, Challenge


@click.command("announce")
@click.argument("slug")
@click.option("--title", default="", help="The announcement's title (one line).")
@click.option("--body-file", type=click.File("r", encoding="utf-8"),
              help="A Markdown file with its text ('-' reads standard input).")
@click.option("--resend", type=int, metavar="ID",
              help="Instead: queue the e-mails of announcement ID again, if they were never queued "
                   "(Redis was down when it was posted).")
def announce_command(slug: str, title: str, body_file: click.utils.LazyFile | None,
                     resend: int | None) -> None:
    """Post an announcement to challenge SLUG: shown on its page and e-mailed to its
    participants (except those who turned these e-mails off). Recorded in the audit log."""
    challenge = db.session.scalar(select(Challenge).where(Challenge.slug == slug))
    if challenge is None:
        raise click.ClickException(f"no challenge with the slug '{slug}'")
    if resend is not None:
        announcement = db.session.get(Announcement, resend)
        if announcement is None or announcement.challenge_id != challenge.id:
            raise click.ClickException(f"no announcement {resend} in {slug}")
        if announcement.mailed_at is not None:
            raise click.ClickException(f"announcement {resend} was already e-mailed to "
                                       f"{announcement.mailed_to} people at "
                                       f"{announcement.mailed_at:%Y-%m-%d %H:%M} UTC")
        if not notify.queue_announcement(announcement):
            raise click.ClickException("could not reach Redis to queue the e-mails; try again")
        click.echo(f"queued the e-mails of announcement {resend}")
        return
    if body_file is None:
        raise click.UsageError("give --body-file FILE (or --resend ID)")
    try:
        announcement, queued = post(None, challenge, title, body_file.read())
    except AnnouncementError as exc:
        raise click.ClickException(f"not posted: {exc.message}") from None
    click.echo(f"posted announcement {announcement.id} to {challenge.slug}: {announcement.title}")
    if queued:
        click.echo("its e-mails to the participants are queued (a worker sends them)")
    else:
        click.echo(f"warning: its e-mails could not be queued (Redis unreachable); run "
                   f"'challenge announce {slug} --resend {announcement.id}' later", err=True)
