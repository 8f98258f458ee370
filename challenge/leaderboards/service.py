"""Leaderboards: each team's best scored submission in a phase, ranked.

The headline number is ``Score.error`` (an error, a cost, or a mean AP), and its
task (``scorer.tasks``) says whether lower or higher is better: rows carry
``_s``, the headline signed so that ascending order is best first. Equal headlines
share a rank (1, 2, 2, 4); within a team, the best headline wins and the earlier
upload breaks a tie, so resubmitting the same file never moves a team.

Each entry is compared with the entry above it by a paired bootstrap, as its task
compares two submissions (``Task.paired``: per-image outcomes with
``scorer.paired_bootstrap``; detection's image-paired replicates of mean AP);
consecutive entries that are not significantly different share a tie group.

A phase may have several boards (``Board``): a split phase ranks its public
board on the public images and its private board on the rest, over each team's
final picks; a phase that asks for ILSVRC's two rankings has "all entries" and
"provided data only"; a frozen public board counts only uploads from before the
freeze. Who may see which board is decided in ``visibility``.
"""

from __future__ import annotations

import logging
import time
from bisect import insort
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any

import numpy as np
import redis
from sqlalchemy import JSON, literal, select

import scorer
from challenge import scoring, splits
from challenge.extensions import db
from challenge.leaderboards import cache, real
from challenge.leaderboards.visibility import board_sight
from challenge.models import Phase, Score, Submission, Team, User

log = logging.getLogger(__name__)

#: How the tie groups are decided, for the page and the exports.
METHOD = (
    "Each entry is compared with the entry above it by a paired bootstrap over the test "
    "images (1,000 resamples of the images, both submissions scored on the same resample; "
    "seeded, so the board is reproducible). If the 95% interval of the difference in error "
    "contains 0, the two are not significantly different and share a tie group."
)
BOOTSTRAP = 1000
LEVEL = 0.95

#: ``?sort=`` keys of the HTML board: the ranking, and every number column (``won``:
#: categories won; ReaL's); their orders are ``pages._ROW_SORTS``.
SORTS = ("rank", "error", "top1", "cls_error", "won", "team", "submitted", "real_top1", "real_top5")


@dataclass(frozen=True)
class Entry:
    rank: int | None  # None for a reference entry (an organizers' baseline): never ranked
    team_id: int
    team: str
    submission_id: int
    method: str
    submitted_at: datetime
    error: float
    error_at_k: list[float]
    cls_error: float | None
    ci_low: float
    ci_high: float
    # Against the entry above: error difference (this minus above) and its 95%
    # interval; None for the first entry or when outcomes are missing.
    diff: float | None = None
    diff_low: float | None = None
    diff_high: float | None = None
    group: int = 1
    reference: bool = False  # an organizers' reference entry: shown, unranked, group 0
    outside_data: bool = False  # trained on data beyond what the challenge provided
    # Tasks with the "categories" ranking (detection): classes where this entry has the best
    # per-class number among the board's ranked entries.
    won: int | None = None
    # ReaL error at k = 1..K on a phase with ReaL labels (leaderboards.real), else None.
    real_error_at_k: list[float | None] | None = None

    @property
    def significant(self) -> bool | None:
        """Is this entry significantly worse than the one above? None if untested."""
        if self.diff_low is None or self.diff_high is None:
            return None
        return not (self.diff_low <= 0.0 <= self.diff_high)

    def to_json(self) -> dict[str, Any]:
        # Shallow on purpose: ``asdict`` deep-copies, a third of a 1,000-team board's time.
        row = {f.name: getattr(self, f.name) for f in fields(self)}
        row["submitted_at"] = self.submitted_at.isoformat()
        return row

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> Entry:
        # Keys with a leading underscore are the stored board's own (sort key, score stamp).
        data = {k: v for k, v in row.items() if not k.startswith("_")}
        return cls(**{**data, "submitted_at": datetime.fromisoformat(row["submitted_at"])})


RANKINGS = ("all", "provided")
#: ILSVRC DET's second ranking: by categories won (``scorer.tasks.Task.rankings``).
CATEGORIES = "categories"


