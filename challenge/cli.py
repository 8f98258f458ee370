"""The ``challenge`` command: admin and operations commands, registered by each area."""

from __future__ import annotations

from flask.cli import FlaskGroup

from challenge import create_app


def main() -> None:
    cli = FlaskGroup(
        name="challenge",
        create_app=lambda: create_app(),
        add_default_commands=False,
        set_debug_flag=False,
        load_dotenv=False,
        help="Run and administer the challenge platform.",
    )
    cli.main(prog_name="challenge")
