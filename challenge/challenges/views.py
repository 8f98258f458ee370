"""Public pages: the years, a year's tracks, a track with its phases and leaderboard."""

from __future__ import annotations

from flask import Blueprint, Response, abort, render_template, request
from flask.typing import ResponseReturnValue
from flask_login import current_user
from markupsafe import Markup

from challenge.challenges import service
from challenge.leaderboards import service as boards
from challenge.leaderboards.service import METHOD, check_sort, table_html
from challenge.leaderboards.visibility import explain, freeze_note
from challenge.models import Challenge, Track, User

bp = Blueprint("challenges", __name__)


def _viewer() -> User | None:
    return current_user if current_user.is_authenticated else None  # type: ignore[return-value]


def _challenge_and_track(slug: str, track_slug: str) -> tuple[Challenge, Track]:
    challenge = service.get_challenge(slug) or abort(404)
    track = service.get_track(challenge, track_slug) or abort(404)
    return challenge, track


@bp.get("/")
def index() -> ResponseReturnValue:
    return render_template("challenges/index.html", challenges=service.all_challenges())


@bp.get("/c/<slug>")
def year(slug: str) -> ResponseReturnValue:
    challenge = service.get_challenge(slug) or abort(404)
    return render_template("challenges/year.html", challenge=challenge,
                           status=service.phase_status)


@bp.get("/c/<slug>/<track_slug>")
def track(slug: str, track_slug: str) -> ResponseReturnValue:
    challenge, track = _challenge_and_track(slug, track_slug)
    phase = service.select_phase(track, request.args.get("phase"))
    if phase is None and request.args.get("phase"):
        abort(404)
    viewer = _viewer()
    sort = request.args.get("sort", "rank")
    # ?board=public|private (split phases), ?ranking=all|provided (ILSVRC's two rankings).
    board, ranking = request.args.get("board", "public"), request.args.get("ranking", "all")
    table, shown = "", None
    try:
        check_sort(sort)
        if phase is not None:
            shown = boards.viewer_board(phase, viewer, board, ranking)
    except ValueError as exc:
        abort(400, description=str(exc))
    if phase is not None and shown is not None:
        table = table_html(phase, sort, lambda entries: render_template(
            "leaderboards/_table.html", entries=entries, challenge=challenge, track=track,
            phase=phase, sort=sort, method=METHOD, board=board, ranking=ranking), shown)
    return render_template(
        "challenges/track.html", challenge=challenge, track=track, phase=phase,
        status=service.phase_status, quota_text=service.quota_text, table=Markup(table),
        hidden_reason=explain(phase, viewer, board=board) if phase else "",
        board=board, ranking=ranking, boards=boards.board_names(phase) if phase else (),
        rankings=boards.rankings(phase) if phase else (),
        freeze=freeze_note(phase, viewer) if phase else "",
    )


@bp.get("/c/<slug>/<track_slug>/sample")
def sample(slug: str, track_slug: str) -> ResponseReturnValue:
    challenge, track = _challenge_and_track(slug, track_slug)
    phase = service.select_phase(track, request.args.get("phase")) or abort(404)
    filename = f"{challenge.slug}-{track.slug}-{phase.slug}.sample.txt"
    return Response(service.sample_predictions(phase), mimetype="text/plain",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
