"""Console: publish a year's final results (once; the page never changes afterwards)."""

from __future__ import annotations

from flask import flash, redirect, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm

from challenge.admin import confirm
from challenge.admin.access import managed, organizer_required
from challenge.admin.views import bp
from challenge.auth.current import me
from challenge.extensions import db
from challenge.leaderboards import final
from challenge.models import Challenge


@bp.post("/challenges/<int:challenge_id>/results")
@organizer_required
def publish_results(challenge_id: int) -> ResponseReturnValue:
    challenge = managed(db.session.get(Challenge, challenge_id))
    if not confirm.confirmed():  # irreversible: only from the confirmation page
        return confirm.needs_confirmation(url_for("admin.confirm_publish_results", challenge_id=challenge.id))
    if not FlaskForm().validate_on_submit():  # the CSRF token
        flash("Not published: the form expired; please try again.", "error")
        return redirect(url_for("admin.index"))
    try:
        final.publish(me(), challenge)
    except final.ResultsError as exc:
        flash(f"Not published: {exc}", "error")
        return redirect(url_for("admin.index"))
    flash(f"The final results of {challenge.title} are published.", "success")
    return redirect(url_for("leaderboards.final_results", slug=challenge.slug))
