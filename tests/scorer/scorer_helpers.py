"""Small class lists and hand-built ground truths for the scorer tests."""

from __future__ import annotations

import numpy as np

import scorer

WNIDS = [f"n{10000000 + i:08d}" for i in range(10)]


def make_classes() -> scorer.ClassList:
    return scorer.load_classes("".join(f"{w} class {i + 1}\n" for i, w in enumerate(WNIDS)).encode())


def truth(labels: list[int], boxes: list[list[tuple[int, ...]]] | None = None,
          blacklist: list[int] | None = None) -> scorer.GroundTruth:
    """Ground truth from 0-based labels and, per image, boxes (x0, y0, x1, y1) of its label."""
    n = len(labels)
    image, label, coords = [], [], []
    for i, image_boxes in enumerate(boxes or []):
        for box in image_boxes:
            image.append(i)
            label.append(labels[i] if len(box) == 4 else box[4])
            coords.append(box[:4])
    black = np.zeros(n, dtype=bool)
    black[[b - 1 for b in blacklist or []]] = True
    return scorer.GroundTruth(
        n, np.asarray(labels, dtype=np.int64), np.asarray(image, dtype=np.int64),
        np.asarray(label, dtype=np.int64), np.asarray(coords, dtype=np.float64).reshape(-1, 4), black,
    )
