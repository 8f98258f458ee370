"""The challenges area: blueprint, views and commands.

``init_app`` imports them when the app is built (see ``challenge.leaderboards``), so
that the area's ``service`` can be imported alone.
"""

from flask import Flask


def init_app(app: Flask) -> None:
    from challenge.challenges import rules_page  # noqa: F401  (its routes join the blueprint)
    from challenge.challenges.commands import (
        demo_command,
        export_command,
        import_devkit_command,
        load_command,
    )
    from challenge.challenges.countdown import countdown
    from challenge.challenges.views import bp

    app.register_blueprint(bp)
    # Deadline countdowns (challenges/_countdown.html) on the year, track and upload partials.
    app.jinja_env.globals["countdown"] = countdown
    app.cli.add_command(load_command)
    app.cli.add_command(demo_command)
    app.cli.add_command(import_devkit_command)
    app.cli.add_command(export_command)
