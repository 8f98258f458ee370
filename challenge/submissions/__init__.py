"""The submissions area: blueprint, views, and the worker/requeue commands.

``init_app`` imports them when the app is built (see ``challenge.leaderboards``): the
area's services are imported by the sweeper and the jobs, which the worker imports.
"""

from flask import Flask


def init_app(app: Flask) -> None:
    from challenge import sweeper, worker
    from challenge.submissions.listing import marks, shown_score
    from challenge.submissions.live import queue_info
    from challenge.submissions.views import bp, my_quota, my_submissions, track_url

    app.register_blueprint(bp)
    # The track page (challenges area) includes submissions/_upload_form.html,
    # which lists the team's submissions through this.
    app.jinja_env.globals["my_submissions"] = my_submissions
    app.jinja_env.globals["my_quota"] = my_quota
    # The status badge (submissions/_status.html) shows a queued submission's place in the queue.
    app.jinja_env.globals["queue_info"] = queue_info
    # Every list of a team's submissions (submissions/_list.html) shows the score the viewer
    # may see and the organizers' marks; the year page's tab lists them too.
    app.jinja_env.globals["shown_score"] = shown_score
    app.jinja_env.globals["submission_marks"] = marks
    app.jinja_env.globals["track_url"] = track_url
    sweeper.init_app(app)
    worker.init_app(app)
