"""Console pages. Thin: check, call a service, render. Forms post, then redirect (PRG); a
refused form is shown again with the error naming the field."""

from __future__ import annotations

from flask import Blueprint, Response, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from sqlalchemy import select

from challenge import audit, flags, moderation
from challenge.admin import confirm, hosts, service, workers
from challenge.admin.access import (
    can_manage,
    managed,
    managed_challenges,
    managed_ids,
    organizer_required,
    site_admin_required,
)
from challenge.admin.forms import (
    ChallengeForm,
    ClassesForm,
    ModerationForm,
    NewChallengeForm,
    NewPhaseForm,
    NewTrackForm,
    PhaseForm,
    ReferenceForm,
    TrackClassesForm,
    TrackForm,
    upload,
)
from challenge.auth.current import me
from challenge.extensions import db
from challenge.models import Challenge, Phase, Submission, Team, Track
from challenge.submissions import service as submit_service

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _form_errors(form: FlaskForm) -> None:
    """Flash each field's errors, each naming its field."""
    for name, errors in form.errors.items():
        for error in errors:
            text = str(error)
            flash(text if text.startswith(f"{name}:") else f"{name}: {text}", "error")


def _refused(template: str, status: int = 400, **context: object) -> ResponseReturnValue:
    return render_template(template, **context), status


@bp.get("/workers")
@site_admin_required
def workers_page() -> ResponseReturnValue:
    return render_template("admin/workers.html", o=workers.overview())


@bp.post("/workers/retry")
@site_admin_required
def workers_retry() -> ResponseReturnValue:
    try:
        flash(workers.retry(me(), request.form.get("queue", ""), request.form.get("job_id", "")).capitalize()
              + ".", "success")
    except workers.RetryError as exc:
        flash(exc.message, "error")
    return redirect(url_for("admin.workers_page"))


# ------------------------------------------------------------------ challenges

@bp.route("/challenges/new", methods=["GET", "POST"])
@site_admin_required
def challenge_new() -> ResponseReturnValue:
    form = NewChallengeForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            _form_errors(form)
            return _refused("admin/challenge_new.html", form=form)
        try:
            challenge = service.create_challenge(
                me(), slug=form.slug.data or "", year=form.year.data, title=form.title.data or "",
                description=form.description.data or "",
                classes=upload(form.classes) or service.Upload("", b""))
        except service.ConsoleError as exc:
            flash(exc.message, "error")
            return _refused("admin/challenge_new.html", form=form)
        flash(f"Challenge {challenge.slug} created. Add its tracks next.", "success")
        return redirect(url_for("admin.challenge", challenge_id=challenge.id))
    return render_template("admin/challenge_new.html", form=form)


def _challenge_page(challenge: Challenge, form: ChallengeForm | None = None,
                    status: int = 200) -> ResponseReturnValue:
    form = form or ChallengeForm(obj=challenge, formdata=None)
    return render_template("admin/challenge.html", challenge=challenge, form=form,
                           classes_form=ClassesForm(formdata=None),
                           teams=service.challenge_teams(challenge), hosts=hosts.hosts_of(challenge),
                           entries=audit.recent(challenge.id, limit=20)), status


@bp.route("/challenges/<int:challenge_id>", methods=["GET", "POST"])
@organizer_required
def challenge(challenge_id: int) -> ResponseReturnValue:
    challenge = managed(db.session.get(Challenge, challenge_id))
    if request.method == "GET":
        return _challenge_page(challenge)
    form = ChallengeForm()
    if not form.validate_on_submit():
        _form_errors(form)
        return _challenge_page(challenge, form, 400)
    try:
        service.update_challenge(me(), challenge, year=form.year.data, title=form.title.data or "",
                                 description=form.description.data or "")
    except service.ConsoleError as exc:
        flash(exc.message, "error")
        return _challenge_page(challenge, form, 400)
    flash("Challenge saved.", "success")
    return redirect(url_for("admin.challenge", challenge_id=challenge.id))


