"""The api area: blueprint, views and commands."""

from flask import Flask

from challenge.api.views import bp


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
