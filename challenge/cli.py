"""The ``challenge`` command: admin and operations commands, registered by each area."""

from __future__ import annotations

from flask.cli import FlaskGroup

import challenge
from challenge.client import COMMANDS as CLIENT_COMMANDS


def main() -> None:
    cli = FlaskGroup(
        name="challenge",
        create_app=lambda: challenge.create_app(),  # imported only when a command needs the app
        add_default_commands=False,
        set_debug_flag=False,
        load_dotenv=False,
        help="Run and administer the challenge platform; submit to a server (login, submit, ...).",
    )
    # The competitors' client commands sit on the group itself, not on app.cli:
    # FlaskGroup resolves them without building an app, so they need no database.
    for command in CLIENT_COMMANDS:
        cli.add_command(command)
    cli.main(prog_name="challenge")
