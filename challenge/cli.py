"""The ``challenge`` command: the competitors' client first, then server and admin commands.

Competitors run ``challenge login|submit|...`` against someone else's server; they should
not have to read past Flask's options and the operators' commands to find them, so the
help lists the two groups apart and hides Flask's own options (``--app``, ``--env-file``,
``--debug``, ``--version``), which this program does not need.
"""

from __future__ import annotations

import click
from flask.cli import FlaskGroup

import challenge
from challenge.client import COMMANDS as CLIENT_COMMANDS

CLIENT_NAMES = tuple(command.name or "" for command in CLIENT_COMMANDS)
FLASK_OPTIONS = ("env_file", "app", "debug", "version")


class ChallengeGroup(FlaskGroup):
    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows: dict[bool, list[tuple[str, str]]] = {True: [], False: []}
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is None or command.hidden:
                continue
            rows[name in CLIENT_NAMES].append((name, command.get_short_help_str(limit=70)))
        ordered = sorted(rows[True], key=lambda row: CLIENT_NAMES.index(row[0]))
        with formatter.section("Competitor commands (a server's API; CHALLENGE_URL, CHALLENGE_TOKEN)"):
            formatter.write_dl(ordered)
        if rows[False]:
            with formatter.section("Server and admin commands (this machine's database: DATABASE_URL)"):
                formatter.write_dl(rows[False])


def make_cli() -> ChallengeGroup:
    cli = ChallengeGroup(
        name="challenge",
        create_app=lambda: challenge.create_app(),  # imported only when a command needs the app
        add_default_commands=False,
        set_debug_flag=False,
        load_dotenv=False,
        help="Submit to a challenge server (login, submit, status, ...), or run and administer one.",
    )
    for param in cli.params:
        if param.name in FLASK_OPTIONS and isinstance(param, click.Option):
            param.hidden = True
    # The competitors' client commands sit on the group itself, not on app.cli:
    # FlaskGroup resolves them without building an app, so they need no database.
    for command in CLIENT_COMMANDS:
        cli.add_command(command)
    return cli


def main() -> None:
    make_cli().main(prog_name="challenge")