@dataclass(frozen=True)
class Board:
    """One board of a phase: the public or the private one (split phases), all entries or
    provided-data entries only, live or as it stood at the freeze."""

    name: str = "public"
    ranking: str = "all"
    live: bool = True

    def variant(self, phase: Phase) -> str:
        # Everything about the phase that shapes this board, so editing a setting never
        # serves a board computed under the old one.
        settings = f"{splits.split_key(phase) if splits.is_split(phase) else '-'}:{phase.final_picks}:" \
                   f"{phase.frozen_at.timestamp() if phase.frozen_at else '-'}"
        live = "live" if self.live or phase.frozen_at is None else "frozen"
        return f"{self.name}:{self.ranking}:{live}:{settings}"


def board_names(phase: Phase) -> tuple[str, ...]:
    return ("public", "private") if splits.is_split(phase) else ("public",)


def rankings(phase: Phase) -> tuple[str, ...]:
    """The phase's rankings: ILSVRC's 'provided data only' next to 'all entries' when asked for,
    and those its task adds (detection: 'categories', by categories won)."""
    base = RANKINGS if phase.separate_outside_data else ("all",)
    return base + scoring.task_of(phase.track).rankings


def check_board(phase: Phase, board: str, ranking: str) -> None:
    """Raise ValueError naming the allowed values unless the phase has this board and ranking."""
    if board not in board_names(phase):
        raise ValueError(f"unknown board {board!r}; this phase has: {', '.join(board_names(phase))}")
    if ranking not in rankings(phase):
        raise ValueError(f"unknown ranking {ranking!r}; this phase has: {', '.join(rankings(phase))}")


@dataclass(frozen=True, slots=True)
class Scored:
    """The light columns of one scored submission that ranking needs (no blobs, no details)."""

    submission_id: int
    team_id: int
    team: str
    method: str
    created_at: datetime
    extra_data: bool
    final: bool
    score_id: int
    error: float
    error_at_k: list[float]
    cls_error: float | None
    ci_low: float
    ci_high: float
    scored_at: datetime
    subsets: dict[str, Any] | None
    reference: bool
    details: dict[str, Any] | None = None  # read only on phases that show ReaL error


Row = tuple[Scored, dict[str, Any]]


def _numbers(phase: Phase, board: str, row: Scored) -> dict[str, Any] | None:
    """The score's numbers on the board's images (None: nothing to rank it by)."""
    if not splits.is_split(phase):
        return {"error": row.error, "error_at_k": list(row.error_at_k),
                "cls_error": row.cls_error, "ci95": [row.ci_low, row.ci_high]}
    subsets = row.subsets
    if subsets is None or subsets.get("key") != splits.split_key(phase):
        # Scored under another split (or before subsets were stored): recomputed from the
        # outcomes, the one case that loads them.
        score = db.session.get(Score, row.score_id)
        subsets = splits.scores_of(phase, score) if score is not None else None
    if subsets is None or subsets[board]["error"] is None:
        return None
    return subsets[board]


def _light(row: Scored, score: Score) -> Scored:
    """``row`` with ``score``'s numbers (a rescoring candidate standing in for the published one)."""
    return replace(row, score_id=score.id, error=score.error, error_at_k=list(score.error_at_k),
                   cls_error=score.cls_error, ci_low=score.ci_low, ci_high=score.ci_high,
                   scored_at=score.scored_at, subsets=score.subsets,
                   details=score.details if row.details is not None else None)


def _scored(phase: Phase, board: Board, reference: bool | None,
            team_ids: set[int] | None = None) -> list[Scored]:
    """The board's candidate rows (of ``team_ids`` only, if given); ``reference`` None: both kinds."""
    split = splits.is_split(phase)
    query = (
        select(Submission.id, Submission.team_id, Team.name, Submission.method, Submission.created_at,
               Submission.extra_data, Submission.final, Score.id, Score.error, Score.error_at_k,
               Score.cls_error, Score.ci_low, Score.ci_high, Score.scored_at,
               Score.subsets if split else literal(None, JSON), Team.is_reference,
               Score.details if real.shows_real(phase) else literal(None, JSON))
        .join(Score, Score.submission_id == Submission.id)
        .join(Team, Team.id == Submission.team_id)
        .where(Submission.phase_id == phase.id, Submission.status == "scored")
        # Hidden or disqualified entries stay off the boards; reference entries are added
        # unranked by _with_references (challenge.moderation, the console's baselines).
        .where(Submission.moderation == "", Team.moderation == "")
        .order_by(Submission.created_at, Submission.id)
    )
    if reference is not None:
        query = query.where(Team.is_reference.is_(reference))
    if team_ids is not None:
        query = query.where(Submission.team_id.in_(sorted(team_ids)))
    if board.ranking == "provided":
        query = query.where(Submission.extra_data.is_(False))
    if not board.live and board.name == "public" and phase.frozen_at is not None:
        query = query.where(Submission.created_at < phase.frozen_at)
    return [Scored(*r) for r in db.session.execute(query)]


