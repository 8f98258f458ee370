"""The submissions area: blueprint, views, and the worker/requeue commands."""

from flask import Flask

from challenge import sweeper, worker
from challenge.submissions.live import queue_info
from challenge.submissions.views import bp, my_quota, my_submissions


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    # The track page (challenges area) includes submissions/_upload_form.html,
    # which lists the team's submissions through this.
    app.jinja_env.globals["my_submissions"] = my_submissions
    app.jinja_env.globals["my_quota"] = my_quota
    # The status badge (submissions/_status.html) shows a queued submission's place in the queue.
    app.jinja_env.globals["queue_info"] = queue_info
    sweeper.init_app(app)
    worker.init_app(app)
