"""ReaL: the "Reassessed Labels" of the ImageNet 2012 validation set (Beyer et al. 2020).

``real.json`` is a JSON list with one list per validation image of the labels raters
found correct, as 0-based indices into the wnid-sorted class list. An image with an
empty list is left out; an image is correct at k if any of its first k labels is in
its list (the paper's rule, and timm's ``real_labels.py``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np

from scorer.classes import ClassList
from scorer.errors import FormatError
from scorer.sources import DEFAULT_MAX_DECOMPRESSED, Source, decode_text, read_bytes


@dataclass(frozen=True, eq=False)
class RealLabels:
    """Per image, its ReaL set as sorted keys ``image * C + class`` (track class indices)."""

    images: int
    classes: int
    keys: np.ndarray  # (L,) int64, sorted, unique
    counted: np.ndarray  # (N,) bool: the image's set is not empty

    @property
    def counted_images(self) -> int:
        return int(self.counted.sum())


def load_real(source: Source, classes: ClassList, *, images: int,
              max_bytes: int = DEFAULT_MAX_DECOMPRESSED) -> RealLabels:
    """Read ``real.json`` for a track with ``classes`` and ``images`` validation images.

    Indices are mapped through wnids (index j is the j-th wnid in sorted order) to the
    track's class order, which may be ILSVRC2012_ID order (``meta.mat``) or Kaggle's.
    Refused: not a list of ``images`` lists, an entry that is not an integer in
    0..C-1, a class list without wnids.
    """
    n_classes = len(classes)
    if any(w.isdigit() for w in classes.wnids):
        raise FormatError("ReaL labels are indices into the wnid-sorted class list: give --classes "
                          "with wnids (meta.mat or LOC_synset_mapping.txt)")
    text = decode_text(read_bytes(source, max_bytes=max_bytes))
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatError(f"not valid JSON: {exc.msg}", line=exc.lineno) from None
    if not isinstance(data, list):
        raise FormatError("expected a JSON list with one list of labels per image")
    if len(data) != images:
        raise FormatError(f"expected {images:,} lists (one per image of the labels), found {len(data):,}")
    bad = next((i for i, item in enumerate(data) if not isinstance(item, list)), None)
    if bad is not None:
        raise FormatError(f"entry {bad + 1}: expected a list of label indices", token=str(data[bad])[:40])
    lengths = np.fromiter(map(len, data), dtype=np.int64, count=images)
    flat = list(chain.from_iterable(data))
    if any(type(v) is not int for v in flat):  # bool and float are not labels
        at = next(i for i, v in enumerate(flat) if type(v) is not int)
        raise FormatError(f"entry {_entry(lengths, at)}: a label must be an integer index",
                          token=repr(flat[at]))
    values = np.asarray(flat, dtype=np.int64) if flat else np.zeros(0, dtype=np.int64)
    out_of_range = np.flatnonzero((values < 0) | (values >= n_classes))
    if out_of_range.size:
        at = int(out_of_range[0])
        raise FormatError(f"entry {_entry(lengths, at)}: a label index must be 0..{n_classes - 1} "
                          "(0-based, wnid-sorted)", token=str(flat[at]))
    # Index j of the wnid-sorted list is the track's class ``to_track[j]``.
    to_track = np.array([classes.index(w) for w in sorted(classes.wnids)], dtype=np.int64)
    image = np.repeat(np.arange(images, dtype=np.int64), lengths)
    keys = np.unique(image * n_classes + to_track[values])
    return RealLabels(images, n_classes, keys, lengths > 0)


def _entry(lengths: np.ndarray, flat_index: int) -> int:
    """1-based image (list entry) holding the ``flat_index``-th label."""
    return int(np.searchsorted(np.cumsum(lengths), flat_index, side="right")) + 1


def real_error_at_k(labels: np.ndarray, real: RealLabels) -> list[float]:
    """ReaL error at k = 1..K of (N, K) class indices (-1 = no guess), most confident first."""
    n, guesses = labels.shape
    if n != real.images:
        raise FormatError(f"the ReaL file holds {real.images:,} images, the predictions {n:,}")
    wanted = np.arange(n, dtype=np.int64)[:, None] * real.classes + labels
    if real.keys.size:
        at = np.minimum(np.searchsorted(real.keys, wanted), real.keys.size - 1)
        hits = (real.keys[at] == wanted) & (labels >= 0)
    else:
        hits = np.zeros(labels.shape, dtype=bool)
    right = np.logical_or.accumulate(hits, axis=1)[real.counted]
    total = real.counted_images
    if total == 0:
        return [float("nan")] * guesses
    wrong = total - right.sum(axis=0)
    return [float(int(x) / total) for x in wrong]


def score_real(labels: np.ndarray, real: RealLabels, guesses: int) -> tuple[list[float], int]:
    """ReaL error at k = 1..``guesses`` of a submission's (N, K') class indices (its first
    ``guesses`` columns, padded with "no guess"), and the number of images it counts."""
    labels = labels[:, :guesses]
    if labels.shape[1] < guesses:
        labels = np.pad(labels, ((0, 0), (0, guesses - labels.shape[1])), constant_values=-1)
    return real_error_at_k(labels, real), real.counted_images
