"""Leaderboards: each team's best scored submission in a phase, ranked.

Lower error is better. Equal headline errors share a rank (1, 2, 2, 4); within
a team, the best error wins and the earlier upload breaks a tie, so resubmitting
the same file never moves a team.

Each entry is compared with the entry above it by a paired bootstrap on the two
submissions' per-image outcomes (``scorer.paired_bootstrap``); consecutive
entries that are not significantly different share a tie group.

A phase may have several boards (``Board``): a split phase ranks its public
board on the public images and its private board on the rest, over each team's
final picks; a phase that asks for ILSVRC's two rankings has "all entries" and
"provided data only"; a frozen public board counts only uploads from before the
freeze. Who may see which board is decided in ``visibility``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select

import scorer
from challenge import splits
from challenge.extensions import db
from challenge.leaderboards import cache
from challenge.leaderboards.visibility import board_sight
from challenge.models import Phase, Score, Submission, Team, User

#: How the tie groups are decided, for the page and the exports.
METHOD = (
    "Each entry is compared with the entry above it by a paired bootstrap over the test "
    "images (1,000 resamples of the images, both submissions scored on the same resample; "
    "seeded, so the board is reproducible). If the 95% interval of the difference in error "
    "contains 0, the two are not significantly different and share a tie group."
)
BOOTSTRAP = 1000
LEVEL = 0.95

#: ``?sort=`` keys: the ranking, and every error column.
SORTS = ("rank", "error", "top1", "cls_error", "team", "submitted")


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
        return cls(**{**row, "submitted_at": datetime.fromisoformat(row["submitted_at"])})


RANKINGS = ("all", "provided")


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
    """The phase's rankings: ILSVRC's 'provided data only' next to 'all entries' when asked for."""
    return RANKINGS if phase.separate_outside_data else ("all",)


def check_board(phase: Phase, board: str, ranking: str) -> None:
    """Raise ValueError naming the allowed values unless the phase has this board and ranking."""
    if board not in board_names(phase):
        raise ValueError(f"unknown board {board!r}; this phase has: {', '.join(board_names(phase))}")
    if ranking not in rankings(phase):
        raise ValueError(f"unknown ranking {ranking!r}; this phase has: {', '.join(rankings(phase))}")


Row = tuple[Submission, Score, Team, dict[str, Any]]


def _numbers(phase: Phase, board: str, score: Score) -> dict[str, Any] | None:
    """The score's numbers on the board's images (None: nothing to rank it by)."""
    if not splits.is_split(phase):
        return {"error": score.error, "error_at_k": list(score.error_at_k),
                "cls_error": score.cls_error, "ci95": [score.ci_low, score.ci_high]}
    subsets = splits.scores_of(phase, score)
    if subsets is None or subsets[board]["error"] is None:
        return None
    return subsets[board]


def _scored(phase: Phase, board: Board, reference: bool) -> list[tuple[Submission, Score, Team]]:
    query = (
        select(Submission, Score, Team)
        .join(Score, Score.submission_id == Submission.id)
        .join(Team, Team.id == Submission.team_id)
        .where(Submission.phase_id == phase.id, Submission.status == "scored")
        # Hidden or disqualified entries stay off the boards; reference entries are added
        # unranked by _with_references (challenge.moderation, the console's baselines).
        .where(Submission.moderation == "", Team.moderation == "", Team.is_reference.is_(reference))
        .order_by(Submission.created_at, Submission.id)
    )
    if board.ranking == "provided":
        query = query.where(Submission.extra_data.is_(False))
    if not board.live and board.name == "public" and phase.frozen_at is not None:
        query = query.where(Submission.created_at < phase.frozen_at)
    return [(s, sc, t) for s, sc, t in db.session.execute(query)]


def _key(row: Row) -> tuple[float, datetime, int]:
    # Best error first; the earlier upload breaks a tie, so resubmitting never moves a team.
    return (row[3]["error"], row[0].created_at, row[0].id)


def _picks(phase: Phase, rows: list[tuple[Submission, Score, Team]]) -> list[tuple[Submission, Score, Team]]:
    """A team's submissions that count on the private board: those it marked final, or else
    its ``final_picks`` best by public error."""
    marked = [r for r in rows if r[0].final]
    if marked:
        return marked
    public = [(*r, n) for r in rows if (n := _numbers(phase, "public", r[1])) is not None]
    return [r[:3] for r in sorted(public, key=_key)[: phase.final_picks]]


def _best_per_team(phase: Phase, board: Board = Board(), reference: bool = False,
                   scores: Mapping[int, Score] | None = None) -> list[Row]:
    """Each team's best entry on ``board``, best first; ``scores`` (submission id -> Score)
    stand in for the published ones (a rescoring preview)."""
    by_team: dict[int, list[tuple[Submission, Score, Team]]] = {}
    for submission, score, team in _scored(phase, board, reference):
        score = scores.get(submission.id, score) if scores else score
        by_team.setdefault(team.id, []).append((submission, score, team))
    best: list[Row] = []
    for rows in by_team.values():
        if board.name == "private" and not reference:
            rows = _picks(phase, rows)
        numbered = [(*r, n) for r in rows if (n := _numbers(phase, board.name, r[1])) is not None]
        if numbered:
            best.append(min(numbered, key=_key))
    return sorted(best, key=_key)


def _image_errors(phase: Phase, submission_ids: set[int], board: str) -> dict[int, tuple[Any, Any]]:
    """Per-image errors and inclusion masks (restricted to the board's images) of these
    submissions (those with outcomes)."""
    track = phase.track
    mask = splits.subset_mask(phase, board) if splits.is_split(phase) else None
    ids = sorted(submission_ids)
    out: dict[int, tuple[Any, Any]] = {}
    for start in range(0, len(ids), 500):  # keep IN lists modest
        rows = db.session.execute(
            select(Score.submission_id, Score.outcomes)
            .where(Score.submission_id.in_(ids[start:start + 500]))
        )
        for submission_id, packed in rows:
            if packed is not None:
                outcomes = scorer.unpack_outcomes(packed)
                if outcomes.size != phase.images:
                    continue  # scored against another version of the ground truth
                wrong, included = scorer.image_errors(outcomes, track.task, track.guesses)
                out[submission_id] = (wrong, included if mask is None else included & mask)
    return out


def _pair_field(above: tuple[int, float], below: tuple[int, float], board: str = "") -> str:
    # A rescore rewrites the Score (new scored_at), so its old comparisons are never reused;
    # on a split phase the pair is compared on the board's images only.
    return f"{above[0]}@{above[1]}:{below[0]}@{below[1]}:b{BOOTSTRAP}:l{LEVEL}{board}"


def _compare(phase: Phase, entries: list[Entry], stamps: list[tuple[int, float]],
             board: str = "public") -> list[Entry]:
    """Fill each entry's paired comparison with the entry above, and the tie groups.

    ``stamps`` are (submission id, scored_at timestamp) per entry: what a
    comparison depends on. Known comparisons come from the cache; only the
    others load outcomes.
    """
    if not entries:
        return []
    subset = f":{board}:{splits.split_key(phase)}" if splits.is_split(phase) else ""
    fields = [_pair_field(stamps[i - 1], stamps[i], subset) for i in range(1, len(entries))]
    known = cache.cached_pairs(phase.id, fields)
    missing = [i for i in range(1, len(entries)) if fields[i - 1] not in known]
    errors = _image_errors(phase, {entries[j].submission_id for i in missing for j in (i - 1, i)}, board)
    fresh: dict[str, list[float]] = {}
    for i in missing:
        mine, theirs = errors.get(entries[i].submission_id), errors.get(entries[i - 1].submission_id)
        if mine is None or theirs is None or mine[0].size != theirs[0].size:
            continue  # nothing to pair
        result = scorer.paired_bootstrap(theirs[0], mine[0], mine[1] & theirs[1],
                                         bootstrap=BOOTSTRAP, level=LEVEL)
        fresh[fields[i - 1]] = [result.difference, result.low, result.high]
    cache.store_pairs(phase.id, fresh)
    known.update(fresh)
    compared = entries[:1]
    for i in range(1, len(entries)):
        pair = known.get(fields[i - 1])
        compared.append(entries[i] if pair is None else
                        replace(entries[i], diff=pair[0], diff_low=pair[1], diff_high=pair[2]))
    # Without outcomes to pair, only a different headline error separates two entries.
    significant = [False] + [
        e.significant if e.significant is not None else e.error != compared[i - 1].error
        for i, e in enumerate(compared[1:], 1)
    ]
    groups = scorer.tie_groups(significant)
    return [replace(e, group=g) for e, g in zip(compared, groups, strict=True)]


def _entry(row: Row, rank: int | None, **extra: Any) -> Entry:
    submission, _, team, numbers = row
    at_k = numbers["error_at_k"]
    return Entry(
        rank=rank, team_id=team.id, team=team.name, submission_id=submission.id,
        method=submission.method, submitted_at=submission.created_at, error=numbers["error"],
        error_at_k=list(at_k) if all(x is not None for x in at_k) else [],
        cls_error=numbers.get("cls_error"), ci_low=numbers["ci95"][0], ci_high=numbers["ci95"][1],
        outside_data=submission.extra_data, **extra,
    )


def _rank(best: list[Row]) -> tuple[list[Entry], list[tuple[int, float]]]:
    """Ranked entries of rows sorted best first (equal errors share a rank), with their stamps."""
    entries: list[Entry] = []
    stamps: list[tuple[int, float]] = []
    previous: float | None = None
    rank = 0
    for position, row in enumerate(best, 1):
        error = row[3]["error"]
        if error != previous:
            rank, previous = position, error
        entries.append(_entry(row, rank))
        stamps.append((row[0].id, row[1].scored_at.timestamp()))
    return entries, stamps


def compute(phase: Phase, board: Board = Board()) -> list[Entry]:
    """Every team's best entry on ``board``, ranked and compared, straight from the database."""
    entries, stamps = _rank(_best_per_team(phase, board))
    return _with_references(phase, _compare(phase, entries, stamps, board.name), board)


def ranked_with(phase: Phase, scores: Mapping[int, Score], board: Board = Board()) -> list[Entry]:
    """The board as it would be if ``scores`` (submission id -> Score, e.g. rescoring
    candidates) replaced those submissions' published scores: ranked like ``compute``,
    without the paired comparisons, uncached."""
    return _rank(_best_per_team(phase, board, scores=scores))[0]


def _with_references(phase: Phase, entries: list[Entry], board: Board = Board()) -> list[Entry]:
    """The ranked entries with the phase's reference entries (organizers' baselines) placed
    by their error, unranked and outside the tie groups: they take no rank from a team and
    leave every team's comparison with the team above unchanged."""
    merged = list(entries)
    for row in _best_per_team(phase, board, reference=True):
        error = row[3]["error"]
        where = next((i for i, e in enumerate(merged) if e.error > error), len(merged))
        merged.insert(where, _entry(row, None, group=0, reference=True))
    return merged


def ranked(phase: Phase, board: Board = Board()) -> list[Entry]:
    """Every team's best entry on ``board``, ranked, regardless of who is looking (cached)."""
    rows = cache.get_or_compute(phase.id, lambda: [e.to_json() for e in compute(phase, board)],
                                variant=board.variant(phase))
    return [Entry.from_json(row) for row in rows]


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


def table_html(phase: Phase, sort: str, render: Callable[[list[Entry]], str],
               board: Board = Board()) -> str:
    """The board rendered by ``render`` in ``sort`` order, cached until a score changes.

    Only for viewers who may see the board (``viewer_board``): the HTML holds every team's scores.
    """
    check_sort(sort)
    return cache.get_or_render(phase.id, f"{board.variant(phase)}:{sort}",
                               lambda: render(sort_entries(ranked(phase, board), sort)))


def sort_entries(entries: list[Entry], sort: str) -> list[Entry]:
    """The board ordered by one of ``SORTS`` (ascending; ties keep the ranking's order)."""
    check_sort(sort)
    keys: dict[str, Any] = {
        # The order the board was ranked in (reference entries sit by their error, unranked).
        "rank": lambda e: 0,
        "error": lambda e: e.error,
        "top1": lambda e: e.error_at_k[0] if e.error_at_k else float("inf"),
        "cls_error": lambda e: e.cls_error if e.cls_error is not None else float("inf"),
        "team": lambda e: e.team.casefold(),
        "submitted": lambda e: e.submitted_at,
    }
    return sorted(entries, key=keys[sort])
