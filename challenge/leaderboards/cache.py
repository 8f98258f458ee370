"""The computed leaderboards of a phase and their rendered pages, kept in Redis.

A board costs a query and a paired bootstrap per entry, so it is computed once per
change of the phase, not per request, and each rendered page (HTML table or JSON
entries) once per board version. Keys, all under ``leaderboard:{phase}``:

- ``version``: a counter every writer bumps after its commit (``bump``; the session
  hook below does it for every ORM write to a score, a submission's board-relevant
  columns, a team, a track or a phase). No per-request database fingerprint: a
  request reads the counter and the cached page with two Redis round trips.
- ``changes``: what each version changed, ``score:<submission>:<team>`` (a new score,
  which the next computation applies incrementally: only that team's entry moves) or
  ``all`` (anything else: moderation, rescoring, picks, settings: computed in full).
- ``board:{variant}`` and ``board:{variant}:v``: the last computed board and the
  version it was computed at. It is kept past newer versions on purpose: while one
  process recomputes under ``lock:{variant}`` (SET NX with an expiry), every other
  reader is served this previous board (stale-while-revalidate, no stampede).
- ``page:{variant}:...:v{n}``: rendered pages of board version ``n``.
- ``pairs``: paired comparisons by the pair of submissions and their score stamps.

Redis being down only costs speed: callers compute the board directly.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterable
from typing import Any

import orjson
import redis
from sqlalchemy import BigInteger, case, cast, event, func, inspect, select
from sqlalchemy.orm import Session

from challenge.extensions import db
from challenge.models import Phase, Score, Submission, Team, Track
from challenge.queue import get_redis

log = logging.getLogger(__name__)

#: A board or page nobody asks for again expires; any change makes a new page key anyway.
TTL_SECONDS = 24 * 3600
#: A recompute that takes longer than this (a killed process) loses its lock.
LOCK_SECONDS = 60
#: An incremental update applies at most this many new scores; more: a full computation.
MAX_INCREMENTAL = 200
ALL = "all"


def _key(phase_id: int, *parts: str) -> str:
    return ":".join(("leaderboard", str(phase_id), *parts))


# ------------------------------------------------------------------ versions

# INCR and record the change in one step, so a reader never sees a version without
# knowing what it changed (a missing change reads as "all": merely slower).
_BUMP = """
local v = redis.call('INCR', KEYS[1])
redis.call('HSET', KEYS[2], v, ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return v
"""


def version(phase_id: int) -> int:
    """The phase's current board version (0 when never bumped or Redis lost it)."""
    return int(get_redis().get(_key(phase_id, "version")) or 0)


def bump(phase_id: int, change: str = ALL) -> None:
    """The phase's boards changed (``change``: ``score:<submission>:<team>`` or ``all``).
    Call after the commit: a board computed before it is stored under the old version."""
    try:
        get_redis().eval(_BUMP, 2, _key(phase_id, "version"), _key(phase_id, "changes"),
                         change, TTL_SECONDS)
    except redis.RedisError:
        # Nothing can be cached while Redis is away; pages are computed directly.
        log.warning("could not bump phase %s's leaderboard version", phase_id, exc_info=True)


def invalidate(phase_id: int) -> None:
    """Everything about the phase's boards may have changed: the next read recomputes them.
    For writers the session hook cannot see (bulk ``UPDATE`` statements)."""
    bump(phase_id, ALL)


def changes(phase_id: int, since: int, upto: int) -> list[str] | None:
    """The changes of versions ``since + 1 .. upto``; None if any is unknown."""
    if upto - since > MAX_INCREMENTAL or upto < since:
        return None
    if upto == since:
        return []
    values = get_redis().hmget(_key(phase_id, "changes"), [str(v) for v in range(since + 1, upto + 1)])
    if any(v is None for v in values):
        return None
    return [v.decode() for v in values]


# ------------------------------------------------------------------ who bumps: every ORM write

#: Columns of a submission that a board shows or ranks by.
SUBMISSION_COLUMNS = ("status", "moderation", "final", "extra_data", "method", "created_at",
                      "team_id", "phase_id")
TEAM_COLUMNS = ("name", "moderation", "is_reference")
_PENDING = "leaderboard_changes"


def _changed(obj: Any, names: Iterable[str]) -> bool:
    state = inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in names)


def _submission_change(session: Session, submission: Submission) -> str | None:
    """How a flushed submission changes the boards: None (it does not), ``score:...`` (it
    was just scored, nothing else changed) or ``all``."""
    if submission in session.new:
        return None  # a new upload is queued, not on any board yet
    status = inspect(submission).attrs.status.history
    was_scored = "scored" in (status.deleted or ()) or "scored" in (status.unchanged or ())
    if submission in session.deleted:
        return ALL if was_scored or submission.status == "scored" else None
    if not _changed(submission, SUBMISSION_COLUMNS):
        return None
    is_scored = submission.status == "scored"
    if not (was_scored or is_scored):
        return None  # queued -> running -> failed: never on a board
    if is_scored and not was_scored and not _changed(
            submission, [c for c in SUBMISSION_COLUMNS if c != "status"]):
        return f"score:{submission.id}:{submission.team_id}"
    return ALL


