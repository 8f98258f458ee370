"""Leaderboards: each team's best scored submission in a phase, ranked.

Lower error is better. Equal headline errors share a rank (1, 2, 2, 4); within
a team, the best error wins and the earlier upload breaks a tie, so resubmitting
the same file never moves a team.

Each entry is compared with the entry above it by a paired bootstrap on the two
submissions' per-image outcomes (``scorer.paired_bootstrap``); consecutive
entries that are not significantly different share a tie group.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select

import scorer
from challenge.extensions import db
from challenge.leaderboards import cache
from challenge.leaderboards.visibility import board_visible
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
    rank: int
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


def _best_per_team(phase: Phase) -> list[tuple[Submission, Score, Team]]:
    rows = db.session.execute(
        select(Submission, Score, Team)
        .join(Score, Score.submission_id == Submission.id)
        .join(Team, Team.id == Submission.team_id)
        .where(Submission.phase_id == phase.id, Submission.status == "scored")
        .order_by(Score.error, Submission.created_at, Submission.id)
    )
    best: dict[int, tuple[Submission, Score, Team]] = {}
    for submission, score, team in rows:
        best.setdefault(team.id, (submission, score, team))  # rows come best first
    return list(best.values())


def _image_errors(phase: Phase, submission_ids: set[int]) -> dict[int, tuple[Any, Any]]:
    """Per-image errors and inclusion masks of these submissions (those with outcomes)."""
    track = phase.track
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
                out[submission_id] = scorer.image_errors(outcomes, track.task, track.guesses)
    return out


def _pair_field(above: tuple[int, float], below: tuple[int, float]) -> str:
    # A rescore rewrites the Score (new scored_at), so its old comparisons are never reused.
    return f"{above[0]}@{above[1]}:{below[0]}@{below[1]}:b{BOOTSTRAP}:l{LEVEL}"


def _compare(phase: Phase, entries: list[Entry], stamps: list[tuple[int, float]]) -> list[Entry]:
    """Fill each entry's paired comparison with the entry above, and the tie groups.

    ``stamps`` are (submission id, scored_at timestamp) per entry: what a
    comparison depends on. Known comparisons come from the cache; only the
    others load outcomes.
    """
    if not entries:
        return []
    fields = [_pair_field(stamps[i - 1], stamps[i]) for i in range(1, len(entries))]
    known = cache.cached_pairs(phase.id, fields)
    missing = [i for i in range(1, len(entries)) if fields[i - 1] not in known]
    errors = _image_errors(phase, {entries[j].submission_id for i in missing for j in (i - 1, i)})
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


def compute(phase: Phase) -> list[Entry]:
    """Every team's best entry, ranked and compared, straight from the database."""
    entries: list[Entry] = []
    stamps: list[tuple[int, float]] = []
    previous: float | None = None
    rank = 0
    for position, (submission, score, team) in enumerate(_best_per_team(phase), 1):
        if score.error != previous:
            rank, previous = position, score.error
        entries.append(Entry(
            rank=rank, team_id=team.id, team=team.name, submission_id=submission.id,
            method=submission.method, submitted_at=submission.created_at, error=score.error,
            error_at_k=list(score.error_at_k), cls_error=score.cls_error,
            ci_low=score.ci_low, ci_high=score.ci_high,
        ))
        stamps.append((submission.id, score.scored_at.timestamp()))
    return _compare(phase, entries, stamps)


def ranked(phase: Phase) -> list[Entry]:
    """Every team's best entry, ranked, regardless of who is looking (cached)."""
    rows = cache.get_or_compute(phase.id, lambda: [e.to_json() for e in compute(phase)])
    return [Entry.from_json(row) for row in rows]


def leaderboard(phase: Phase, viewer: User | None, now: datetime | None = None) -> list[Entry]:
    """The entries ``viewer`` may see: all of them, or none while the board is not visible."""
    if not board_visible(phase, viewer, now):
        return []
    return ranked(phase)


def check_sort(sort: str) -> None:
    """Raise ValueError naming the allowed keys unless ``sort`` is one of ``SORTS``."""
    if sort not in SORTS:
        raise ValueError(f"unknown sort {sort!r}; expected one of: {', '.join(SORTS)}")


def table_html(phase: Phase, sort: str, render: Callable[[list[Entry]], str]) -> str:
    """The board rendered by ``render`` in ``sort`` order, cached until a score changes.

    Only for viewers who may see the board: the HTML holds every team's scores.
    """
    check_sort(sort)
    return cache.get_or_render(phase.id, sort, lambda: render(sort_entries(ranked(phase), sort)))


def sort_entries(entries: list[Entry], sort: str) -> list[Entry]:
    """The board ordered by one of ``SORTS`` (ascending; ties keep the ranking's order)."""
    check_sort(sort)
    keys: dict[str, Any] = {
        "rank": lambda e: e.rank,
        "error": lambda e: e.error,
        "top1": lambda e: e.error_at_k[0] if e.error_at_k else float("inf"),
        "cls_error": lambda e: e.cls_error if e.cls_error is not None else float("inf"),
        "team": lambda e: e.team.casefold(),
        "submitted": lambda e: e.submitted_at,
    }
    return sorted(entries, key=keys[sort])
