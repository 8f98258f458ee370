"""Console: a phase's boards (split, freeze, final picks, rankings) and publishing private
leaderboards. Every change is audited by challenge.leaderboards.publish."""

from __future__ import annotations

import re

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, IntegerField, StringField, TextAreaField
from wtforms.validators import InputRequired, NumberRange, Optional

from challenge import splits
from challenge.admin import confirm
from challenge.admin.access import managed, managed_ids, organizer_required
from challenge.admin.forms import UTCDateTimeField
from challenge.admin.views import bp
from challenge.auth.current import me
from challenge.extensions import db
from challenge.leaderboards.publish import MAX_PICKS, PublishError, publish_private, update_settings
from challenge.models import Phase, Track, utcnow


class BoardsForm(FlaskForm):
    public_fraction = StringField("Public fraction (e.g. 0.3; empty: no fraction split)")
    public_images = TextAreaField("Or the public images: 1-based image numbers, separated by spaces, "
                                  "commas or new lines (empty: none)")
    freeze = UTCDateTimeField("Freeze the public board at (UTC; empty: no freeze)", validators=[Optional()])
    final_picks = IntegerField("Final picks per team", validators=[
        InputRequired("final picks: required"), NumberRange(1, MAX_PICKS, f"final picks: 1 to {MAX_PICKS}")])
    provided_ranking = BooleanField("Also rank 'provided data only' (ILSVRC's second ranking)")


def _numbers(text: str) -> list[int] | None:
    tokens = [t for t in re.split(r"[\s,]+", text.strip()) if t]
    if not tokens:
        return None
    if not all(t.isdigit() for t in tokens):
        bad = next(t for t in tokens if not t.isdigit())
        raise PublishError(f"public images: {bad!r} is not an image number")
    return [int(t) for t in tokens]


def _fraction(text: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise PublishError(f"public fraction: {text!r} is not a number") from None


@bp.get("/boards")
@organizer_required
def boards() -> ResponseReturnValue:
    phases = list(db.session.scalars(
        select(Phase).join(Track).where(Track.challenge_id.in_(managed_ids())).order_by(Phase.closes_at.desc())))
    return render_template("admin/boards.html", phases=phases, now=utcnow(), is_split=splits.is_split,
                           form=FlaskForm())


@bp.route("/phases/<int:phase_id>/boards", methods=["GET", "POST"])
@organizer_required
def phase_boards(phase_id: int) -> ResponseReturnValue:
    phase = managed(db.session.get(Phase, phase_id))
    form = BoardsForm(data=None if request.method != "GET" else {
        "public_fraction": "" if phase.public_fraction is None else str(phase.public_fraction),
        "public_images": " ".join(map(str, phase.public_images or [])),
        "freeze": phase.frozen_at,
        "final_picks": phase.final_picks, "provided_ranking": phase.separate_outside_data})
    status = 200
    if form.validate_on_submit():
        try:
            freeze = form.freeze.data
            update_settings(me(), phase, public_fraction=_fraction(form.public_fraction.data or ""),
                            public_images=_numbers(form.public_images.data or ""),
                            frozen_at=freeze,
                            final_picks=form.final_picks.data or 0,
                            separate_outside_data=bool(form.provided_ranking.data))
        except PublishError as exc:
            db.session.rollback()
            flash(f"Not saved: {exc}", "error")
            status = 400
        else:
            flash("Saved.", "success")
            return redirect(url_for("admin.phase_boards", phase_id=phase.id))
    elif request.method != "GET":
        for name, errors in form.errors.items():
            for error in errors:
                flash(f"Not saved: {name}: {error}", "error")
        status = 400
    return render_template("admin/phase_boards.html", phase=phase, form=form,
                           is_split=splits.is_split(phase)), status


@bp.post("/phases/<int:phase_id>/publish")
@organizer_required
def publish(phase_id: int) -> ResponseReturnValue:
    phase = managed(db.session.get(Phase, phase_id))
    if not confirm.confirmed():  # irreversible: only from the confirmation page
        return confirm.needs_confirmation(url_for("admin.confirm_publish_private", phase_id=phase.id))
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
