"""A synthetic, seeded ILSVRC-like data set and the predictions of imaginary models.

Everything is drawn from one seeded generator, so the demo is the same on every
machine. No real images exist: labels and boxes are invented, and a "model" is
a probability of putting the true class at each of its five guesses plus how
far its boxes stray from the true ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from challenge.demo.classes import NAMES

SEED = 2012
IMAGES = 2000
WIDTH, HEIGHT = 500, 375  # a typical ImageNet photo size
GUESSES = 5


def wnid(class_id: int) -> str:
    """Made-up WordNet-style ids (not real synsets), stable per class."""
    return f"n{90000000 + class_id * 7919:08d}"


@dataclass(frozen=True)
class DemoData:
    labels: np.ndarray  # (IMAGES,), class ids 1..100
    boxes: list[list[tuple[int, int, int, int]]]  # per image, boxes of its class


@dataclass(frozen=True)
class Model:
    """An imaginary model: P(true class at guess 1..5); the rest misses it."""

    at_rank: tuple[float, float, float, float, float]
    box_noise: float  # box corner jitter, as a fraction of the box size


def make_data(rng: np.random.Generator) -> DemoData:
    labels = rng.integers(1, len(NAMES) + 1, size=IMAGES)
    boxes: list[list[tuple[int, int, int, int]]] = []
    for _ in range(IMAGES):
        image_boxes = []
        for _ in range(1 + int(rng.random() < 0.3)):
            w, h = int(rng.integers(60, WIDTH)), int(rng.integers(60, HEIGHT))
            x, y = int(rng.integers(0, WIDTH - w + 1)), int(rng.integers(0, HEIGHT - h + 1))
            image_boxes.append((x, y, x + w - 1, y + h - 1))
        boxes.append(image_boxes)
    return DemoData(labels=labels, boxes=boxes)


def classes_file() -> bytes:
    """A wnid mapping file: line i is class id i."""
    return "".join(f"{wnid(i)} {name}\n" for i, name in enumerate(NAMES, 1)).encode()


def labels_file(data: DemoData) -> bytes:
    return "".join(f"{label}\n" for label in data.labels).encode()


def boxes_file(data: DemoData) -> bytes:
    """Kaggle's LOC_val_solution.csv layout: ImageId,PredictionString."""
    rows = ["ImageId,PredictionString"]
    for i, (label, image_boxes) in enumerate(zip(data.labels, data.boxes, strict=True), 1):
        parts = " ".join(f"{wnid(int(label))} {x0} {y0} {x1} {y1}" for x0, y0, x1, y1 in image_boxes)
        rows.append(f"DEMO2012_val_{i:08d},{parts}")
    return ("\n".join(rows) + "\n").encode()


def _guesses(rng: np.random.Generator, model: Model, labels: np.ndarray) -> np.ndarray:
    """(N, 5) guesses: distinct wrong classes, with the truth put at a drawn rank."""
    n_classes = len(NAMES)
    wrong = rng.random((labels.size, n_classes - 1)).argsort(axis=1)[:, :GUESSES] + 1
    wrong += wrong >= labels[:, None]  # skip over the true class
    ranks = rng.choice(GUESSES + 1, size=labels.size, p=[*model.at_rank, 1 - sum(model.at_rank)])
    hit = ranks < GUESSES
    wrong[np.flatnonzero(hit), ranks[hit]] = labels[hit]
    return wrong


def _boxes(rng: np.random.Generator, data: DemoData, guesses: np.ndarray,
           model: Model) -> np.ndarray:
    """(N, 5, 4) boxes: around the true box, tighter for the right class."""
    base = np.array([image_boxes[0] for image_boxes in data.boxes], dtype=np.float64)
    size = np.stack([base[:, 2] - base[:, 0] + 1, base[:, 3] - base[:, 1] + 1], axis=1)
    # A wrong class's box lands somewhere near the object, a right one close to it.
    noise = np.where(guesses == data.labels[:, None], model.box_noise, 0.6)
    jitter = rng.normal(size=(*guesses.shape, 4)) * noise[..., None] * np.tile(size, 2)[:, None, :]
    boxes = base[:, None, :] + jitter
    x0 = np.clip(boxes[..., 0], 0, WIDTH - 2)
    y0 = np.clip(boxes[..., 1], 0, HEIGHT - 2)
    x1 = np.clip(boxes[..., 2], x0 + 1, WIDTH - 1)
    y1 = np.clip(boxes[..., 3], y0 + 1, HEIGHT - 1)
    return np.stack([x0, y0, x1, y1], axis=-1).astype(np.int64)


def predictions(rng: np.random.Generator, data: DemoData, model: Model, task: str) -> bytes:
    """A prediction file for every image: 5 guesses, most confident first."""
    guesses = _guesses(rng, model, data.labels)
    if task != "localization":
        rows = guesses
    else:
        boxes = _boxes(rng, data, guesses, model)
        rows = np.concatenate([guesses[..., None], boxes], axis=-1).reshape(len(guesses), -1)
    return "".join(" ".join(map(str, row)) + "\n" for row in rows.tolist()).encode()
