"""Console: split phases and publishing their private leaderboards (audited)."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from sqlalchemy import select

from challenge import splits
from challenge.admin.access import organizer_required
from challenge.admin.views import bp
from challenge.auth.current import me
from challenge.extensions import db
from challenge.leaderboards.publish import PublishError, publish_private
from challenge.models import Phase, utcnow


@bp.get("/boards")
@organizer_required
def boards() -> ResponseReturnValue:
    phases = [p for p in db.session.scalars(select(Phase).order_by(Phase.closes_at.desc()))
              if splits.is_split(p) or p.frozen_at is not None or p.separate_outside_data]
    return render_template("admin/boards.html", phases=phases, now=utcnow(), is_split=splits.is_split,
                           form=FlaskForm())


@bp.post("/phases/<int:phase_id>/publish")
@organizer_required
def publish(phase_id: int) -> ResponseReturnValue:
    phase = db.session.get(Phase, phase_id)
    if phase is None:
        flash(f"no phase {phase_id}", "error")
        return redirect(url_for("admin.boards"))
    if not FlaskForm().validate_on_submit():
        flash("Not published: the form expired; please try again.", "error")
        return redirect(url_for("admin.boards"))
    try:
        publish_private(me(), phase)
    except PublishError as exc:
        flash(f"Not published: {exc}", "error")
    else:
        flash(f"Published the private leaderboard of {phase.track.title}, {phase.title or phase.slug}.",
              "success")
    return redirect(url_for("admin.boards"))
