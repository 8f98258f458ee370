"""The ILSVRC metrics: flat top-k error, CLS-LOC error with the blacklist, hierarchical cost."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scorer.classes import ClassList
from scorer.errors import FormatError
from scorer.predictions import Predictions, check_task
from scorer.stats import bootstrap_ci
from scorer.truth import GroundTruth

#: Localization outcome of a blacklisted image: excluded from the localization error.
EXCLUDED = 255


@dataclass(eq=False)
class Result:
    """Scores of one submission. ``outcomes`` (uint8, per image): flat and localization:
    the smallest k at which the image is correct, 0 if never (255 = blacklisted, for
    localization); hierarchical: the image's minimum cost at K. ``cls_outcomes``
    (localization only): the same for the class label alone, so the classification
    error of any subset of images (a public/private split) can be recomputed."""

    task: str
    images: int
    guesses: int
    error: float
    error_at_k: list[float]
    cls_error_at_k: list[float] | None
    ci95: tuple[float, float]
    per_class: np.ndarray
    outcomes: np.ndarray
    warnings: list[str] = field(default_factory=list)
    cls_outcomes: np.ndarray | None = None
    # ReaL error at k = 1..K and the images it counts, when scored with ReaL labels too
    # (scorer.real.score_real; the platform sets them for a phase with a ReaL file).
    real_error_at_k: list[float] | None = None
    real_images: int | None = None

    @property
    def cls_error(self) -> float | None:
        """Classification-only error at K of a localization submission."""
        return None if self.cls_error_at_k is None else self.cls_error_at_k[-1]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "task": self.task,
            "images": self.images,
            "guesses": self.guesses,
            "error": self.error,
            "error_at_k": list(self.error_at_k),
            "ci95": [self.ci95[0], self.ci95[1]],
            "warnings": list(self.warnings),
        }
        if self.cls_error_at_k is not None:
            out["cls_error_at_k"] = list(self.cls_error_at_k)
            out["cls_error"] = self.cls_error
        if self.real_error_at_k is not None:
            out["real_error_at_k"] = list(self.real_error_at_k)
            out["real_images"] = self.real_images
        return out


def first_correct(hits: np.ndarray) -> np.ndarray:
    """(N, K) bool -> uint8: 1-based index of the first True per row, 0 if none."""
    return np.where(hits.any(axis=1), hits.argmax(axis=1) + 1, 0).astype(np.uint8)


def error_at_each_k(first: np.ndarray, guesses: int, included: np.ndarray | None = None) -> list[float]:
    """Error for k = 1..K from first-correct indices (exact counts, then one division)."""
    if included is not None:
        first = first[included]
    total = first.size
    right = np.bincount(first, minlength=guesses + 1)[1 : guesses + 1].cumsum()
    return [float((total - int(r)) / total) if total else float("nan") for r in right]


def _guess_matrix(predictions: Predictions, guesses: int) -> tuple[np.ndarray, np.ndarray | None]:
    """The first K guesses, padded with 'no guess' when the file held fewer columns."""
    labels, boxes = predictions.labels[:, :guesses], predictions.boxes
    if boxes is not None:
        boxes = boxes[:, :guesses]
    short = guesses - labels.shape[1]
    if short > 0:
        labels = np.pad(labels, ((0, 0), (0, short)), constant_values=-1)
        if boxes is not None:
            boxes = np.pad(boxes, ((0, 0), (0, short), (0, 0)))
    return labels, boxes


def localization_hits(labels: np.ndarray, boxes: np.ndarray, truth: GroundTruth) -> np.ndarray:
    """(N, K) bool: guess has a ground-truth box of its label with IoU >= 0.5.

    IoU only for (box, guess) pairs whose labels agree: few pairs, little memory.
    Arithmetic follows the devkit exactly (inclusive pixels, +1 widths, float64,
    ``iw*ih / union >= 0.5``); degenerate boxes get iw or ih <= 0 and never match.
    """
    hits = np.zeros(labels.shape, dtype=bool)
    if truth.box_image.size == 0:
        return hits
    same = labels[truth.box_image] == truth.box_label[:, None]
    box, guess = np.nonzero(same)
    if box.size == 0:
        return hits
    image = truth.box_image[box]
    g = truth.box_coords[box]
    b = boxes[image, guess]
    iw = np.minimum(b[:, 2], g[:, 2]) - np.maximum(b[:, 0], g[:, 0]) + 1
    ih = np.minimum(b[:, 3], g[:, 3]) - np.maximum(b[:, 1], g[:, 1]) + 1
    inter = iw * ih
    union = (b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1) + (g[:, 2] - g[:, 0] + 1) * (
        g[:, 3] - g[:, 1] + 1
    ) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = (iw > 0) & (ih > 0) & (union > 0) & (inter / union >= 0.5)
    hits[image[ok], guess[ok]] = True
    return hits


def _per_class(truth_labels: np.ndarray, values: np.ndarray, n_classes: int,
               included: np.ndarray | None = None) -> np.ndarray:
    """Mean of ``values`` over each ground-truth class's images; NaN for classes without any."""
    if included is not None:
        truth_labels, values = truth_labels[included], values[included]
    count = np.bincount(truth_labels, minlength=n_classes).astype(np.float64)
    total = np.bincount(truth_labels, weights=values.astype(np.float64), minlength=n_classes)
    out = np.full(n_classes, np.nan)
    np.divide(total, count, out=out, where=count > 0)
    return out


