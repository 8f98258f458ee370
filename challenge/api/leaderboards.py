"""API routes: a track's leaderboards for a phase, honouring the phase's visibility, and a
team's final picks for the private ranking."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, g, jsonify, request
from flask.typing import ResponseReturnValue

from challenge import scoring
from challenge.api.auth import api_error, token_optional, token_required
from challenge.api.challenges import phase_json
from challenge.api.views import bp
from challenge.challenges import service
from challenge.extensions import db
from challenge.leaderboards import pages, picks
from challenge.leaderboards.real import RealColumn, real_columns
from challenge.leaderboards.service import Entry, board_names, rankings, snapshot, viewer_board
from challenge.models import Submission, Track


def entry_json(entry: Entry, track: Track, real: tuple[RealColumn, ...] = ()) -> dict[str, Any]:
    """An entry as the API returns it: ``error`` is the task's headline; a localization
    board's ``cls_error`` is added when the entry has one, and the ReaL columns on a phase
    with ReaL labels."""
    row: dict[str, Any] = {
        "rank": entry.rank, "team": entry.team, "submission": entry.submission_id,
        "method": entry.method, "submitted_at": entry.submitted_at.isoformat(),
        "error": entry.error, "error_at_k": entry.error_at_k,
        "ci95": [entry.ci_low, entry.ci_high],
        "tie_group": entry.group,
        "vs_above": None if entry.diff is None else {
            "difference": entry.diff, "ci95": [entry.diff_low, entry.diff_high],
            "significant": entry.significant,
        },
        "outside_data": entry.outside_data,
        "reference": entry.reference,
    }
    task = scoring.task_of(track)
    if task.column("cls_error") is not None and entry.cls_error is not None:
        row["cls_error"] = entry.cls_error
    if task.column("categories_won") is not None:
        row["categories_won"] = entry.won
    for column in real:  # a phase with ReaL labels (leaderboards.real)
        row[column.key] = column.value(entry)
    return row


@bp.get("/challenges/<slug>/tracks/<track_slug>/leaderboard")
@token_optional
def get_leaderboard(slug: str, track_slug: str) -> ResponseReturnValue:
    track = service.find_track(slug, track_slug)  # with its challenge and phases, one query
    if track is None:
        return api_error(404, f"no track {track_slug!r} in challenge {slug!r}")
    challenge = track.challenge
    phase_slug = request.args.get("phase")
    phase = service.select_phase(track, phase_slug)
    if phase is None:
        return api_error(404, f"no phase {phase_slug!r} in track {track_slug!r}"
                         if phase_slug else f"track {track_slug!r} has no phases")
    viewer = g.api_user
    name, ranking = request.args.get("board", "public"), request.args.get("ranking", "all")
    try:
        board = viewer_board(phase, viewer, name, ranking)
        number = pages.parse_page(request.args.get("page"))
    except ValueError as exc:
        return api_error(400, str(exc))
    head: dict[str, Any] = {
        "phase": phase_json(phase),
        "board": name, "ranking": ranking,
        "boards": list(board_names(phase)), "rankings": list(rankings(phase)),
        # How to read "error": the task's headline and which way is better (scorer.tasks).
        "headline": scoring.task_of(track).headline, "direction": scoring.task_of(track).direction,
        "visible": board is not None,
        "frozen": board is not None and not board.live and phase.frozen_at is not None,
        "page_size": pages.PAGE_SIZE,
    }
    if board is None:
        return jsonify({**head, "page": number, "pages": 1, "total": 0, "viewer_entry": None,
                        "entries": []})
    snap = snapshot(phase, board, pages.page_name("api", "rank", number))
    try:
        pages.check_page(number, snap.total)
    except LookupError as exc:
        return api_error(400, str(exc))
    team_id = pages.viewer_team(viewer, challenge.id)
    etag = pages.etag(phase, board, snap, ("api", number, team_id))
    if request.if_none_match.contains_weak(etag):
        return _cached(Response(status=304), etag)
    extra = real_columns(phase)
    page = pages.page(phase, board, snap, "api", "rank", number,
                      lambda entries: json.dumps([entry_json(e, track, extra) for e in entries]))
    pin = pages.pinned(phase, board, page, "rank", team_id)
    mine = None if pin is None else {**entry_json(pin.entry, track, extra), "page": pin.page}
    # The cached entries are spliced in as they are: a large page is never parsed again.
    head.update(page=number, pages=page.pages, total=snap.total, viewer_entry=mine)
    body = json.dumps(head)[:-1] + ', "entries": ' + page.text + "}\n"
    return _cached(Response(body, mimetype="application/json"), etag)


def _cached(response: Response, etag: str) -> Response:
    response.set_etag(etag, weak=True)
    # The viewer's own entry is in it: a client may keep it, a shared proxy not.
    response.headers["Cache-Control"] = "private, no-cache"
    return response


def _final(submission_id: int, final: bool) -> ResponseReturnValue:
    user = g.api_user
    submission = db.session.get(Submission, submission_id)
    if submission is None or not (user.manages(submission.phase.track.challenge_id) or
                                  any(m.user_id == user.id for m in submission.team.memberships)):
        return api_error(404, f"no submission {submission_id} of yours")
    try:
        picks.set_final(user, submission, final)
    except picks.PickError as exc:
        return api_error(exc.status, exc.message)
    phase = submission.phase
    return jsonify({"id": submission.id, "final": submission.final, "limit": phase.final_picks,
                    "marked": [s.id for s in picks.marked(phase, submission.team_id)]})


@bp.put("/submissions/<int:submission_id>/final")
@token_required
def mark_final(submission_id: int) -> ResponseReturnValue:
    return _final(submission_id, True)


@bp.delete("/submissions/<int:submission_id>/final")
@token_required
def unmark_final(submission_id: int) -> ResponseReturnValue:
    return _final(submission_id, False)
