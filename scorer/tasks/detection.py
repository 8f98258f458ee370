"""ILSVRC object detection (DET, 2013-2017): mean average precision, higher is better.

The metric is ``scorer.detection`` (exact to the devkit's ``eval_detection.m``). On a
board, two entries are compared by a paired bootstrap of mean AP: both submissions'
replicates resample the same images (same seed, see ``scorer.detection.bootstrap_values``),
so the difference of their replicates is the paired difference. Those replicates are what
a detection Score keeps as its outcomes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scorer import detection
from scorer.classes import ClassList
from scorer.metrics import Result
from scorer.paired import PairedDifference
from scorer.sources import DEFAULT_MAX_DECOMPRESSED, Source
from scorer.stats import pack_array, unpack_array
from scorer.tasks.base import Column, Task


def load_truth(classes: detection.DetClasses, *, labels: Source, boxes: Source | None = None,
               blacklist: Source | None = None) -> detection.DetTruth:
    """The image list (``val.txt``), the objects (VOC XML folder or tar, or the compact CSV)
    and the ``image_id wnid`` blacklist."""
    if boxes is None:
        raise ValueError("detection ground truth needs boxes (VOC XML or the compact CSV)")
    return detection.load_det_truth(detection.load_image_list(labels), classes, boxes, blacklist)


def parse(data: Source, *, guesses: int = 0, classes: detection.DetClasses | ClassList,
          images: detection.ImageList, max_decompressed: int = DEFAULT_MAX_DECOMPRESSED,
          ) -> detection.Detections:
    """``image_id class_id confidence xmin ymin xmax ymax`` lines; ``images`` is the image list."""
    return detection.parse_detections(data, images=images, classes=len(classes),
                                      max_decompressed=max_decompressed)


def evaluate(dets: detection.Detections, truth: detection.DetTruth, *, guesses: int = 1,
             classes: Any = None, bootstrap: int = 1000, seed: int = 0) -> Result:
    """Mean AP as a ``scorer.Result``: ``error`` is the mean AP, ``per_class`` the AP of each
    class, ``outcomes`` the bootstrap replicates (for the board's paired comparisons)."""
    r = detection.evaluate_detection(dets, truth, bootstrap=bootstrap, seed=seed)
    return Result("detection", r.images, guesses, r.score, [r.score], None, r.ci95,
                  r.ap_per_class, r.replicates, list(r.warnings))


def _samples(packed: bytes, guesses: int, images: int) -> np.ndarray:
    return unpack_array(packed)


def _paired(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None, *, bootstrap: int,
            level: float, point: float) -> PairedDifference | None:
    if mask is not None or a.size == 0 or b.size == 0:
        return None  # replicates cover the whole image set only
    low, high = detection.paired_replicates(a, b, point, level=level)
    return PairedDifference(point, low, high)


def _rehearsal(n_classes: int, guesses: int, images: int) -> bytes:
    return b""  # detection phases parse their image list with the truth: nothing to rehearse


TASK = Task(
    name="detection",
    title="Object detection",
    file_format="One detection per line, any order: 'image_id class_id confidence xmin ymin "
                "xmax ymax' (image ids from the image list, class ids 1..200, inclusive pixels).",
    direction="higher",
    headline="mean AP",
    columns=(Column("error", "Mean AP", format="%.4f"),
             Column("categories_won", "Categories won", source="won", format="%d")),
    rankings=("categories",),
    panel="map",
    parse=parse,
    evaluate=evaluate,
    load_classes=detection.load_det_classes,
    load_truth=load_truth,
    needs_boxes=True,
    artifacts=False,
    split_ok=False,
    uses_guesses=False,
    parse_with_truth=True,
    rehearsal=_rehearsal,
    pack_outcomes=pack_array,
    samples=_samples,
    paired=_paired,
)