@bp.post("/challenges/<int:challenge_id>/classes")
@organizer_required
def challenge_classes(challenge_id: int) -> ResponseReturnValue:
    challenge = managed(db.session.get(Challenge, challenge_id))
    form = ClassesForm()
    if not form.validate_on_submit():
        _form_errors(form)
        return _challenge_page(challenge, status=400)
    try:
        service.replace_classes(me(), challenge, upload(form.classes) or service.Upload("", b""))
    except service.ConsoleError as exc:
        flash(exc.message, "error")
        return _challenge_page(challenge, status=400)
    flash("Class list replaced.", "success")
    return redirect(url_for("admin.challenge", challenge_id=challenge.id))


# ------------------------------------------------------------------ tracks

@bp.route("/challenges/<int:challenge_id>/tracks/new", methods=["GET", "POST"])
@organizer_required
def track_new(challenge_id: int) -> ResponseReturnValue:
    challenge = managed(db.session.get(Challenge, challenge_id))
    form = NewTrackForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            _form_errors(form)
            return _refused("admin/track_new.html", form=form, challenge=challenge)
        try:
            track = service.create_track(me(), challenge, slug=form.slug.data or "",
                                         title=form.title.data or "", task=form.task.data or "",
                                         guesses=form.guesses.data, classes=upload(form.classes))
        except service.ConsoleError as exc:
            flash(exc.message, "error")
            return _refused("admin/track_new.html", form=form, challenge=challenge)
        flash(f"Track {track.slug} created. Add a phase with its ground truth next.", "success")
        return redirect(url_for("admin.track", track_id=track.id))
    return render_template("admin/track_new.html", form=form, challenge=challenge)


def _track_page(track: Track, form: TrackForm | None = None, status: int = 200) -> ResponseReturnValue:
    return render_template("admin/track.html", track=track, form=form or TrackForm(obj=track, formdata=None),
                           classes_form=TrackClassesForm(formdata=None)), status


@bp.route("/tracks/<int:track_id>", methods=["GET", "POST"])
@organizer_required
def track(track_id: int) -> ResponseReturnValue:
    track = managed(db.session.get(Track, track_id))
    if request.method == "GET":
        return _track_page(track)
    form = TrackForm()
    if not form.validate_on_submit():
        _form_errors(form)
        return _track_page(track, form, 400)
    try:
        service.update_track(me(), track, title=form.title.data or "", task=form.task.data or "",
                             guesses=form.guesses.data)
    except service.ConsoleError as exc:
        flash(exc.message, "error")
        return _track_page(track, form, 400)
    flash("Track saved.", "success")
    return redirect(url_for("admin.track", track_id=track.id))


@bp.post("/tracks/<int:track_id>/classes")
@organizer_required
def track_classes(track_id: int) -> ResponseReturnValue:
    track = managed(db.session.get(Track, track_id))
    form = TrackClassesForm()
    if not form.validate_on_submit():
        _form_errors(form)
        return _track_page(track, status=400)
    try:
        service.replace_track_classes(me(), track, upload(form.classes) or service.Upload("", b""))
    except service.ConsoleError as exc:
        flash(exc.message, "error")
        return _track_page(track, status=400)
    flash("Class list of the track replaced.", "success")
    return redirect(url_for("admin.track", track_id=track.id))


# ------------------------------------------------------------------ phases

