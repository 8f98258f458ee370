"""API routes: challenges, their tracks and phases (public data only)."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from flask.typing import ResponseReturnValue

from challenge import scoring
from challenge.api.auth import api_error, token_optional
from challenge.api.views import bp
from challenge.challenges import service
from challenge.models import Challenge, Phase, Track


def phase_json(phase: Phase) -> dict[str, Any]:
    return {
        "slug": phase.slug, "title": phase.title, "opens_at": phase.opens_at.isoformat(),
        "closes_at": phase.closes_at.isoformat(), "status": service.phase_status(phase),
        "images": phase.images,
        "quota": {"count": phase.quota_count, "period": phase.quota_period},
        "leaderboard": phase.leaderboard,
    }


def track_json(track: Track) -> dict[str, Any]:
    task = scoring.task_of(track)
    return {"slug": track.slug, "title": track.title, "task": track.task,
            "guesses": track.guesses, "headline": task.headline, "direction": task.direction,
            "columns": task.describe()["columns"], "phases": [phase_json(p) for p in track.phases]}


def challenge_summary(challenge: Challenge) -> dict[str, Any]:
    return {"slug": challenge.slug, "year": challenge.year, "title": challenge.title,
            "tracks": [t.slug for t in challenge.tracks]}


@bp.get("/challenges")
@token_optional
def list_challenges() -> ResponseReturnValue:
    return jsonify({"challenges": [challenge_summary(c) for c in service.all_challenges()]})


@bp.get("/challenges/<slug>")
@token_optional
def get_challenge(slug: str) -> ResponseReturnValue:
    challenge = service.get_challenge(slug)
    if challenge is None:
        return api_error(404, f"no challenge {slug!r}")
    return jsonify({**challenge_summary(challenge), "description": challenge.description,
                    "tracks": [track_json(t) for t in challenge.tracks]})
