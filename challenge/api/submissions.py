"""API routes: submitting a file and reading one's own submissions."""

from __future__ import annotations

from datetime import datetime
from io import BytesIO
from typing import Any

from flask import current_app, g, jsonify, request, send_file, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import RequestEntityTooLarge

from challenge import storage
from challenge.api.auth import api_error, token_required
from challenge.api.views import bp
from challenge.extensions import db
from challenge.leaderboards.real import score_real
from challenge.leaderboards.visibility import visible_scores
from challenge.models import Phase, Submission, Track, User, utcnow
from challenge.ratelimits import api_upload_limit
from challenge.submissions import service

TRUE, FALSE = ("true", "yes", "1"), ("false", "no", "0", "")


def parse_flag(value: str | None) -> bool:
    """A multipart boolean field; absent means false (the API's documented default)."""
    text = (value or "").strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise service.SubmitError(f"extra_data must be true or false (got {value!r})")


def submission_json(submission: Submission, viewer: User) -> dict[str, Any]:
    """The submission as the API shows it to ``viewer``: its scores only where the phase's
    visibility rules allow (challenge.leaderboards.visibility, the one place that decides)."""
    phase = submission.phase
    data: dict[str, Any] = {
        "id": submission.id,
        "status": submission.status,
        "error": submission.error,
        "challenge": phase.track.challenge.slug,
        "track": phase.track.slug,
        "phase": phase.slug,
        "team": submission.team.name,
        "method": submission.method,
        "description": submission.description,
        "link": submission.link,
        "extra_data": submission.extra_data,
        "filename": submission.filename,
        "size": submission.size,
        "sha256": submission.sha256,
        "attempts": submission.attempts,
        "note": submission.retry_note,
        "created_at": submission.created_at.isoformat(),
        "started_at": submission.started_at.isoformat() if submission.started_at else None,
        "finished_at": submission.finished_at.isoformat() if submission.finished_at else None,
    }
    score = submission.score if submission.status == "scored" else None
    if score is not None and service.scores_visible(viewer, submission):
        scores: dict[str, Any] = {
            "error": score.error, "error_at_k": score.error_at_k,
            "ci95": [score.ci_low, score.ci_high], "images": score.images,
        }
        if score.cls_error is not None:
            scores["cls_error"] = score.cls_error
            scores["cls_error_at_k"] = score.cls_error_at_k
        real = score_real(submission.phase, score)
        if real is not None:
            scores["real_error_at_k"], scores["real_images"] = real.error_at_k, real.images
        data["scores"] = scores
    # Split phases: the public (and, once published, private) images' numbers the viewer may
    # see, even while the whole-set numbers above are withheld.
    subsets = [view.to_json() for view in visible_scores(submission, viewer) if view.subset != "all"]
    if subsets:
        data["subset_scores"] = subsets
    return data


def _phase(track: Track, named: str | None, now: datetime) -> tuple[Phase | None, ResponseReturnValue]:
    """The named phase, or else the one open now; when there is none, the API's refusal
    (404 for an unknown name, 409 when no phase is open)."""
    phase = service.pick_phase(track, named or None, now)
    if phase is not None:
        return phase, ""
    if named:
        return None, api_error(404, f"no phase '{named}' in track '{track.slug}'")
    return None, api_error(409, "no phase of this track is open for uploads now; name one with 'phase'")


@bp.post("/challenges/<slug>/tracks/<track_slug>/submissions")
@token_required
@api_upload_limit
def create_submission(slug: str, track_slug: str) -> ResponseReturnValue:
    track = service.get_track(slug, track_slug)
    if track is None:
        return api_error(404, f"no track '{track_slug}' in challenge '{slug}'")
    limit = request.max_content_length
    too_large = api_error(413, f"the upload is larger than the limit of {limit} bytes")
    # Refuse on the declared length before parsing anything; the parser's own
    # limit still catches uploads that do not declare one.
    if limit is not None and (request.content_length or 0) > limit:
        return too_large
    try:
        upload = request.files.get("file")
        form = request.form
    except RequestEntityTooLarge:
        return too_large
    now = utcnow()
    phase, refusal = _phase(track, form.get("phase"), now)
    if phase is None:
        return refusal
    if upload is None:
        return api_error(400, "send the prediction file as the multipart field 'file'")
    try:
        meta = service.Metadata(form.get("method", ""), form.get("description", ""),
                                form.get("link", ""), parse_flag(form.get("extra_data")))
        submission = service.submit(g.api_user, phase, upload.filename or "", upload.read(),
                                    meta, now=now)
    except service.BadFile as exc:
        return api_error(400, exc.message, line=exc.line)
    except service.RulesNotAccepted as exc:
        return api_error(exc.status, exc.message, rules_url=exc.url, rules_version=exc.version)
    except service.PhaseClosed as exc:
        key = "opens_at" if now < exc.when else "closed_at"
        return api_error(exc.status, exc.message, **{key: exc.when.isoformat()})
    except service.SubmitError as exc:
        return api_error(exc.status, exc.message)
    except service.QuotaExceeded as exc:
        response = api_error(429, exc.message, retry_after=exc.retry_after)
        body, status = response  # type: ignore[misc]
        if exc.retry_after is not None:
            body.headers["Retry-After"] = str(exc.retry_after)
        return body, status
    return jsonify({"id": submission.id, "status": submission.status}), 202