def evaluate(
    predictions: Predictions,
    truth: GroundTruth,
    *,
    task: str,
    guesses: int,
    classes: ClassList,
    bootstrap: int = 1000,
    seed: int = 0,
) -> Result:
    """Score parsed predictions against ground truth."""
    check_task(task, guesses)
    if predictions.images != truth.images:
        raise FormatError(f"expected {truth.images} lines (one per image), found {predictions.images}")
    labels, boxes = _guess_matrix(predictions, guesses)
    n_classes = len(classes)
    warnings = list(predictions.warnings)

    if task == "hierarchical":
        costs_matrix = classes.cost_matrix
        if costs_matrix is None:
            raise ValueError("hierarchical scoring needs a class list with a cost matrix or hierarchy")
        worst = int(costs_matrix.max())
        cost = costs_matrix[np.maximum(labels, 0), truth.labels[:, None]].astype(np.int64)
        cost[labels < 0] = worst
        best = np.minimum.accumulate(cost, axis=1)
        error_at_k = [float(x) for x in best.mean(axis=0)]
        outcomes = best[:, -1].astype(np.uint8)
        ci = bootstrap_ci(outcomes, bootstrap=bootstrap, seed=seed)
        per_class = _per_class(truth.labels, best[:, -1], n_classes)
        return Result(task, truth.images, guesses, error_at_k[-1], error_at_k, None, ci,
                      per_class, outcomes, warnings)

    cls_first = first_correct(labels == truth.labels[:, None])
    if task == "classification":
        error_at_k = error_at_each_k(cls_first, guesses)
        wrong = cls_first == 0
        ci = bootstrap_ci(wrong, bootstrap=bootstrap, seed=seed)
        per_class = _per_class(truth.labels, wrong, n_classes)
        return Result(task, truth.images, guesses, error_at_k[-1], error_at_k, None, ci,
                      per_class, cls_first, warnings)

    if not truth.has_boxes:
        raise ValueError("localization scoring needs ground-truth boxes")
    if boxes is None:
        raise ValueError("localization scoring needs predictions parsed with task='localization'")
    outcomes = first_correct(localization_hits(labels, boxes, truth))
    included = ~truth.blacklist
    outcomes[truth.blacklist] = EXCLUDED
    error_at_k = error_at_each_k(outcomes, guesses, included)
    wrong = outcomes == 0
    ci = bootstrap_ci(wrong, included, bootstrap=bootstrap, seed=seed)
    per_class = _per_class(truth.labels, wrong, n_classes, included)
    cls_error_at_k = error_at_each_k(cls_first, guesses)
    return Result(task, truth.images, guesses, error_at_k[-1], error_at_k, cls_error_at_k, ci,
                  per_class, outcomes, warnings, cls_outcomes=cls_first)
