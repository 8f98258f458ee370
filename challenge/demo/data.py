"""Synthetic, seeded ILSVRC-like data sets and the predictions of imaginary models.

Everything is drawn from seeded generators, so the demo is the same on every
machine. No real images exist: labels and boxes are invented. A "model" is a set
of target errors (top-5 and top-1 classification, top-5 localization) that its
prediction file meets exactly, image for image: the right class is left out of
exactly that share of the lines, and a good box is given for exactly that share
of the objects. Its wrong guesses are drawn near the true class in the demo's
hierarchy (a shark for a shark, rarely a spider), as real systems' mistakes are,
which is what makes the 2010 hierarchical cost behave.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from challenge.demo import hierarchy
from challenge.demo.classes import NAMES

WIDTH, HEIGHT = 500, 375  # a typical ImageNet photo size
GUESSES = 5
#: Where the true class sits when it is in the top 5 but not first (ranks 2..5).
LOWER_RANKS = (0.45, 0.25, 0.18, 0.12)


def wnid(class_id: int) -> str:
    """Made-up WordNet-style ids (not real synsets), stable per class."""
    return f"n{90000000 + class_id * 7919:08d}"


@dataclass(frozen=True)
class DemoData:
    labels: np.ndarray  # (N,), class ids 1..100
    boxes: list[list[tuple[int, int, int, int]]]  # per image, boxes of its class
    blacklist: np.ndarray  # (N,) bool: images left out of the localization error
    public: np.ndarray | None = None  # (N,) bool: the public board's images of a split phase

    @property
    def images(self) -> int:
        return int(self.labels.size)


@dataclass(frozen=True)
class Model:
    """An imaginary model, by the errors its predictions must have."""

    top5: float  # classification error with 5 guesses
    loc: float | None = None  # localization error with 5 guesses (None: no localization entry)
    top1: float | None = None  # default: a typical top-1 for that top-5
    spread: float = 2.5  # how far its wrong guesses stray in the hierarchy (larger: more random)

    @property
    def top1_error(self) -> float:
        return self.top1 if self.top1 is not None else min(0.97, 1.5 * self.top5 + 0.07)


def make_data(rng: np.random.Generator, images: int, blacklist: float = 0.0,
              public: float | None = None) -> DemoData:
    labels = rng.integers(1, len(NAMES) + 1, size=images)
    boxes: list[list[tuple[int, int, int, int]]] = []
    for _ in range(images):
        image_boxes = []
        for _ in range(1 + int(rng.random() < 0.3)):
            w, h = int(rng.integers(60, WIDTH)), int(rng.integers(60, HEIGHT))
            x, y = int(rng.integers(0, WIDTH - w + 1)), int(rng.integers(0, HEIGHT - h + 1))
            image_boxes.append((x, y, x + w - 1, y + h - 1))
        boxes.append(image_boxes)
    black = np.zeros(images, dtype=bool)
    black[rng.choice(images, size=round(blacklist * images), replace=False)] = True
    shown = None
    if public is not None:
        shown = np.zeros(images, dtype=bool)
        shown[rng.choice(images, size=round(public * images), replace=False)] = True
    return DemoData(labels=labels, boxes=boxes, blacklist=black, public=shown)


def strata(data: DemoData) -> list[np.ndarray]:
    """The image sets on which a model's errors are met exactly: the public and the private
    images of a split phase (so both boards rank as the published results did), else all."""
    if data.public is None:
        return [np.arange(data.images)]
    return [np.flatnonzero(data.public), np.flatnonzero(~data.public)]


def public_images_file(data: DemoData) -> bytes:
    assert data.public is not None
    return "".join(f"{i + 1}\n" for i in np.flatnonzero(data.public)).encode()


def classes_file() -> bytes:
    """A wnid mapping file: line i is class id i."""
    return "".join(f"{wnid(i)} {name}\n" for i, name in enumerate(NAMES, 1)).encode()


def wnids() -> tuple[str, ...]:
    return tuple(wnid(i) for i in range(1, len(NAMES) + 1))


def labels_file(data: DemoData) -> bytes:
    return "".join(f"{label}\n" for label in data.labels).encode()


def blacklist_file(data: DemoData) -> bytes:
    return "".join(f"{i + 1}\n" for i in np.flatnonzero(data.blacklist)).encode()


def boxes_file(data: DemoData, prefix: str = "DEMO2012_val") -> bytes:
    """Kaggle's LOC_val_solution.csv layout: ImageId,PredictionString."""
    rows = ["ImageId,PredictionString"]
    for i, (label, image_boxes) in enumerate(zip(data.labels, data.boxes, strict=True), 1):
        parts = " ".join(f"{wnid(int(label))} {x0} {y0} {x1} {y1}" for x0, y0, x1, y1 in image_boxes)
        rows.append(f"{prefix}_{i:08d},{parts}")
    return ("\n".join(rows) + "\n").encode()


def _ranks(rng: np.random.Generator, model: Model, data: DemoData) -> np.ndarray:
    """(N,) 0-based rank of the true class, GUESSES where it is missing; exact counts."""
    ranks = np.zeros(data.images, dtype=np.int64)
    for images in strata(data):
        n = images.size
        misses = round(model.top5 * n)
        lower = max(0, round(model.top1_error * n) - misses)
        order = rng.permutation(images)
        ranks[order[:misses]] = GUESSES
        ranks[order[misses:misses + lower]] = rng.choice(np.arange(1, GUESSES), size=lower, p=LOWER_RANKS)
    return ranks


