"""Rules: each challenge's versioned rules and their acceptance, and the safe Markdown
that rules and announcements are written in. (The rules page is in challenge.challenges.)"""

from flask import Flask

from challenge.rules.commands import rules_command
from challenge.rules.markdown import render
from challenge.rules.service import in_force, pending


def init_app(app: Flask) -> None:
    app.cli.add_command(rules_command)
    # Other areas' templates (the teams' forms, the year page) ask for the rules in force.
    app.jinja_env.globals["rules_in_force"] = in_force
    app.jinja_env.globals["rules_pending"] = pending
    app.jinja_env.filters["markdown"] = render
