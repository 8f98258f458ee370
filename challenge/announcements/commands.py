"""Organizer commands: ``challenge announce SLUG --title T --body-file FILE`` posts (FILE
'-': stdin; the same as ``challenge announce post SLUG ...``), ``challenge announce edit ID``
and ``challenge announce delete ID`` change or remove one. All are audited."""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from challenge import notify
from challenge.announcements.service import AnnouncementError, delete, edit, post
from challenge.extensions import db
from challenge.models import Announcement, Challenge


class _AnnounceGroup(AppGroup):
    """``announce SLUG ...`` (how posting was always written, in scripts and the docs) still
    posts: a first argument that names no subcommand is handed to ``post``. (A challenge whose
    slug is ``edit`` or ``delete`` is posted to with ``announce post SLUG``.)"""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] != "--help":
            args = ["post", *args]
        return super().parse_args(ctx, args)


announce_command = _AnnounceGroup(
    "announce", help="Post an announcement to a challenge (announce SLUG ...), or edit or delete one.")


def _announcement(announcement_id: int) -> Announcement:
    announcement = db.session.get(Announcement, announcement_id)
    if announcement is None:
        raise click.ClickException(f"no announcement {announcement_id}")
    return announcement


@announce_command.command("post")
@click.argument("slug")
@click.option("--title", default="", help="The announcement's title (one line).")
@click.option("--body-file", type=click.File("r", encoding="utf-8"),
              help="A Markdown file with its text ('-' reads standard input).")
@click.option("--resend", type=int, metavar="ID",
              help="Instead: queue the e-mails of announcement ID again, if they were never queued "
                   "(Redis was down when it was posted).")
def post_command(slug: str, title: str, body_file: click.utils.LazyFile | None, resend: int | None) -> None:
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


@announce_command.command("edit")
@click.argument("announcement_id", metavar="ID", type=int)
@click.option("--title", default=None, help="The new title (default: keep it).")
@click.option("--body-file", type=click.File("r", encoding="utf-8"),
              help="A Markdown file with the new text ('-' reads standard input; default: keep it).")
def edit_command(announcement_id: int, title: str | None, body_file: click.utils.LazyFile | None) -> None:
    """Change the title or text of announcement ID. The challenge page marks it edited, with
    the time; nobody is e-mailed again. Recorded in the audit log."""
    if title is None and body_file is None:
        raise click.UsageError("give --title, --body-file or both")
    announcement = _announcement(announcement_id)
    try:
        changed = edit(None, announcement, announcement.title if title is None else title,
                       announcement.body if body_file is None else body_file.read())
    except AnnouncementError as exc:
        raise click.ClickException(f"not edited: {exc.message}") from None
    if changed:
        click.echo(f"edited announcement {announcement.id}: {announcement.title} (not e-mailed again)")
    else:
        click.echo(f"announcement {announcement.id} is unchanged: nothing saved")


@announce_command.command("delete")
@click.argument("announcement_id", metavar="ID", type=int)
@click.option("--yes", is_flag=True, help="Do not ask first (scripts).")
def delete_command(announcement_id: int, yes: bool) -> None:
    """Delete announcement ID for good: it leaves the challenge page at once (e-mails already
    sent stay sent). Recorded in the audit log."""
    announcement = _announcement(announcement_id)
    title, slug = announcement.title, announcement.challenge.slug
    if not yes:  # it cannot be undone: say which one it is first
        click.confirm(f"Delete announcement {announcement_id} of {slug} ('{title}') for good? "
                      "It cannot be undone", abort=True)
    delete(None, announcement)
    click.echo(f"deleted announcement {announcement_id} of {slug}: {title}")