def _guesses(rng: np.random.Generator, model: Model, data: DemoData) -> np.ndarray:
    """(N, 5) class ids: wrong classes near the truth (Gumbel top-k on -cost/spread), the
    truth put at its drawn rank."""
    labels = data.labels
    truth = labels - 1
    logits = -hierarchy.costs()[truth].astype(np.float64) / model.spread
    logits[np.arange(truth.size), truth] = -np.inf
    scores = logits + rng.gumbel(size=logits.shape)
    top = np.argpartition(-scores, GUESSES, axis=1)[:, :GUESSES]
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1)
    wrong = np.take_along_axis(top, order, axis=1) + 1
    ranks = _ranks(rng, model, data)
    hit = np.flatnonzero(ranks < GUESSES)
    wrong[hit, ranks[hit]] = labels[hit]
    return wrong


def _boxes(rng: np.random.Generator, data: DemoData, guesses: np.ndarray, model: Model) -> np.ndarray:
    """(N, 5, 4) boxes: near the object for every guess; for the true class a good box
    (IoU well above 0.5) on exactly enough images to meet ``model.loc``, else a box a
    sixteenth of the object's size in its middle (IoU 1/16)."""
    n = data.images
    base = np.array([image_boxes[0] for image_boxes in data.boxes], dtype=np.float64)
    size = np.stack([base[:, 2] - base[:, 0] + 1, base[:, 3] - base[:, 1] + 1], axis=1)
    span = np.tile(size, 2)
    boxes = base[:, None, :] + rng.normal(size=(*guesses.shape, 4)) * 0.3 * span[:, None, :]
    is_truth = guesses == data.labels[:, None]
    hit_rows, hit_cols = np.nonzero(is_truth)
    good = np.zeros(hit_rows.size, dtype=bool)
    for images in strata(data):
        member = np.zeros(n, dtype=bool)
        member[images] = True
        counted = member & ~data.blacklist  # blacklisted images are correct whatever the box
        total = int(counted.sum())
        good_count = total - round((model.loc or 1.0) * total)
        eligible = np.flatnonzero(counted[hit_rows])
        good[rng.permutation(eligible)[:max(0, good_count)]] = True
    rows, cols = hit_rows[good], hit_cols[good]
    boxes[rows, cols] = base[rows] + rng.uniform(-0.03, 0.03, size=(rows.size, 4)) * span[rows]
    rows, cols = hit_rows[~good], hit_cols[~good]
    centre = np.stack([(base[rows, 0] + base[rows, 2]) / 2, (base[rows, 1] + base[rows, 3]) / 2], axis=1)
    quarter = size[rows] / 8
    boxes[rows, cols] = np.concatenate([centre - quarter, centre + quarter], axis=1)
    x0 = np.clip(boxes[..., 0], 0, WIDTH - 2)
    y0 = np.clip(boxes[..., 1], 0, HEIGHT - 2)
    x1 = np.clip(boxes[..., 2], x0 + 1, WIDTH - 1)
    y1 = np.clip(boxes[..., 3], y0 + 1, HEIGHT - 1)
    return np.rint(np.stack([x0, y0, x1, y1], axis=-1)).astype(np.int64)


def predictions(rng: np.random.Generator, data: DemoData, model: Model, task: str) -> bytes:
    """A prediction file for every image: 5 guesses, most confident first."""
    guesses = _guesses(rng, model, data)
    if task != "localization":
        rows = guesses
    else:
        boxes = _boxes(rng, data, guesses, model)
        rows = np.concatenate([guesses[..., None], boxes], axis=-1).reshape(len(guesses), -1)
    return "".join(" ".join(map(str, row)) + "\n" for row in rows.tolist()).encode()


#: Shares of the synthetic ReaL sets, near the paper's for the 2012 validation set: images
#: left without a set, sets without the original label, sets with a second class.
REAL_EMPTY, REAL_RELABELED, REAL_SECOND = 0.06, 0.10, 0.25


def real_file(rng: np.random.Generator, data: DemoData) -> bytes:
    """Synthetic ReaL labels (``real.json``) for the demo's images, shaped like the real
    ones (Beyer et al. 2020), not drawn from any rater: a JSON list of one list per image
    of 0-based indices into the wnid-sorted class list. About ``REAL_EMPTY`` of the images
    get an empty list; of the others, ``REAL_RELABELED`` a nearest class in the hierarchy
    instead of the original label (a label error), and ``REAL_SECOND`` the original label
    and a nearest class (two objects in the picture)."""
    costs = hierarchy.costs()
    sorted_index = {w: j for j, w in enumerate(sorted(wnids()))}
    index = [sorted_index[wnid(class_id)] for class_id in range(1, len(NAMES) + 1)]
    draw = rng.random(data.images)
    out: list[list[int]] = []
    for label, u in zip(data.labels.tolist(), draw.tolist(), strict=True):
        truth = label - 1
        row = costs[truth].astype(np.int64)
        row[truth] = np.iinfo(np.int64).max
        nearest = np.flatnonzero(row == row.min())
        near = int(nearest[rng.integers(nearest.size)])
        if u < REAL_EMPTY:
            out.append([])
        elif u < REAL_EMPTY + REAL_RELABELED:
            out.append([index[near]])
        elif u < REAL_EMPTY + REAL_RELABELED + REAL_SECOND:
            out.append(sorted({index[truth], index[near]}))
        else:
            out.append([index[truth]])
    return json.dumps(out, separators=(",", ":")).encode()
