"""API routes: a track's leaderboard for a phase, honouring the phase's visibility."""

from __future__ import annotations

from typing import Any

from flask import g, jsonify, request
from flask.typing import ResponseReturnValue

from challenge.api.auth import api_error, token_optional
from challenge.api.challenges import phase_json
from challenge.api.views import bp
from challenge.challenges import service
from challenge.leaderboards.service import Entry, leaderboard
from challenge.leaderboards.visibility import board_visible


def entry_json(entry: Entry, task: str) -> dict[str, Any]:
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
    }
    if task == "localization":
        row["cls_error"] = entry.cls_error
    return row


@bp.get("/challenges/<slug>/tracks/<track_slug>/leaderboard")
@token_optional
def get_leaderboard(slug: str, track_slug: str) -> ResponseReturnValue:
    challenge = service.get_challenge(slug)
    track = service.get_track(challenge, track_slug) if challenge else None
    if challenge is None or track is None:
        return api_error(404, f"no track {track_slug!r} in challenge {slug!r}")
    phase_slug = request.args.get("phase")
    phase = service.select_phase(track, phase_slug)
    if phase is None:
        return api_error(404, f"no phase {phase_slug!r} in track {track_slug!r}"
                         if phase_slug else f"track {track_slug!r} has no phases")
    viewer = g.api_user
    return jsonify({
        "phase": phase_json(phase),
        "visible": board_visible(phase, viewer),
        "entries": [entry_json(e, track.task) for e in leaderboard(phase, viewer)],
    })
