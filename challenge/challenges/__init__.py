"""The challenges area: blueprint, views and commands."""

from flask import Flask

from challenge.challenges import rules_page  # noqa: F401  (its routes join the blueprint)
from challenge.challenges.commands import (
    demo_command,
    export_command,
    import_devkit_command,
    load_command,
)
from challenge.challenges.countdown import countdown
from challenge.challenges.views import bp


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    # Deadline countdowns (challenges/_countdown.html) on the year, track and upload partials.
    app.jinja_env.globals["countdown"] = countdown
    app.cli.add_command(load_command)
    app.cli.add_command(demo_command)
    app.cli.add_command(import_devkit_command)
    app.cli.add_command(export_command)