@bp.route("/tracks/<int:track_id>/phases/new", methods=["GET", "POST"])
@organizer_required
def phase_new(track_id: int) -> ResponseReturnValue:
    track = managed(db.session.get(Track, track_id))
    form = NewPhaseForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            _form_errors(form)
            return _refused("admin/phase_new.html", form=form, track=track)
        try:
            phase = service.create_phase(
                me(), track, slug=form.slug.data or "", settings=form.settings(),
                labels=upload(form.labels) or service.Upload("", b""), boxes=upload(form.boxes),
                blacklist=upload(form.blacklist), sample=upload(form.sample), real=upload(form.real))
        except service.ConsoleError as exc:
            flash(exc.message, "error")
            return _refused("admin/phase_new.html", form=form, track=track)
        flash(f"Phase {phase.slug} created ({phase.images} images).", "success")
        return redirect(url_for("admin.phase", phase_id=phase.id))
    return render_template("admin/phase_new.html", form=form, track=track)


def _phase_page(phase: Phase, form: PhaseForm | None = None, status: int = 200) -> ResponseReturnValue:
    if form is None:
        form = PhaseForm(formdata=None, data={
            "title": phase.title, "opens": phase.opens_at.replace(tzinfo=None),
            "closes": phase.closes_at.replace(tzinfo=None), "quota_count": phase.quota_count,
            "quota_period": phase.quota_period, "leaderboard": phase.leaderboard})
    return render_template("admin/phase.html", phase=phase, track=phase.track, form=form,
                           reference_form=ReferenceForm(formdata=None),
                           board=service.phase_overview(phase)), status


@bp.route("/phases/<int:phase_id>", methods=["GET", "POST"])
@organizer_required
def phase(phase_id: int) -> ResponseReturnValue:
    phase = managed(db.session.get(Phase, phase_id))
    if request.method == "GET":
        return _phase_page(phase)
    form = PhaseForm()
    if not form.validate_on_submit():
        _form_errors(form)
        return _phase_page(phase, form, 400)
    try:
        service.update_phase(me(), phase, form.settings())
    except service.ConsoleError as exc:
        flash(exc.message, "error")
        return _phase_page(phase, form, 400)
    flash("Phase saved.", "success")
    return redirect(url_for("admin.phase", phase_id=phase.id))


@bp.post("/phases/<int:phase_id>/reference")
@organizer_required
def phase_reference(phase_id: int) -> ResponseReturnValue:
    phase = managed(db.session.get(Phase, phase_id))
    form = ReferenceForm()
    if not form.validate_on_submit():
        _form_errors(form)
        return _phase_page(phase, status=400)
    try:
        submission = service.add_reference_entry(me(), phase, name=form.name.data or "",
                                                 method=form.method.data or "",
                                                 upload=upload(form.file) or service.Upload("", b""))
    except service.ConsoleError as exc:
        flash(exc.message, "error")
        return _phase_page(phase, status=400)
    flash(f"Reference entry {submission.id} ({submission.team.name}) uploaded and queued for scoring.",
          "success")
    return redirect(url_for("admin.phase", phase_id=phase.id))


def _export_name(phase: Phase, ext: str) -> str:
    track = phase.track
    return f"{track.challenge.slug}-{track.slug}-{phase.slug}-all-submissions.{ext}"