def _own(submission_id: int) -> tuple[Submission | None, ResponseReturnValue]:
    """The submission if the caller may see it (their team's, or any for an organizer),
    else a 404 that does not say whether it exists."""
    submission = db.session.get(Submission, submission_id)
    if submission is None or not service.can_view(g.api_user, submission):
        return None, api_error(404, f"no submission {submission_id} of yours")
    return submission, ""


@bp.get("/submissions/<int:submission_id>")
@token_required
def get_submission(submission_id: int) -> ResponseReturnValue:
    submission, refusal = _own(submission_id)
    if submission is None:
        return refusal
    return jsonify(submission_json(submission, g.api_user))


@bp.get("/submissions/<int:submission_id>/file")
@token_required
def download_submission(submission_id: int) -> ResponseReturnValue:
    """The file as it was uploaded: the submitting team's members (and organizers) only."""
    submission, refusal = _own(submission_id)
    if submission is None:
        return refusal
    try:
        data = storage.read(submission.stored_path)
    except FileNotFoundError:
        return api_error(404, f"the file of submission {submission_id} is no longer stored")
    response = send_file(BytesIO(data), mimetype="application/octet-stream", as_attachment=True,
                         download_name=submission.filename)
    response.headers["X-Content-SHA256"] = submission.sha256
    return response


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when is not None else None


@bp.get("/challenges/<slug>/tracks/<track_slug>/quota")
@token_required
def get_quota(slug: str, track_slug: str) -> ResponseReturnValue:
    track = service.get_track(slug, track_slug)
    if track is None:
        return api_error(404, f"no track '{track_slug}' in challenge '{slug}'")
    phase, refusal = _phase(track, request.args.get("phase"), utcnow())
    if phase is None:
        return refusal
    status = service.quota_status(g.api_user, phase)
    if status is None:
        return api_error(403, f"you are not on a team for {track.challenge.title}")
    return jsonify({
        "phase": phase.slug, "limit": status.limit, "period": status.period,
        "period_key": status.period_key, "used": status.used, "remaining": status.remaining,
        "resets_at": _iso(status.resets_at), "next_slot_at": _iso(status.next_slot_at),
        "max_upload_bytes": current_app.config["MAX_CONTENT_LENGTH"],
    })


METADATA_FIELDS = {"method": str, "description": str, "link": str, "extra_data": bool}


@bp.patch("/submissions/<int:submission_id>")
@token_required
def update_submission(submission_id: int) -> ResponseReturnValue:
    submission, refusal = _own(submission_id)
    if submission is None:
        return refusal
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return api_error(400, "send a JSON object with any of: " + ", ".join(METADATA_FIELDS))
    for name, value in body.items():
        kind = METADATA_FIELDS.get(name)
        if kind is None:
            return api_error(400, f"unknown field '{name}'; editable: " + ", ".join(METADATA_FIELDS))
        if not isinstance(value, kind):
            return api_error(400, f"'{name}' must be a {'boolean' if kind is bool else 'string'}")
    # Fields left out keep their values.
    current = {"method": submission.method, "description": submission.description,
               "link": submission.link, "extra_data": submission.extra_data}
    try:
        service.update_metadata(g.api_user, submission, service.Metadata(**{**current, **body}))
    except service.PhaseClosed as exc:
        return api_error(exc.status, exc.message, closed_at=exc.when.isoformat())
    except service.SubmitError as exc:
        return api_error(exc.status, exc.message)
    return jsonify(submission_json(submission, g.api_user))


@bp.get("/submissions")
@token_required
def list_submissions() -> ResponseReturnValue:
    user = g.api_user
    args = request.args
    try:
        before, limit = service.page_args(args.get("before"), args.get("limit"))
    except service.BadPage as exc:
        return api_error(400, str(exc))
    page = service.user_submissions(user, args.get("challenge"), args.get("track"),
                                    before=before, limit=limit)
    following = None
    if page.next_before is not None:
        query = {k: args[k] for k in ("challenge", "track", "limit") if args.get(k)}
        following = url_for("api.list_submissions", **query, before=page.next_before)
    return jsonify({"submissions": [submission_json(s, user) for s in page.items],
                    "next_before": page.next_before, "next": following})