def _sign(phase: Phase) -> float:
    """+1 when the track's headline is better lower, -1 when higher (``scorer.tasks``)."""
    return -1.0 if scoring.task_of(phase.track).higher_is_better else 1.0


def _keyer(phase: Phase) -> Any:
    sign = _sign(phase)

    def key(row: Row) -> tuple[float, datetime, int]:
        # Best headline first; the earlier upload breaks a tie, so resubmitting never moves a team.
        return (sign * row[1]["error"], row[0].created_at, row[0].submission_id)
    return key


def _picks(phase: Phase, rows: list[Scored]) -> list[Scored]:
    """A team's submissions that count on the private board: those it marked final, or else
    its ``final_picks`` best by public error."""
    marked = [r for r in rows if r.final]
    if marked:
        return marked
    public = [(r, n) for r in rows if (n := _numbers(phase, "public", r)) is not None]
    return [r for r, _ in sorted(public, key=_keyer(phase))[: phase.final_picks]]


def _best_of(phase: Phase, board: Board, rows: list[Scored], reference: bool,
             scores: Mapping[int, Score] | None = None) -> list[Row]:
    """Each team's best entry among ``rows`` on ``board``, best first; ``scores`` (submission
    id -> Score) stand in for the published ones (a rescoring preview)."""
    by_team: dict[int, list[Scored]] = {}
    for row in rows:
        if scores and row.submission_id in scores:
            row = _light(row, scores[row.submission_id])
        by_team.setdefault(row.team_id, []).append(row)
    best: list[Row] = []
    _key = _keyer(phase)
    for team_rows in by_team.values():
        if board.name == "private" and not reference:
            team_rows = _picks(phase, team_rows)
        numbered = [(r, n) for r in team_rows if (n := _numbers(phase, board.name, r)) is not None]
        if numbered:
            best.append(min(numbered, key=_key))
    return sorted(best, key=_key)


def _best_per_team(phase: Phase, board: Board = Board(), reference: bool = False,
                   scores: Mapping[int, Score] | None = None) -> list[Row]:
    return _best_of(phase, board, _scored(phase, board, reference), reference, scores)


def _samples(phase: Phase, submission_ids: set[int]) -> dict[int, Any]:
    """What the task pairs two submissions by (``Task.samples``: per-image errors and
    inclusion masks; detection's bootstrap replicates), of those with outcomes."""
    track = phase.track
    task = scoring.task_of(track)
    if task.samples is None or task.paired is None:
        return {}
    ids = sorted(submission_ids)
    out: dict[int, Any] = {}
    for start in range(0, len(ids), 500):  # keep IN lists modest
        rows = db.session.execute(
            select(Score.submission_id, Score.outcomes)
            .where(Score.submission_id.in_(ids[start:start + 500]))
        )
        for submission_id, packed in rows:
            found = None if packed is None else task.samples(packed, track.guesses, phase.images)
            if found is not None:
                out[submission_id] = found
    return out


def _pair_field(above: tuple[int, float], below: tuple[int, float], board: str = "") -> str:
    # A rescore rewrites the Score (new scored_at), so its old comparisons are never reused;
    # on a split phase the pair is compared on the board's images only.
    return f"{above[0]}@{above[1]}:{below[0]}@{below[1]}:b{BOOTSTRAP}:l{LEVEL}{board}"


def _stamp(row: dict[str, Any]) -> tuple[int, float]:
    return (row["submission_id"], row["_stamp"])


