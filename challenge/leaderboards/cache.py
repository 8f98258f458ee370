"""The computed leaderboard of a phase, cached in Redis until its scores change.

A board costs a query and a paired bootstrap per entry, so it is computed once
per change of the phase's scores, not per request. The key holds:

- a version counter that ``invalidate`` bumps (the scoring job calls it after
  committing a score), so a board computed while a score lands is stored under
  the old version and never read again;
- the number of scored submissions and the latest score time, read with one
  cheap aggregate query, so rows written any other way (a bundle reload, a
  deleted submission, a rescore in progress) can never serve a stale board.

Redis being down only costs speed: callers compute the board directly.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import redis
from sqlalchemy import func, select

from challenge.extensions import db
from challenge.models import Score, Submission
from challenge.queue import get_redis

log = logging.getLogger(__name__)

#: A board nobody asks for again expires; any change makes a new key anyway.
TTL_SECONDS = 24 * 3600


def _version_key(phase_id: int) -> str:
    return f"leaderboard:{phase_id}:version"


def fingerprint(phase_id: int) -> str:
    """What the phase's board depends on, in one indexed aggregate query."""
    count, latest = db.session.execute(
        select(func.count(Score.id), func.max(Score.scored_at))
        .join(Submission, Submission.id == Score.submission_id)
        .where(Submission.phase_id == phase_id, Submission.status == "scored")
    ).one()
    return f"{count}:{latest.timestamp() if latest is not None else 0}"


def _board_key(phase_id: int) -> str:
    version = get_redis().get(_version_key(phase_id))
    return f"leaderboard:{phase_id}:v{int(version or 0)}:{fingerprint(phase_id)}"


def get_or_compute(phase_id: int, compute: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The cached board rows of the phase, or ``compute()``'s (then stored).

    ``compute`` returns JSON-able rows; callers turn them into objects.
    """
    try:
        key = _board_key(phase_id)
        cached = get_redis().get(key)
    except redis.RedisError:
        log.warning("leaderboard cache unavailable; computing phase %s's board", phase_id,
                    exc_info=True)
        return compute()
    if cached is not None:
        return json.loads(cached)
    rows = compute()
    try:
        get_redis().set(key, json.dumps(rows), ex=TTL_SECONDS)
    except redis.RedisError:
        log.warning("could not cache phase %s's board", phase_id, exc_info=True)
    return rows


def invalidate(phase_id: int) -> None:
    """A score of the phase changed: the next request recomputes its board."""
    try:
        get_redis().incr(_version_key(phase_id))
    except redis.RedisError:
        # The fingerprint still changes with the new score; nothing stale is served.
        log.warning("could not bump phase %s's leaderboard version", phase_id, exc_info=True)
