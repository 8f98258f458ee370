"""The teams area: blueprint, views and commands."""

from flask import Flask

from challenge.teams.commands import teams_cli
from challenge.teams.views import bp


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.cli.add_command(teams_cli)