def _fields(phase: Phase, rows: list[dict[str, Any]], board: str, which: list[int]) -> dict[int, str]:
    """The pair field of rows ``which`` (indexes from 1) with the row above each."""
    subset = f":{board}:{splits.split_key(phase)}" if splits.is_split(phase) else ""
    return {i: _pair_field(_stamp(rows[i - 1]), _stamp(rows[i]), subset) for i in which}


def _aboves(rows: list[dict[str, Any]]) -> dict[int, tuple[int, float]]:
    """Each row's submission -> the score above it (submission, stamp): whose comparison
    the row holds."""
    return {rows[i]["submission_id"]: _stamp(rows[i - 1]) for i in range(1, len(rows))}


def _compare(phase: Phase, rows: list[dict[str, Any]], board: str = "public",
             held: dict[int, tuple[int, float]] | None = None) -> None:
    """Fill each row's paired comparison with the row above, and the tie groups, in place.

    A row whose comparison is ``held`` (its submission -> the score above it when the
    row's numbers were computed: a previous board's rows, reused by an update) keeps
    it; the others come from the cache, and only those missing there load outcomes and
    are bootstrapped.
    """
    if not rows:
        return
    held = held or {}
    todo = [i for i in range(1, len(rows)) if held.get(rows[i]["submission_id"]) != _stamp(rows[i - 1])]
    fields_ = _fields(phase, rows, board, todo)
    known = cache.cached_pairs(phase.id, list(fields_.values()))
    missing = [i for i in todo if fields_[i] not in known]
    task = scoring.task_of(phase.track)
    samples = _samples(phase, {rows[j]["submission_id"] for i in missing for j in (i - 1, i)})
    mask = splits.subset_mask(phase, board) if splits.is_split(phase) else None
    fresh: dict[str, list[float]] = {}
    for i in missing:
        mine, theirs = samples.get(rows[i]["submission_id"]), samples.get(rows[i - 1]["submission_id"])
        if mine is None or theirs is None or task.paired is None:
            continue  # nothing to pair
        result = task.paired(theirs, mine, mask, bootstrap=BOOTSTRAP, level=LEVEL,
                             point=rows[i]["error"] - rows[i - 1]["error"])
        if result is None:
            continue  # the two cover different images (another ground-truth version)
        fresh[fields_[i]] = [result.difference, result.low, result.high]
    cache.store_pairs(phase.id, fresh)
    known.update(fresh)
    rows[0]["diff"] = rows[0]["diff_low"] = rows[0]["diff_high"] = None
    for i in todo:
        pair = known.get(fields_[i])
        rows[i]["diff"], rows[i]["diff_low"], rows[i]["diff_high"] = \
            pair if pair is not None else (None, None, None)
    significant = [False]
    for i in range(1, len(rows)):
        row = rows[i]
        if row["diff_low"] is None or row["diff_high"] is None:
            # Without outcomes to pair, only a different headline error separates two entries.
            significant.append(row["error"] != rows[i - 1]["error"])
        else:
            significant.append(not (row["diff_low"] <= 0.0 <= row["diff_high"]))
    for row, group in zip(rows, scorer.tie_groups(significant), strict=True):
        row["group"] = group


def _entry(row: Row, rank: int | None, **extra: Any) -> Entry:
    scored, numbers = row
    at_k = numbers["error_at_k"]
    return Entry(
        rank=rank, team_id=scored.team_id, team=scored.team, submission_id=scored.submission_id,
        method=scored.method, submitted_at=scored.created_at, error=numbers["error"],
        error_at_k=list(at_k) if all(x is not None for x in at_k) else [],
        cls_error=numbers.get("cls_error"), ci_low=numbers["ci95"][0], ci_high=numbers["ci95"][1],
        outside_data=scored.extra_data, real_error_at_k=real.real_of(scored.details), **extra,
    )


def _row(row: Row, sign: float, reference: bool = False) -> dict[str, Any]:
    """A stored board row: the entry's JSON and what updates need (signed headline, score
    stamp, upload time)."""
    data = _entry(row, None, group=0, reference=True) if reference else _entry(row, None)
    out = data.to_json()
    out["_s"] = sign * data.error
    out["_stamp"] = row[0].scored_at.timestamp()
    out["_t"] = row[0].created_at.timestamp()
    return out


