"""Public pages: the years, a year's tracks, a track with its phases and leaderboard."""

from __future__ import annotations

from flask import Blueprint, Response, abort, make_response, render_template, request, session
from flask.typing import ResponseReturnValue
from flask_login import current_user
from markupsafe import Markup

from challenge.challenges import service, tabs
from challenge.challenges.countdown import countdown
from challenge.leaderboards import anonymous as anonymous_pages
from challenge.leaderboards import pages
from challenge.leaderboards import service as boards
from challenge.leaderboards.real import real_columns
from challenge.leaderboards.service import METHOD, check_sort
from challenge.leaderboards.visibility import explain, freeze_note
from challenge.models import Challenge, Track, User
from challenge.rules import service as rules

bp = Blueprint("challenges", __name__)


def _viewer() -> User | None:
    return current_user if current_user.is_authenticated else None  # type: ignore[return-value]


def _challenge_and_track(slug: str, track_slug: str) -> tuple[Challenge, Track]:
    challenge = service.get_challenge(slug) or abort(404)
    track = service.get_track(challenge, track_slug) or abort(404)
    return challenge, track


@bp.get("/")
def index() -> ResponseReturnValue:
    return render_template("challenges/index.html", challenges=service.all_challenges(),
                           year_state=tabs.year_state)


@bp.get("/c/<slug>")
def year(slug: str) -> ResponseReturnValue:
    """The year page, one tab at a time (``?tab=``; see challenge.challenges.tabs)."""
    challenge = service.get_challenge(slug) or abort(404)
    viewer = _viewer()
    team = tabs.viewer_team(challenge, viewer)
    try:
        tab = tabs.pick_tab(request.args.get("tab"), team)
    except LookupError as exc:
        abort(404, description=str(exc))
    return render_template(
        "challenges/year.html", challenge=challenge, status=service.phase_status, tab=tab,
        tabs=tabs.tabs_for(team), team=team, state=tabs.year_state(challenge),
        summaries=tabs.board_summaries(challenge, viewer) if tab == "leaderboard" else (),
        page=tabs.team_page(team) if tab == "submissions" and team is not None else None,
        quota_text=service.quota_text)


@bp.get("/c/<slug>/<track_slug>")
def track(slug: str, track_slug: str) -> ResponseReturnValue:
    track = service.find_track(slug, track_slug) or abort(404)
    challenge = track.challenge
    phase = service.select_phase(track, request.args.get("phase"))
    if phase is None and request.args.get("phase"):
        abort(404)
    viewer = _viewer()
    sort = request.args.get("sort", "rank")
    # ?board=public|private (split phases), ?ranking=all|provided (ILSVRC's two rankings).
    board, ranking = request.args.get("board", "public"), request.args.get("ranking", "all")
    table, shown, pin, etag = "", None, None, None
    # Rules changed since the viewer accepted them: the upload form says so before a refusal does.
    pending_rules = rules.pending(viewer, challenge) if viewer is not None else None
    try:
        check_sort(sort)
        if phase is not None:
            shown = boards.viewer_board(phase, viewer, board, ranking)
    except ValueError as exc:
        abort(400, description=str(exc))
    hidden_reason = explain(phase, viewer, board=board) if phase else ""
    freeze = freeze_note(phase, viewer) if phase else ""
    # Not logged in, nothing flashed: the page is the same for every such visitor
    # (leaderboards.anonymous keeps it by URL and ETag).
    anonymous = viewer is None and not session.get("_flashes")
    if phase is not None and shown is not None:
        try:
            number = pages.parse_page(request.args.get("page"))
            snap = boards.snapshot(phase, shown, pages.page_name("html", sort, number))
            pages.check_page(number, snap.total)
        except (ValueError, LookupError) as exc:
            abort(404, description=str(exc))
        team_id = pages.viewer_team(viewer, challenge.id)
        # The page around the board shows the viewer (menu, upload form), the phase's status
        # and the notes above the board; the countdowns' words change by the minute.
        etag = pages.etag(phase, shown, snap, ("html", sort, number, team_id, viewer.id if viewer else 0,
                                               service.phase_status(phase), _countdowns(track),
                                               pending_rules.version if pending_rules else 0,
                                               hidden_reason, freeze))
        if request.if_none_match.contains_weak(etag) and not session.get("_flashes"):
            return _not_modified(etag)
        # Only a board served from the store: one computed for this request alone (Redis
        # away) has no version to key a page by.
        anonymous = anonymous and bool(snap.fingerprint)
        kept = anonymous_pages.get(request.full_path, etag) if anonymous else None
        if kept is not None:
            return _tagged(Response(kept, mimetype="text/html"), etag)
        page = pages.page(phase, shown, snap, "html", sort, number, lambda entries: render_template(
            "leaderboards/_table.html", entries=entries, challenge=challenge, track=track,
            phase=phase, sort=sort, method=METHOD, board=board, ranking=ranking, page=number,
            pages=pages.page_count(snap.total), total=snap.total, page_size=pages.PAGE_SIZE,
            real=real_columns(phase)))
        table, pin = page.text, pages.pinned(phase, shown, page, sort, team_id)
    response = make_response(render_template(
        "challenges/track.html", challenge=challenge, track=track, phase=phase,
        status=service.phase_status, quota_text=service.quota_text, table=Markup(table),
        hidden_reason=hidden_reason,
        board=board, ranking=ranking, boards=boards.board_names(phase) if phase else (),
        rankings=boards.rankings(phase) if phase else (), pinned=pin,
        real=real_columns(phase) if phase else (),
        freeze=freeze,
        member=viewer is not None and tabs.viewer_team(challenge, viewer) is not None,
        pending_rules=pending_rules,
    ))
    if etag is None:
        return response
    if anonymous:
        anonymous_pages.put(request.full_path, etag, response.get_data())
    return _tagged(response, etag)


def _tagged(response: Response, etag: str) -> Response:
    response.set_etag(etag, weak=True)
    # Per viewer (the menu, the pinned row): a browser may keep it, a shared proxy not.
    response.headers["Cache-Control"] = "private, no-cache"
    return response


def _countdowns(track: Track) -> str:
    return "|".join(c.text for c in map(countdown, track.phases) if c is not None)


def _not_modified(etag: str) -> Response:
    return _tagged(Response(status=304), etag)


@bp.get("/c/<slug>/<track_slug>/sample")
def sample(slug: str, track_slug: str) -> ResponseReturnValue:
    challenge, track = _challenge_and_track(slug, track_slug)
    phase = service.select_phase(track, request.args.get("phase")) or abort(404)
    filename = f"{challenge.slug}-{track.slug}-{phase.slug}.sample.txt"
    return Response(service.sample_predictions(phase), mimetype="text/plain",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