def _phase_of_score(session: Session, score: Score) -> int | None:
    submission = session.identity_map.get(inspect(Submission).identity_key_from_primary_key(
        (score.submission_id,)))
    if submission is not None:
        return submission.phase_id
    return session.connection().execute(
        select(Submission.phase_id).where(Submission.id == score.submission_id)).scalar()


def _after_flush(session: Session, _context: Any) -> None:
    """Collect the phases whose boards this flush changed, and how (bumped after commit)."""
    pending: dict[int, set[str]] = session.info.setdefault(_PENDING, {})
    teams: set[int] = set()
    tracks: set[int] = set()
    scored_now: set[int] = set()

    def mark(phase_id: int | None, change: str = ALL) -> None:
        if phase_id is not None:
            pending.setdefault(phase_id, set()).add(change)

    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Submission):
            change = _submission_change(session, obj)
            if change is not None:
                mark(obj.phase_id, change)
                if change != ALL:
                    scored_now.add(obj.id)
        elif isinstance(obj, Team) and (obj in session.deleted or
                                        (obj not in session.new and _changed(obj, TEAM_COLUMNS))):
            teams.add(obj.challenge_id)
        # A new submission joins its phase's collection, which alone changes no board.
        elif isinstance(obj, Phase) and obj not in session.new and \
                session.is_modified(obj, include_collections=False):
            mark(obj.id)
        elif isinstance(obj, Track) and obj not in session.new and \
                session.is_modified(obj, include_collections=False):
            tracks.add(obj.id)
    for obj in (*session.new, *session.dirty, *session.deleted):
        # A published score written or changed; a rescoring candidate (no submission_id)
        # is not on any board, and a new score of a submission just scored is that change.
        if isinstance(obj, Score) and obj.submission_id is not None and not (
                obj in session.new and obj.submission_id in scored_now):
            mark(_phase_of_score(session, obj))
    if teams or tracks:
        query = select(Phase.id).join(Track, Track.id == Phase.track_id)
        query = query.where(Track.challenge_id.in_(teams) | Track.id.in_(tracks))
        for phase_id in session.connection().execute(query).scalars():
            mark(phase_id)


def _after_commit(session: Session) -> None:
    pending: dict[int, set[str]] = session.info.pop(_PENDING, {})
    for phase_id, kinds in pending.items():
        # A score change alongside anything else is just "all".
        kind = next(iter(kinds)) if len(kinds) == 1 else ALL
        bump(phase_id, kind)


def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


def track_writes() -> None:
    """Bump the boards' versions after every commit that changed what they show."""
    if not event.contains(db.session, "after_flush", _after_flush):
        event.listen(db.session, "after_flush", _after_flush)
        event.listen(db.session, "after_commit", _after_commit)
        event.listen(db.session, "after_soft_rollback", lambda s, _t: _after_rollback(s))


# ------------------------------------------------------------------ the safety net

def _flagged(flag: Any) -> Any:
    """Sum of the ids (and of their squares) of submissions with ``flag`` set: changes
    whenever a team flips the flag on any submission."""
    return (func.coalesce(func.sum(case((flag, Submission.id), else_=0)), 0),
            # BigInteger: a square of an id past 46,340 overflows PostgreSQL's integer.
            func.coalesce(func.sum(case((flag, cast(Submission.id, BigInteger) * Submission.id),
                                        else_=0)), 0))


def fingerprint(phase_id: int) -> str:
    """The phase's scored submissions in one indexed aggregate query: how many, the latest
    score time, which are final picks, used outside data or are moderated. Not read per
    request: each process compares it with the stored board's every ``CHECK_SECONDS``,
    a net for changes no bump announced (Redis away at the commit, SQL by hand)."""
    count, latest, *flags = db.session.execute(
        select(func.count(Score.id), func.max(Score.scored_at), *_flagged(Submission.final),
               *_flagged(Submission.extra_data), *_flagged(Submission.moderation != ""))
        .join(Submission, Submission.id == Score.submission_id)
        .where(Submission.phase_id == phase_id, Submission.status == "scored")
    ).one()
    return f"{count}-{latest.timestamp() if latest is not None else 0}-{'-'.join(map(str, flags))}"


# ------------------------------------------------------------------ computed boards

#: Entries per stored chunk: one page of the board in rank order.
CHUNK = 100
#: How long the previous version's chunks stay readable once a newer one is stored:
#: long enough for readers that read the old pointer to finish.
STALE_SECONDS = 120
#: Rendered pages: a version nobody reads any more expires.
PAGE_TTL_SECONDS = 3600


def _pointer_key(phase_id: int, variant: str) -> str:
    return _key(phase_id, "board", variant, "v")


def _chunk_key(phase_id: int, variant: str, board_version: int, n: int) -> str:
    return _key(phase_id, "board", variant, f"v{board_version}", f"c{n}")


def _order_key(phase_id: int, variant: str, board_version: int) -> str:
    return _key(phase_id, "board", variant, f"v{board_version}", "teams")