def sort_value(row: dict[str, Any]) -> float:
    """A stored row's headline signed so that ascending is best first (rows stored before
    directions existed were all lower-is-better)."""
    return row.get("_s", row["error"])


def _row_key(row: dict[str, Any]) -> tuple[float, float, int]:
    return (sort_value(row), row["_t"], row["submission_id"])


def _rank(rows: list[dict[str, Any]]) -> None:
    """Ranks of rows sorted best first, in place: equal errors share a rank."""
    previous: float | None = None
    rank = 0
    for position, row in enumerate(rows, 1):
        if row["error"] != previous:
            rank, previous = position, row["error"]
        row["rank"] = rank


def _merge(teams: list[dict[str, Any]], references: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ranked rows with the phase's reference entries (organizers' baselines) placed
    by their error, unranked and outside the tie groups: they take no rank from a team and
    leave every team's comparison with the team above unchanged."""
    if not references:
        return teams
    merged = list(teams)
    for ref in references:
        where = next((i for i, e in enumerate(merged) if sort_value(e) > sort_value(ref)), len(merged))
        merged.insert(where, ref)
    return merged


def _categories_won(rows: list[dict[str, Any]], higher_is_better: bool) -> None:
    """Each ranked row's ``won``: the classes where its per-class number is the best among
    the rows (ties: each tied entry wins the class; classes nobody scored count for none)."""
    ids = [r["submission_id"] for r in rows]
    per_class: dict[int, Any] = {}
    for start in range(0, len(ids), 500):
        for submission_id, packed in db.session.execute(
                select(Score.submission_id, Score.per_class)
                .where(Score.submission_id.in_(ids[start:start + 500]))):
            if packed is not None:
                per_class[submission_id] = scorer.unpack_array(packed)
    sizes = {v.size for v in per_class.values()}
    if len(sizes) != 1:
        for r in rows:
            r["won"] = None if r["submission_id"] not in per_class else 0
        return
    n = next(iter(sizes))
    table = np.stack([per_class.get(i, np.full(n, np.nan)) for i in ids])
    values = np.where(np.isnan(table), -np.inf if higher_is_better else np.inf, table)
    best = values.max(axis=0) if higher_is_better else values.min(axis=0)
    wins = ((values == best) & np.isfinite(best)).sum(axis=1)
    for r, w in zip(rows, wins, strict=True):
        r["won"] = int(w)


