"""The announcements area: organizers' posts to a challenge (service, command, globals)."""

from flask import Flask

from challenge.announcements.commands import announce_command
from challenge.announcements.service import recent


def init_app(app: Flask) -> None:
    app.cli.add_command(announce_command)
    # The challenge page (challenges/_announcements.html) lists them.
    app.jinja_env.globals["announcements_of"] = recent
