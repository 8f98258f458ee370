"""Submission pages: upload (POST), a submission's page, its file, a team's list."""

from __future__ import annotations

from io import BytesIO

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, send_file, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required

from challenge import quota, storage
from challenge.auth.current import me
from challenge.extensions import db
from challenge.models import Phase, Submission, Team, Track, utcnow
from challenge.submissions import live, results, service
from challenge.submissions.forms import MetadataForm, UploadForm

bp = Blueprint("submissions", __name__)


def track_url(track: Track, phase: Phase | None = None) -> str:
    # The track page belongs to the challenges area; its URL scheme is fixed
    # (/c/<slug>/<track>), so it is built here rather than tied to its endpoint name.
    url = f"/c/{track.challenge.slug}/{track.slug}"
    return f"{url}?phase={phase.slug}" if phase is not None else url


def _go(url: str) -> ResponseReturnValue:
    """Post/redirect/get; for the upload form's script, the same answer as JSON.

    The script uploads with XMLHttpRequest (for its progress events), which would
    follow a 302 itself and so consume the flashed message on a page nobody sees.
    Answered ``{"redirect": url}``, it navigates there and the message shows.
    """
    if request.headers.get("X-Requested-With") == "XMLHttpRequest":
        return jsonify(redirect=url)
    return redirect(url)


@bp.post("/c/<slug>/<track_slug>/submissions")
@login_required
def upload(slug: str, track_slug: str) -> ResponseReturnValue:
    track = service.get_track(slug, track_slug) or abort(404)
    form = UploadForm()
    now = utcnow()
    phase = service.pick_phase(track, form.phase.data or None, now)
    if phase is None:
        flash("no phase of this track is open for uploads now", "error")
        return _go(track_url(track))
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(str(error), "error")
        return _go(track_url(track, phase))
    upload = form.file.data
    try:
        submission = service.submit(me(), phase, upload.filename or "", upload.read(),
                                    form.metadata(), now=now)
    except service.RulesNotAccepted as exc:
        flash(f"Upload refused: the rules of {track.challenge.title} changed (now version {exc.version}) "
              "or you have not accepted them yet. Read and accept them below, then upload again.", "error")
        return _go(url_for("challenges.rules", slug=slug, next=track_url(track, phase)) + "#accept-rules")
    except service.SubmitError as exc:
        flash(f"Upload refused: {exc.message}", "error")
        return _go(track_url(track, phase))
    except service.QuotaExceeded as exc:
        flash(f"Upload refused: {exc.message}", "error")
        return _go(track_url(track, phase))
    flash(f"Submission {submission.id} uploaded and queued for scoring.", "success")
    return _go(url_for("submissions.show", submission_id=submission.id))


def _visible(submission_id: int) -> Submission:
    submission = db.session.get(Submission, submission_id)
    # 404 rather than 403: other teams need not learn which ids exist.
    if submission is None or not service.can_view(me(), submission):
        abort(404)
    return submission


@bp.get("/submissions/<int:submission_id>")
@login_required
def show(submission_id: int) -> ResponseReturnValue:
    submission = _visible(submission_id)
    show_scores = service.scores_visible(me(), submission)
    return render_template(
        "submissions/show.html", submission=submission,
        show_scores=show_scores, track_url=track_url,
        editable=service.editable(me(), submission),
        results=results.for_page(submission, show_scores),
    )


@bp.get("/submissions/<int:submission_id>/status.json")
def status(submission_id: int) -> ResponseReturnValue:
    """What the pages' live status polls (session cookie; no login redirect: a script reads it)."""
    viewer = me() if current_user.is_authenticated else None
    submission = db.session.get(Submission, submission_id)
    if viewer is None or submission is None or not service.can_view(viewer, submission):
        return jsonify(error="no such submission"), 404
    response = jsonify(live.status_json(viewer, submission))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/submissions/<int:submission_id>/edit", methods=["GET", "POST"])
@login_required
def edit(submission_id: int) -> ResponseReturnValue:
    submission = _visible(submission_id)
    if not service.editable(me(), submission):
        flash("This submission can no longer be edited: its phase has closed.", "error")
        return redirect(url_for("submissions.show", submission_id=submission.id))
    form = MetadataForm(data={
        "method": submission.method, "description": submission.description, "link": submission.link,
        "extra_data": "yes" if submission.extra_data else "no",
    } if request.method == "GET" else None)
    if form.validate_on_submit():
        try:
            service.update_metadata(me(), submission, form.metadata())
        except service.SubmitError as exc:
            flash(f"Not saved: {exc.message}", "error")
        else:
            flash("Saved.", "success")
            return redirect(url_for("submissions.show", submission_id=submission.id))
    return render_template("submissions/edit.html", submission=submission, form=form)


@bp.get("/submissions/<int:submission_id>/file")
@login_required
def download(submission_id: int) -> ResponseReturnValue:
    submission = _visible(submission_id)
    try:
        data = storage.read(submission.stored_path)
    except FileNotFoundError:
        abort(404)
    return send_file(BytesIO(data), mimetype="text/plain", as_attachment=True,
                     download_name=submission.filename)


@bp.get("/teams/<int:team_id>/submissions")
@login_required
def team_list(team_id: int) -> ResponseReturnValue:
    team = db.session.get(Team, team_id)
    user = me()
    if team is None or not (user.manages(team.challenge_id)
                            or any(m.user_id == user.id for m in team.memberships)):
        abort(404)
    try:
        before, limit = service.page_args(request.args.get("before"), None)
    except service.BadPage:
        abort(404)
    page = service.team_submissions(team, before=before, limit=limit)
    return render_template("submissions/team.html", team=team, page=page, first_page=before is None,
                           track_url=track_url)


def my_quota(phase: Phase) -> quota.QuotaStatus | None:
    """For the upload partial: the logged-in user's team's quota in ``phase``."""
    if not current_user.is_authenticated:
        return None
    return service.quota_status(me(), phase)


#: The upload partial lists this many of the team's newest submissions in the phase; the
#: team's own page has the rest, a page at a time.
RECENT = 20


def my_submissions(phase: Phase) -> service.SubmissionPage:
    """For the upload partial: the logged-in user's team's newest submissions in ``phase``."""
    team = service.team_for(me().id, phase.track.challenge_id) if current_user.is_authenticated else None
    if team is None:
        return service.SubmissionPage([], None)
    return service.team_submissions(team, phase, limit=RECENT)
