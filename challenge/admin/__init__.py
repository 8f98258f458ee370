"""The organizers' console (``/admin``): site admins, and hosts for their challenges
(challenge.admin.access)."""

from flask import Flask

from challenge.admin import (  # noqa: F401  (their routes join the blueprint)
    audit_log,
    boards,
    bundle_upload,
    confirmations,
    dashboard,
    export,
    host_views,
    members,
    news,
    rescoring,
    results,
    submission_list,
)
from challenge.admin.commands import flags_command, moderate_cli
from challenge.admin.host_commands import hosts_cli
from challenge.admin.rescoring_commands import rescore_cli, truth_cli
from challenge.admin.views import bp


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.cli.add_command(moderate_cli)
    app.cli.add_command(flags_command)
    app.cli.add_command(truth_cli)
    app.cli.add_command(rescore_cli)
    app.cli.add_command(hosts_cli)
