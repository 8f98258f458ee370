"""The teams area: blueprint, views and commands."""

from flask import Flask

from challenge.teams.views import bp


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