def _by_categories(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """ILSVRC 2014's DET ranking: most categories won first, then the headline; entries with
    as many categories share a rank and a group (no bootstrap: a count of wins)."""
    rows = sorted(rows, key=lambda r: (-(r["won"] or 0), _row_key(r)))
    previous: int | None = None
    rank = group = 0
    for position, row in enumerate(rows, 1):
        if row["won"] != previous:
            rank, previous, group = position, row["won"], group + 1
        row["rank"], row["group"] = rank, group
        row["diff"] = row["diff_low"] = row["diff_high"] = None
    return rows


def _full(phase: Phase, board: Board) -> list[dict[str, Any]]:
    """Every team's best entry on ``board``, ranked and compared, straight from the database
    (rows with the reference entries merged in)."""
    rows = _scored(phase, board, None)
    sign = _sign(phase)
    teams = [_row(r, sign) for r in _best_of(phase, board, [r for r in rows if not r.reference], False)]
    _rank(teams)
    _compare(phase, teams, board.name)
    task = scoring.task_of(phase.track)
    if CATEGORIES in task.rankings and teams:
        _categories_won(teams, task.higher_is_better)
        if board.ranking == CATEGORIES:
            return _by_categories(teams)  # reference entries win no categories: not shown
    refs = [_row(r, sign, True) for r in _best_of(phase, board, [r for r in rows if r.reference], True)]
    return _merge(teams, refs)


def _update(phase: Phase, board: Board, base: list[dict[str, Any]],
            team_ids: set[int]) -> list[dict[str, Any]] | None:
    """``base`` (a computed board's rows) after new scores of ``team_ids``: each of those
    teams' entry is taken out and its new best put in at its place; only their new
    neighbours are compared again. None when a reference team changed (a full computation)."""
    if CATEGORIES in scoring.task_of(phase.track).rankings:
        return None  # one new entry can take categories from any other: computed in full
    changed = _scored(phase, board, None, team_ids)
    if any(r.reference for r in changed):
        return None
    teams = [r for r in base if not r["reference"] and r["team_id"] not in team_ids]
    references = [r for r in base if r["reference"]]
    # Comparisons held by unchanged rows stay valid while the score above is the same.
    moved = {r["submission_id"] for r in base if r["team_id"] in team_ids}
    held = {below: above for below, above in _aboves([r for r in base if not r["reference"]]).items()
            if below not in moved}
    fresh = [_row(r, _sign(phase)) for r in _best_of(phase, board, changed, False)]
    for row in fresh:
        insort(teams, row, key=_row_key)
    _rank(teams)
    _compare(phase, teams, board.name, held)
    return _merge(teams, references)


def compute(phase: Phase, board: Board = Board()) -> list[Entry]:
    """Every team's best entry on ``board``, ranked and compared, straight from the database."""
    return [Entry.from_json(r) for r in _full(phase, board)]


def ranked_with(phase: Phase, scores: Mapping[int, Score], board: Board = Board()) -> list[Entry]:
    """The board as it would be if ``scores`` (submission id -> Score, e.g. rescoring
    candidates) replaced those submissions' published scores: ranked like ``compute``,
    without the paired comparisons, uncached."""
    rows = [_row(r, _sign(phase)) for r in _best_per_team(phase, board, scores=scores)]
    _rank(rows)
    return [Entry.from_json(r) for r in rows]


@dataclass(frozen=True)
class Snapshot:
    """Which computed board to serve: its version and number of entries (rows in Redis)."""

    version: int
    total: int
    fingerprint: str = ""
    rows: list[dict[str, Any]] | None = None  # set when computed (or read) by this call
    # (page name, cached text) read with the version, when the caller named a page
    page: tuple[str, str] | None = None


#: How long a reader with nothing to serve waits for another process's computation.
WAIT_SECONDS = 20.0
#: How often each process compares a current board with the database (``cache.fingerprint``).
CHECK_SECONDS = 10.0
#: (phase, variant) -> when this process last compared it.
_checked: dict[tuple[int, str], float] = {}


def _missed_a_change(phase: Phase, variant: str, stored: cache.Stored) -> bool:
    """At most every ``CHECK_SECONDS`` per process: does the database disagree with the
    stored board (a change that bumped nothing)? Then the phase's version is bumped."""
    now = time.monotonic()
    if now - _checked.get((phase.id, variant), float("-inf")) < CHECK_SECONDS:
        return False
    _checked[(phase.id, variant)] = now
    if cache.fingerprint(phase.id) == stored[2]:
        return False
    log.warning("phase %s's board missed a change (Redis away at a commit, or a write around "
                "the platform): recomputing it", phase.id)
    cache.invalidate(phase.id)
    return True


def _recompute(phase: Phase, board: Board, variant: str, current: int,
               stored: cache.Stored | None) -> list[dict[str, Any]]:
    """The board at version ``current``: the stored one updated with the new scores since,
    when that is all that changed, else computed in full."""
    if stored is not None:
        changed = cache.changes(phase.id, stored[0], current)
        if changed is not None and all(c.startswith("score:") for c in changed):
            base = cache.load_rows(phase.id, variant, stored[0], stored[1])
            if base is not None:
                rows = _update(phase, board, base, {int(c.split(":")[2]) for c in changed})
                if rows is not None:
                    return rows
    return _full(phase, board)


def snapshot(phase: Phase, board: Board = Board(), page: str | None = None) -> Snapshot:
    """The board version to serve now (stale-while-revalidate).

    The stored board if it is current. Otherwise one process takes the board's lock
    and brings it up to date (incrementally after new scores), while every other
    reader is served the previous version; only a reader with no previous version
    at all waits for it. Without Redis the board is computed for this call.
    ``page`` names a rendered page (``pages.page_name``) to read in the same round trip.
    """
    variant = board.variant(phase)
    try:
        if page is None:
            current, stored = cache.board_version(phase.id, variant)
            text = None
        else:
            current, stored, text = cache.peek(phase.id, variant, page)
        if stored is not None and stored[0] == current:
            if not _missed_a_change(phase, variant, stored):
                return Snapshot(*stored, page=None if text is None else (page, text))
            current = cache.version(phase.id)
        token = cache.lock(phase.id, variant)
    except redis.RedisError:
        log.warning("leaderboard cache unavailable; computing phase %s's board", phase.id, exc_info=True)
        rows = _full(phase, board)
        return Snapshot(0, len(rows), rows=rows)
    if token is None:
        if stored is not None:
            return Snapshot(*stored)  # another process is computing: the previous version
        # Nothing to serve yet: wait for the process computing it (or take over its lock
        # if it died), rather than computing the same board beside it.
        deadline = time.monotonic() + WAIT_SECONDS
        while token is None:
            time.sleep(0.02)
            current, stored = cache.board_version(phase.id, variant)
            if stored is not None:
                return Snapshot(*stored)
            if time.monotonic() > deadline:
                rows = _full(phase, board)
                return Snapshot(current, len(rows), rows=rows)
            token = cache.lock(phase.id, variant)
    try:
        # Look again under the lock: a process that held it just now may have stored this
        # version between our first read and our lock (else we would compute it twice).
        latest, again = cache.board_version(phase.id, variant)
        if again is not None and again[0] == latest and latest >= current:
            return Snapshot(*again)
        current, stored = max(current, latest), again if again is not None else stored
        # Read before the rows: a change landing in between makes the net recompute once more.
        fingerprint = cache.fingerprint(phase.id)
        rows = _recompute(phase, board, variant, current, stored)
        try:
            cache.store_board(phase.id, variant, current, rows, stored, fingerprint)
        except redis.RedisError:
            log.warning("could not cache phase %s's board", phase.id, exc_info=True)
        _checked[(phase.id, variant)] = time.monotonic()
        return Snapshot(current, len(rows), fingerprint, rows)
    finally:
        cache.unlock(phase.id, variant, token)


def board_rows(phase: Phase, board: Board, snap: Snapshot, first: int = 0,
               count: int | None = None) -> list[dict[str, Any]]:
    """Rows ``first .. first + count`` (all by default) of the snapshot's board."""
    rows = snap.rows
    if rows is None:
        try:
            rows = cache.load_rows(phase.id, board.variant(phase), snap.version, snap.total, first, count)
        except redis.RedisError:
            rows = None
        if rows is not None:
            return rows
        rows = _full(phase, board)  # expired between the pointer and the read: rare
    return rows[first:] if count is None else rows[first:first + count]


def entries_of(rows: list[dict[str, Any]]) -> list[Entry]:
    return [Entry.from_json(r) for r in rows]


def ranked(phase: Phase, board: Board = Board()) -> list[Entry]:
    """Every team's best entry on ``board``, ranked, regardless of who is looking (cached)."""
    snap = snapshot(phase, board)
    return entries_of(board_rows(phase, board, snap))


def viewer_board(phase: Phase, viewer: User | None, board: str = "public", ranking: str = "all",
                 now: datetime | None = None) -> Board | None:
    """The board ``viewer`` sees when asking for ``board`` and ``ranking`` (None: not allowed).

    Raises ValueError for a board or ranking the phase does not have."""
    check_board(phase, board, ranking)
    sight = board_sight(phase, viewer, now)
    if not getattr(sight, board):
        return None
    return Board(board, ranking, live=sight.live)


def leaderboard(phase: Phase, viewer: User | None, now: datetime | None = None,
                board: str = "public", ranking: str = "all") -> list[Entry]:
    """The entries ``viewer`` may see: all of them, or none while the board is not visible."""
    which = viewer_board(phase, viewer, board, ranking, now)
    return [] if which is None else ranked(phase, which)


def check_sort(sort: str) -> None:
    """Raise ValueError naming the allowed keys unless ``sort`` is one of ``SORTS``."""
    if sort not in SORTS:
        raise ValueError(f"unknown sort {sort!r}; expected one of: {', '.join(SORTS)}")
