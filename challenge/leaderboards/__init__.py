"""The leaderboards area: blueprint, views and commands.

``init_app`` imports the views and commands when the app is built, so that importing
one of the area's helpers (``visibility``, ``cache``) does not pull in the whole site:
the job modules need them, and ``import challenge.jobs`` as a process's first import
(RQ's work horse, a benchmark) went round a cycle back to itself through the pages.
"""

from flask import Flask


def init_app(app: Flask) -> None:
    from challenge.leaderboards import cache
    from challenge.leaderboards.commands import phases_cli, results_cli
    from challenge.leaderboards.final import results_of
    from challenge.leaderboards.picks import pick_state
    from challenge.leaderboards.views import bp
    from challenge.leaderboards.visibility import visible_scores

    app.register_blueprint(bp)
    # Every commit that changes what a board shows bumps the phase's board version.
    cache.track_writes()
    app.cli.add_command(phases_cli)
    app.cli.add_command(results_cli)
    # Templates of other areas (the submission page) ask the one visibility decision.
    app.jinja_env.globals["visible_scores"] = visible_scores
    app.jinja_env.globals["final_pick_state"] = pick_state
    app.jinja_env.globals["final_results_of"] = results_of
