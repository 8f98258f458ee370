"""ReaL columns: the "Reassessed Labels" error of a phase that carries a ReaL file.

A classification phase may carry ReaL labels (``Phase.real_blob``, scorer.real); the
scoring job then stores the ReaL error at k = 1..K in ``Score.details["real"]``, and
boards, exports, the API and the submission page show ReaL top-1 and top-5 error beside
the original columns. Everything about which columns a phase has is here, in
``real_columns``, so a registry of task columns can take them over as they are.

Only unsplit phases show them: ReaL labels are a validation set's, and a ReaL error
over every image on a public board would tell about the private images.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from challenge import splits
from challenge.models import Phase, Score


class _HasReal(Protocol):
    real_error_at_k: list[float | None] | None


def shows_real(phase: Phase) -> bool:
    """Does the phase show ReaL error (a classification phase with a ReaL file, unsplit)?"""
    return (phase.real_blob_id is not None and phase.track.task == "classification"
            and not splits.is_split(phase))


@dataclass(frozen=True)
class RealColumn:
    """One ReaL column: ``key`` in the CSV and JSON, ``title`` on the HTML board."""

    k: int  # guesses counted: 1 or 5

    @property
    def key(self) -> str:
        return f"real_top{self.k}_error"

    @property
    def title(self) -> str:
        return f"ReaL top-{self.k}"

    @property
    def sort(self) -> str:
        """The HTML board's ``?sort=`` key for this column."""
        return f"real_top{self.k}"

    def value(self, entry: _HasReal) -> float | None:
        """The entry's ReaL error at k (None: scored before the phase had ReaL labels)."""
        at_k = entry.real_error_at_k
        return at_k[self.k - 1] if at_k and len(at_k) >= self.k else None


def real_columns(phase: Phase) -> tuple[RealColumn, ...]:
    """The phase's extra ReaL columns, in board order: ReaL top-1 and top-5 (top-1 only on a
    track of fewer than 5 guesses); none when the phase does not show ReaL."""
    if not shows_real(phase):
        return ()
    return tuple(RealColumn(k) for k in (1, 5) if k <= phase.track.guesses)


def real_of(details: dict[str, Any] | None) -> list[float | None] | None:
    """The ReaL error at k = 1..K stored in a score's ``details`` (None: none stored)."""
    real = (details or {}).get("real")
    return list(real["error_at_k"]) if isinstance(real, dict) and "error_at_k" in real else None


@dataclass(frozen=True)
class RealScore:
    """A submission's ReaL numbers, for its page."""

    error_at_k: list[float | None]
    images: int  # images with a non-empty ReaL set (the others are left out)


def score_real(phase: Phase, score: Score) -> RealScore | None:
    """The score's ReaL numbers if the phase shows ReaL and the score has them."""
    if not shows_real(phase):
        return None
    real = (score.details or {}).get("real")
    if not isinstance(real, dict):
        return None
    return RealScore(list(real["error_at_k"]), int(real["images"]))
