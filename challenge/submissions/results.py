"""What a submission page shows of a score: the error-vs-guesses chart and per-class errors.

Per-class errors are shown on validation phases only: a phase whose slug starts
with "val" (``val``, ``val2``, ``validation`` ...). ILSVRC published the validation
labels, so per-class numbers there reveal nothing hidden; on a test phase they
would tell a team how each class of the hidden labels fares, so test pages keep
to the aggregate scores the phase's visibility allows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import scorer
from challenge import scoring
from challenge.leaderboards.chart import Chart, line_chart
from challenge.leaderboards.real import RealScore, score_real
from challenge.models import Phase, Score, Submission, Track

VALIDATION_PREFIX = "val"


def is_validation(phase: Phase) -> bool:
    """Validation phases (slug starting with "val") show per-class errors."""
    return phase.slug.lower().startswith(VALIDATION_PREFIX)


def error_name(track: Track) -> str:
    """What the headline number is called on this track (its task's headline, capitalized)."""
    headline = scoring.task_of(track).headline_for(track.guesses)
    return headline[:1].upper() + headline[1:]


def error_chart(track: Track, score: Score) -> Chart:
    """Error at k = 1..K guesses, one line per measure (localization tracks: both)."""
    series: dict[str, list[tuple[int, float, str, str]]] = {}

    def line(name: str, values: list[float]) -> None:
        series[name] = [(k, value, f"{name} at {k} guess{'es' if k > 1 else ''}: {value:.4f}", "")
                        for k, value in enumerate(values, start=1)]

    line(error_name(track), score.error_at_k)
    if score.cls_error_at_k:
        line("Classification error", score.cls_error_at_k)
    return line_chart(series)


@dataclass(frozen=True)
class ClassError:
    id: int  # the ILSVRC ID, 1-based
    wnid: str
    name: str
    error: float | None  # None: the class has no images here

    @property
    def sort_value(self) -> str:
        """For the table's script: the number, or empty (sorted last)."""
        return "" if self.error is None else repr(self.error)


def per_class_errors(track: Track, score: Score) -> list[ClassError]:
    """Every class's error, worst first (classes without images last, then by ID)."""
    if score.per_class is None:
        return []
    values = scorer.unpack_array(score.per_class)
    classes = scoring.class_list(track)
    rows = [
        ClassError(i + 1, wnid, name, None if math.isnan(float(value)) else float(value))
        for i, (wnid, name, value) in enumerate(zip(classes.wnids, classes.names, values, strict=False))
    ]
    # Worst first in the task's direction (the lowest AP of a detection track).
    worse = 1.0 if scoring.task_of(track).higher_is_better else -1.0
    return sorted(rows, key=lambda r: (r.error is None, worse * (r.error or 0.0), r.id))


@dataclass(frozen=True)
class PageResults:
    """The results part of a submission page; empty when there is nothing the viewer may see."""

    chart: Chart | None = None
    per_class: list[ClassError] | None = None  # None: not offered (test phase, not scored, hidden)
    error_name: str = "Error"
    real: RealScore | None = None  # ReaL error, on a phase with ReaL labels


def for_page(submission: Submission, show_scores: bool) -> PageResults:
    """The chart, and on validation phases the per-class errors, when the scores may be shown."""
    track = submission.phase.track
    score = submission.score if submission.status == "scored" else None
    if score is None or not show_scores:
        return PageResults(error_name=error_name(track))
    per_class = per_class_errors(track, score) if is_validation(submission.phase) else None
    # Error at k = 1..K means nothing for a task without guesses (detection's mean AP).
    chart = error_chart(track, score) if scoring.task_of(track).uses_guesses else None
    return PageResults(chart, per_class, error_name(track), score_real(submission.phase, score))