def load_order(phase_id: int, variant: str, board_version: int) -> list[int] | None:
    """The team ids of a stored board version in rank order (to find a viewer's entry)."""
    raw = get_redis().get(_order_key(phase_id, variant, board_version))
    return None if raw is None else orjson.loads(raw)


Stored = tuple[int, int, str]  # a stored board: its version, number of entries, fingerprint


def _stored(raw: bytes | None) -> Stored | None:
    if not raw:
        return None
    ver, total, fp = raw.decode().split(":", 2)
    return int(ver), int(total), fp


def board_version(phase_id: int, variant: str) -> tuple[int, Stored | None]:
    """(current version, (version, entries, fingerprint) of the stored board or None),
    one round trip."""
    current, stored = get_redis().mget(_key(phase_id, "version"), _pointer_key(phase_id, variant))
    return int(current or 0), _stored(stored)


# The version, the stored board's pointer and, for that board version, one rendered page:
# a warm read in one round trip. (The page key is derived, not declared: standalone Redis.)
_PEEK = """
local current = redis.call('GET', KEYS[1])
local stored = redis.call('GET', KEYS[2])
local page = false
if stored then
  page = redis.call('GET', ARGV[1] .. ':v' .. string.match(stored, '^(%d+):'))
end
return {current or false, stored or false, page}
"""


def peek(phase_id: int, variant: str, page_name: str) -> tuple[int, Stored | None, str | None]:
    """``board_version`` and the stored board version's page ``page_name`` (None if not
    rendered yet), in one round trip."""
    current, stored, page = get_redis().eval(
        _PEEK, 2, _key(phase_id, "version"), _pointer_key(phase_id, variant),
        _key(phase_id, "page", variant, page_name))
    return int(current or 0), _stored(stored or None), page.decode() if page else None


def chunks(total: int) -> int:
    return max(1, -(-total // CHUNK))


def store_board(phase_id: int, variant: str, board_version: int, rows: list[dict[str, Any]],
                previous: Stored | None, fingerprint: str) -> None:
    """Store a computed board's rows (rank order) in chunks, then point readers at it; the
    previous version's chunks expire shortly after (readers of the old pointer finish)."""
    pipe = get_redis().pipeline()
    for n in range(chunks(len(rows))):
        pipe.set(_chunk_key(phase_id, variant, board_version, n),
                 orjson.dumps(rows[n * CHUNK:(n + 1) * CHUNK]), ex=TTL_SECONDS)
    pipe.set(_order_key(phase_id, variant, board_version), orjson.dumps([r["team_id"] for r in rows]),
             ex=TTL_SECONDS)
    pipe.set(_pointer_key(phase_id, variant), f"{board_version}:{len(rows)}:{fingerprint}", ex=TTL_SECONDS)
    pipe.execute()
    if previous is not None and previous[0] != board_version:
        pipe = get_redis().pipeline()
        pipe.expire(_order_key(phase_id, variant, previous[0]), STALE_SECONDS)
        for n in range(chunks(previous[1])):
            pipe.expire(_chunk_key(phase_id, variant, previous[0], n), STALE_SECONDS)
        pipe.execute()


def load_rows(phase_id: int, variant: str, board_version: int, total: int,
              first: int = 0, count: int | None = None) -> list[dict[str, Any]] | None:
    """Stored rows ``first .. first + count`` of a board version (all by default); None if gone."""
    last = total if count is None else min(total, first + count)
    numbers = range(first // CHUNK, chunks(last) if last else 1)
    raw = get_redis().mget([_chunk_key(phase_id, variant, board_version, n) for n in numbers])
    if any(r is None for r in raw):
        return None
    rows = [row for r in raw for row in orjson.loads(r)]
    offset = numbers.start * CHUNK
    return rows[first - offset:last - offset]


def lock(phase_id: int, variant: str) -> str | None:
    """Take the board's recompute lock; the token to release it, or None if held."""
    token = secrets.token_hex(8)
    if get_redis().set(_key(phase_id, "lock", variant), token, nx=True, ex=LOCK_SECONDS):
        return token
    return None


_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def unlock(phase_id: int, variant: str, token: str) -> None:
    """Release the lock if still ours (an expired lock may have gone to another process)."""
    try:
        get_redis().eval(_RELEASE, 1, _key(phase_id, "lock", variant), token)
    except redis.RedisError:
        log.warning("could not release phase %s's board lock", phase_id, exc_info=True)


def page_key(phase_id: int, variant: str, name: str, board_version: int) -> str:
    return _key(phase_id, "page", variant, name, f"v{board_version}")


def get_page(key: str) -> str | None:
    try:
        raw = get_redis().get(key)
    except redis.RedisError:
        return None
    return None if raw is None else raw.decode()


def put_page(key: str, text: str) -> None:
    try:
        get_redis().set(key, text, ex=PAGE_TTL_SECONDS)
    except redis.RedisError:
        log.warning("could not cache a leaderboard page", exc_info=True)


# ------------------------------------------------------------------ paired comparisons

def _pairs_key(phase_id: int) -> str:
    return _key(phase_id, "pairs")


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