@bp.get("/phases/<int:phase_id>/submissions.csv")
@organizer_required
def phase_export_csv(phase_id: int) -> ResponseReturnValue:
    phase = managed(db.session.get(Phase, phase_id))
    service.record_export(me(), phase, "csv")
    return Response(service.export_csv(phase), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{_export_name(phase, "csv")}"'})


@bp.get("/phases/<int:phase_id>/submissions.json")
@organizer_required
def phase_export_json(phase_id: int) -> ResponseReturnValue:
    phase = managed(db.session.get(Phase, phase_id))
    service.record_export(me(), phase, "json")
    response = jsonify(service.export_json(phase))
    response.headers["Content-Disposition"] = f'attachment; filename="{_export_name(phase, "json")}"'
    return response


# ------------------------------------------------------------------ submissions and teams

@bp.get("/submissions/<int:submission_id>")
@organizer_required
def submission(submission_id: int) -> ResponseReturnValue:
    submission = managed(db.session.get(Submission, submission_id))
    form = ModerationForm(formdata=None, data={"state": submission.moderation or "hidden",
                                               "reason": submission.moderation_reason})
    return render_template("admin/submission.html", s=submission, form=form,
                           details=service.failure_details(submission))


@bp.post("/submissions/<int:submission_id>/moderate")
@organizer_required
def submission_moderate(submission_id: int) -> ResponseReturnValue:
    submission = managed(db.session.get(Submission, submission_id))
    form = ModerationForm()
    if not form.validate_on_submit():
        _form_errors(form)
        return _refused("admin/submission.html", s=submission, form=form)
    reason = (form.reason.data or "").strip()
    if form.state.data == "disqualified" and reason and not confirm.confirmed():
        return confirm.render(confirm.disqualify_submission_page(submission, reason))
    try:
        moderation.moderate_submission(me(), submission, form.state.data or "", form.reason.data or "")
    except moderation.ModerationError as exc:
        flash(exc.message, "error")
        return _refused("admin/submission.html", s=submission, form=form)
    flash(f"Submission {submission.id}: {submission.moderation or 'restored'}.", "success")
    return redirect(url_for("admin.submission", submission_id=submission.id))


@bp.post("/submissions/<int:submission_id>/retry")
@organizer_required
def submission_retry(submission_id: int) -> ResponseReturnValue:
    submission = managed(db.session.get(Submission, submission_id))
    try:
        submit_service.retry(me(), submission)
        flash(f"Submission {submission.id} is queued again.", "success")
    except submit_service.SubmitError as exc:
        flash(exc.message, "error")
    return redirect(url_for("admin.submission", submission_id=submission.id))


@bp.get("/teams/<int:team_id>")
@organizer_required
def team(team_id: int) -> ResponseReturnValue:
    team = managed(db.session.get(Team, team_id))
    return render_template("admin/team.html", team=team, rows=service.team_submissions(team),
                           form=ModerationForm(formdata=None, data={"state": team.moderation or "hidden",
                                                                     "reason": team.moderation_reason}))


@bp.post("/teams/<int:team_id>/moderate")
@organizer_required
def team_moderate(team_id: int) -> ResponseReturnValue:
    team = managed(db.session.get(Team, team_id))
    form = ModerationForm()
    refused = {"team": team, "rows": service.team_submissions(team), "form": form}
    if not form.validate_on_submit():
        _form_errors(form)
        return _refused("admin/team.html", **refused)
    if (form.state.data == "disqualified" and (form.reason.data or "").strip() and not team.is_reference
            and not confirm.confirmed()):
        return confirm.render(confirm.disqualify_team_page(team, (form.reason.data or "").strip()))
    try:
        moderation.moderate_team(me(), team, form.state.data or "", form.reason.data or "")
    except moderation.ModerationError as exc:
        flash(exc.message, "error")
        return _refused("admin/team.html", **refused)
    flash(f"Team {team.name}: {team.moderation or 'restored'}.", "success")
    return redirect(url_for("admin.team", team_id=team.id))


@bp.get("/moderation")
@organizer_required
def moderated() -> ResponseReturnValue:
    return render_template("admin/moderation.html",
                           submissions=[s for s in moderation.moderated_submissions() if can_manage(
                               s.phase.track.challenge_id)],
                           teams=[t for t in moderation.moderated_teams() if can_manage(t.challenge_id)])


@bp.get("/flags")
@organizer_required
def flag_list() -> ResponseReturnValue:
    slug = request.args.get("challenge", "").strip()
    challenge = None
    if slug:
        challenge = managed(db.session.scalar(select(Challenge).where(Challenge.slug == slug)))
    challenges = db.session.scalars(managed_challenges()).all()
    return render_template("admin/flags.html", found=flags.scan(challenge, within=managed_ids()),
                           challenge=challenge,
                           challenges=challenges, near_share=flags.NEAR_SHARE,
                           min_teams=flags.MIN_FARM_TEAMS)
