"""Console: ground-truth versions and rescoring (replace, rescore, preview, publish, roll back).

Every page is for organizers only (404 for everyone else): the versions page names the
hidden files and a run's errors may describe the ground truth.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from sqlalchemy import select
from wtforms import BooleanField, IntegerField, TextAreaField
from wtforms.validators import Length, NumberRange, Optional

from challenge import rescoring, truth
from challenge.admin.access import managed, managed_ids, organizer_required
from challenge.admin.views import bp
from challenge.auth.current import me
from challenge.extensions import db
from challenge.leaderboards import service as boards
from challenge.models import Challenge, Phase, RescoreRun, Submission, Track


class TruthForm(FlaskForm):
    labels = FileField("New labels (leave empty to keep the current ones)")
    boxes = FileField("New boxes (localization tracks)")
    blacklist = FileField("New blacklist")
    drop_blacklist = BooleanField("Drop the blacklist")
    real = FileField("New ReaL labels, real.json (classification tracks)")
    drop_real = BooleanField("Drop the ReaL labels")
    note = TextAreaField("Note (why; shown in the audit log)", validators=[Length(max=truth.MAX_NOTE)])


class RescoreForm(FlaskForm):
    version = IntegerField("Against version (empty: the newest)", validators=[Optional(), NumberRange(1)])
    submission = IntegerField("Only submission id (empty: the whole phase)",
                              validators=[Optional(), NumberRange(1)])


def _file(field: FileField) -> truth.TruthFile | None:
    storage = field.data
    if storage is None or not getattr(storage, "filename", ""):
        return None
    return truth.TruthFile(storage.filename or "upload", storage.read())


def _phase(phase_id: int) -> Phase:
    return managed(db.session.get(Phase, phase_id))


def _run(run_id: int) -> RescoreRun:
    run = db.session.get(RescoreRun, run_id) or abort(404)
    managed(run.phase)  # a host of another challenge: 404, as for a run that does not exist
    return run


@bp.get("/truth")
@organizer_required
def truth_index() -> ResponseReturnValue:
    phases = db.session.scalars(
        select(Phase).join(Track).join(Challenge).where(Challenge.id.in_(managed_ids()))
        .order_by(Challenge.year.desc(), Challenge.slug, Track.position, Phase.opens_at)
    ).all()
    return render_template("admin/rescoring_index.html", phases=phases,
                           runs=rescoring.runs(limit=20, within=managed_ids()),
                           label=truth.phase_label)


def _truth_page(phase: Phase, truth_form: TruthForm | None = None,
                rescore_form: RescoreForm | None = None, status: int = 200) -> ResponseReturnValue:
    runs = rescoring.runs(phase)
    return render_template(
        "admin/rescoring_phase.html", phase=phase, label=truth.phase_label(phase),
        versions=truth.versions(phase), counts=truth.scores_by_version(phase),
        runs=runs, progress={r.id: rescoring.progress(r) for r in runs},
        truth_form=truth_form or TruthForm(), rescore_form=rescore_form or RescoreForm(),
    ), status


@bp.get("/phases/<int:phase_id>/truth")
@organizer_required
def truth_versions(phase_id: int) -> ResponseReturnValue:
    return _truth_page(_phase(phase_id))


@bp.post("/phases/<int:phase_id>/truth")
@organizer_required
def truth_replace(phase_id: int) -> ResponseReturnValue:
    phase = _phase(phase_id)
    form = TruthForm()
    if not form.validate_on_submit():
        flash("Ground truth not replaced: " + "; ".join(str(e) for es in form.errors.values() for e in es),
              "error")
        return _truth_page(phase, truth_form=form, status=400)
    try:
        version = truth.replace(phase, labels=_file(form.labels), boxes=_file(form.boxes),
                                blacklist=_file(form.blacklist), drop_blacklist=form.drop_blacklist.data,
                                real=_file(form.real), drop_real=form.drop_real.data,
                                actor=me(), note=form.note.data or "")
    except truth.TruthError as exc:
        flash(exc.message, "error")
        return _truth_page(phase, truth_form=form, status=400)
    if version.number == phase.truth_version:
        flash(f"Version {version.number} added and current (the phase had no scores).", "success")
    else:
        flash(f"Version {version.number} added. Published scores stay on version {phase.truth_version} "
              "until a rescore against it is published.", "success")
    return redirect(url_for("admin.truth_versions", phase_id=phase.id))


@bp.post("/phases/<int:phase_id>/rescore")
@organizer_required
def rescore_start(phase_id: int) -> ResponseReturnValue:
    phase = _phase(phase_id)
    form = RescoreForm()
    if not form.validate_on_submit():
        flash("Not started: " + "; ".join(str(e) for es in form.errors.values() for e in es), "error")
        return _truth_page(phase, rescore_form=form, status=400)
    submission = None
    if form.submission.data is not None:
        submission = db.session.get(Submission, form.submission.data)
        if submission is None:
            flash(f"Not started: no submission {form.submission.data}", "error")
            return _truth_page(phase, rescore_form=form, status=400)
    try:
        run = rescoring.start(phase, version=form.version.data, submission=submission, actor=me())
    except rescoring.RescoreError as exc:
        flash(f"Not started: {exc.message}", "error")
        return _truth_page(phase, rescore_form=form, status=400)
    flash(f"Rescore run {run.id} started: {len(run.items)} submission(s) against version {run.version}.",
          "success")
    return redirect(url_for("admin.rescore_run", run_id=run.id))


@bp.get("/rescore/<int:run_id>")
@organizer_required
def rescore_run(run_id: int) -> ResponseReturnValue:
    run = _run(run_id)
    state = rescoring.progress(run)
    # The preview only means something once every candidate is in.
    changes = {name: rescoring.preview(run, name) for name in boards.board_names(run.phase)} \
        if state.finished and run.status == "open" else {}
    return render_template("admin/rescoring_run.html", run=run, state=state, changes=changes,
                           failures=rescoring.failures(run), missing=rescoring.missing(run),
                           label=truth.phase_label(run.phase), form=FlaskForm())


_ACTIONS = {
    "publish": (rescoring.publish, "published: the board now shows the rescored results"),
    "rollback": (rescoring.rollback, "rolled back: the previous scores are restored"),
    "fill": (rescoring.fill, "completing: what was missing is queued"),
    "discard": (rescoring.discard, "discarded: its candidate scores are dropped"),
}


@bp.post("/rescore/<int:run_id>/<action>")
@organizer_required
def rescore_action(run_id: int, action: str) -> ResponseReturnValue:
    run = _run(run_id)
    if action not in _ACTIONS:
        abort(404)
    if not FlaskForm().validate_on_submit():
        flash("Nothing done: the form expired; please try again.", "error")
        return redirect(url_for("admin.rescore_run", run_id=run.id))
    act, done = _ACTIONS[action]
    try:
        act(run, me())
    except rescoring.RescoreError as exc:
        flash(f"Nothing done: {exc.message}", "error")
        return redirect(url_for("admin.rescore_run", run_id=run_id))
    flash(f"Rescore run {run_id} {done}.", "success")
    return redirect(url_for("admin.rescore_run", run_id=run_id))
