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
from sqlalchemy import BigInteger, case, cast, func, select

from challenge.extensions import db
from challenge.models import Score, Submission
from challenge.queue import get_redis

log = logging.getLogger(__name__)

#: A board nobody asks for again expires; any change makes a new key anyway.
TTL_SECONDS = 24 * 3600


def _version_key(phase_id: int) -> str:
    return f"leaderboard:{phase_id}:version"


def _flagged(flag: Any) -> Any:
    """Sum of the ids (and of their squares) of submissions with ``flag`` set: changes
    whenever a team flips the flag on any submission."""
    return (func.coalesce(func.sum(case((flag, Submission.id), else_=0)), 0),
            # BigInteger: a square of an id past 46,340 overflows PostgreSQL's integer.
            func.coalesce(func.sum(case((flag, cast(Submission.id, BigInteger) * Submission.id),
                                        else_=0)), 0))


def fingerprint(phase_id: int) -> str:
    """What the phase's board depends on, in one indexed aggregate query: its scores, and
    which submissions are final picks or used outside data (the private board and the
    'provided data only' ranking)."""
    count, latest, *flags = db.session.execute(
        select(func.count(Score.id), func.max(Score.scored_at),
               *_flagged(Submission.final), *_flagged(Submission.extra_data))
        .join(Submission, Submission.id == Score.submission_id)
        .where(Submission.phase_id == phase_id, Submission.status == "scored")
    ).one()
    return f"{count}:{latest.timestamp() if latest is not None else 0}:{':'.join(map(str, flags))}"


def _board_key(phase_id: int) -> str:
    version = get_redis().get(_version_key(phase_id))
    return f"leaderboard:{phase_id}:v{int(version or 0)}:{fingerprint(phase_id)}"


def _get_or_make(phase_id: int, variant: str, make: Callable[[], str]) -> str:
    try:
        key = f"{_board_key(phase_id)}:{variant}"
        cached = get_redis().get(key)
    except redis.RedisError:
        log.warning("leaderboard cache unavailable; computing phase %s's board", phase_id,
                    exc_info=True)
        return make()
    if cached is not None:
        return cached.decode()
    text = make()
    try:
        get_redis().set(key, text, ex=TTL_SECONDS)
    except redis.RedisError:
        log.warning("could not cache phase %s's board", phase_id, exc_info=True)
    return text


def get_or_compute(phase_id: int, compute: Callable[[], list[dict[str, Any]]],
                   variant: str = "") -> list[dict[str, Any]]:
    """The cached board rows of the phase, or ``compute()``'s (then stored).

    ``compute`` returns JSON-able rows; callers turn them into objects. ``variant``
    names which of the phase's boards (public/private, ranking, frozen or live).
    """
    return json.loads(_get_or_make(phase_id, f"rows:{variant}", lambda: json.dumps(compute())))


def get_or_render(phase_id: int, variant: str, render: Callable[[], str]) -> str:
    """A rendered view of the board (e.g. the HTML table in one sort order), cached
    like the board itself: rendering a thousand rows costs more than reading them."""
    return _get_or_make(phase_id, f"html:{variant}", render)


def _pairs_key(phase_id: int) -> str:
    return f"leaderboard:{phase_id}:pairs"


def cached_pairs(phase_id: int, fields: list[str]) -> dict[str, list[float]]:
    """Paired comparisons already computed, by field (see ``store_pairs``).

    A comparison depends only on the two scores it compares, so after a new
    score only the pairs next to it are computed again.
    """
    if not fields:
        return {}
    try:
        values = get_redis().hmget(_pairs_key(phase_id), fields)
    except redis.RedisError:
        return {}
    return {f: json.loads(v) for f, v in zip(fields, values, strict=True) if v is not None}


def store_pairs(phase_id: int, results: dict[str, list[float]]) -> None:
    if not results:
        return
    try:
        pipe = get_redis().pipeline()
        pipe.hset(_pairs_key(phase_id), mapping={f: json.dumps(v) for f, v in results.items()})
        pipe.expire(_pairs_key(phase_id), TTL_SECONDS * 30)
        pipe.execute()
    except redis.RedisError:
        log.warning("could not cache phase %s's paired comparisons", phase_id, exc_info=True)


def invalidate(phase_id: int) -> None:
    """A score of the phase changed: the next request recomputes its board."""
    try:
        get_redis().incr(_version_key(phase_id))
    except redis.RedisError:
        # The fingerprint still changes with the new score; nothing stale is served.
        log.warning("could not bump phase %s's leaderboard version", phase_id, exc_info=True)
