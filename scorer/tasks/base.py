"""What a task is: the one declaration the platform reads instead of ``if task == ...``.

A task module builds one ``Task``: how its submission files look, how they are parsed
and validated (no ground truth), how they are scored, whether lower or higher is
better, what the headline number is called, and which columns a board shows. The
scoring functions themselves live in ``scorer.predictions``, ``scorer.metrics`` and
``scorer.detection``; a task only wires them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from scorer.classes import load_classes
from scorer.paired import PairedDifference, image_errors, paired_bootstrap
from scorer.sources import DEFAULT_MAX_DECOMPRESSED
from scorer.stats import pack_outcomes, unpack_outcomes
from scorer.truth import load_ground_truth

DIRECTIONS = ("lower", "higher")
#: Where a column's value comes from on a board entry.
SOURCES = ("error", "top1", "cls_error", "won")


@dataclass(frozen=True)
class Column:
    """One number of a board row. ``key`` is its JSON key and ``?sort=`` key; ``label`` its
    header (``{k}`` becomes ``top-K``, K the track's guesses); ``source`` the entry attribute holding it
    (``error``: the headline, Score.error; ``top1``: error_at_k[0]; ``cls_error``; ``won``:
    the categories won, on tasks with the ``categories`` ranking)."""

    key: str
    label: str
    source: str = "error"
    format: str = "%.5f"

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"column {self.key!r}: source must be one of {', '.join(SOURCES)}")

    def header(self, guesses: int) -> str:
        """The label with ``{k}`` as ``top-<guesses>``."""
        return self.label.replace("{k}", f"top-{guesses}")


def _default_rehearsal(n_classes: int, guesses: int, images: int) -> bytes:
    line = " ".join(str(1 + g % n_classes) for g in range(guesses))
    return ((line + "\n") * images).encode()


def _image_samples(task: str) -> Callable[[bytes, int, int], tuple[np.ndarray, np.ndarray] | None]:
    def samples(packed: bytes, guesses: int, images: int) -> tuple[np.ndarray, np.ndarray] | None:
        outcomes = unpack_outcomes(packed)
        if outcomes.size != images:
            return None  # scored against another version of the ground truth
        return image_errors(outcomes, task, guesses)
    return samples


def paired_images(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray],
                  mask: np.ndarray | None, *, bootstrap: int, level: float,
                  point: float | None = None) -> PairedDifference | None:
    """Paired bootstrap of two per-image (errors, included) samples on the same images
    (``point``, the headline difference, is recomputed from the images)."""
    if a[0].size != b[0].size or (mask is not None and mask.size != a[0].size):
        return None
    keep = a[1] & b[1] if mask is None else a[1] & b[1] & mask
    return paired_bootstrap(a[0], b[0], keep, bootstrap=bootstrap, level=level)


@dataclass(frozen=True)
class Task:
    """One task of the registry (``scorer.tasks.get``).

    ``parse(data, *, guesses, classes, images, max_decompressed)`` validates a submission
    without ground truth and raises ``FormatError``; ``evaluate(predictions, truth, *,
    guesses, classes, bootstrap, seed)`` returns a ``scorer.Result`` (or anything with its
    attributes) whose ``error`` is the headline number in the task's ``direction``.
    ``load_classes(data)`` and ``load_truth(classes, *, labels, boxes, blacklist)`` read the
    organizer's files. ``samples(packed_outcomes, guesses, images)`` and ``paired(a, b, mask, *,
    bootstrap, level, point)`` compare two scored submissions for a board's tie groups (None: no
    paired comparison; only a different headline separates two entries). ``split_ok``: the
    headline is the mean over images of ``scorer.image_errors`` of its outcomes, so a phase
    may split its images into public and private boards.
    """

    name: str
    title: str
    file_format: str
    direction: str
    headline: str
    columns: tuple[Column, ...]
    parse: Callable[..., Any]
    evaluate: Callable[..., Any]
    load_classes: Callable[[bytes], Any] = load_classes
    load_truth: Callable[..., Any] = load_ground_truth
    needs_boxes: bool = False
    needs_costs: bool = False
    #: The parsed ground truth can be kept as a ``scorer.artifact`` (per-image tasks).
    artifacts: bool = True
    split_ok: bool = True
    #: A phase may carry ReaL labels (scorer.real): its predictions are ranked class guesses
    #: per image, which ReaL's label sets can judge.
    real_ok: bool = False
    #: Guesses per image mean something (detection files hold any number of lines).
    uses_guesses: bool = True
    #: ``parse`` takes the ground truth's image list as ``images`` (detection's image ids),
    #: not the number of images.
    parse_with_truth: bool = False
    rehearsal: Callable[[int, int, int], bytes] = _default_rehearsal
    pack_outcomes: Callable[[Any], bytes] = pack_outcomes
    samples: Callable[[bytes, int, int], Any] | None = None
    paired: Callable[..., PairedDifference | None] | None = paired_images
    #: The /history axis the task's winners are drawn on: tasks whose headlines compare
    #: share one (classification and localization errors); "" is the task's own.
    panel: str = ""
    #: Further rankings a board offers (``categories``: ILSVRC DET's classes won, from the
    #: per-class numbers in ``Result.per_class``, higher better).
    rankings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(f"task {self.name!r}: direction must be 'lower' or 'higher'")
        if not self.columns or self.columns[0].source != "error":
            raise ValueError(f"task {self.name!r}: the first column must be the headline (source 'error')")
        if self.samples is None and self.paired is paired_images:
            object.__setattr__(self, "samples", _image_samples(self.name))
        if not self.panel:
            object.__setattr__(self, "panel", self.name)

    @property
    def higher_is_better(self) -> bool:
        return self.direction == "higher"

    def sort_value(self, headline: float) -> float:
        """The headline as a number that sorts best first in ascending order."""
        return -headline if self.direction == "higher" else headline

    def better(self, a: float, b: float) -> bool:
        """Is headline ``a`` strictly better than ``b``?"""
        return a > b if self.direction == "higher" else a < b

    def headline_for(self, guesses: int) -> str:
        """The headline as a track with ``guesses`` guesses names it: "top-5 error"."""
        return self.headline.replace("top-k", f"top-{guesses}")

    def column(self, key: str) -> Column | None:
        return next((c for c in self.columns if c.key == key), None)

    def describe(self) -> dict[str, Any]:
        """JSON for the API and OpenAPI document."""
        return {"name": self.name, "title": self.title, "direction": self.direction,
                "headline": self.headline, "file_format": self.file_format,
                "needs_boxes": self.needs_boxes, "needs_costs": self.needs_costs, "real_ok": self.real_ok,
                "columns": [{"key": c.key, "label": c.label, "source": c.source, "format": c.format}
                            for c in self.columns]}


__all__ = ["DEFAULT_MAX_DECOMPRESSED", "DIRECTIONS", "Column", "Task", "paired_images"]
