"""The REST API area."""

from flask import Flask

from challenge.api import challenges, docs, leaderboards, openapi, submissions  # noqa: F401  (register routes)
from challenge.api.views import bp
from challenge.extensions import csrf


def init_app(app: Flask) -> None:
    csrf.exempt(bp)
    app.register_blueprint(bp)
    app.register_blueprint(docs.bp)
