"""The demo's synthetic detection (DET) data: an image list, objects of 200 made-up
classes, and detection files made to land on a target mean AP.

A detection file has one true-positive box per object (the object jittered by a pixel)
and ten false positives per image; every confidence is a logistic of a fixed normal
draw, the true positives' shifted by ``t``. Mean AP rises with ``t``, so a root search
on ``t`` with the real scorer (``scorer.detection``), confidences rounded as written,
lands on the target; the draws are seeded, so the files are deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from challenge.demo.data import wnid
from scorer import detection

CLASSES = 200
#: DET class ids are offset past the CLS demo's classes, so their wnids differ.
FIRST_CLASS = 1001
WIDTH, HEIGHT = 500, 375
FALSE_POSITIVES = 10  # per image: enough that a weak file scores low


@dataclass(frozen=True)
class DetDemo:
    ids: np.ndarray  # (N,) image ids of the list, in list order
    image: np.ndarray  # (M,) 0-based list row of each object
    label: np.ndarray  # (M,) 0-based class
    boxes: np.ndarray  # (M, 4) inclusive pixels

    @property
    def images(self) -> int:
        return int(self.ids.size)


def wnids() -> list[str]:
    return [wnid(FIRST_CLASS + i) for i in range(CLASSES)]


def make_det(rng: np.random.Generator, images: int) -> DetDemo:
    ids = rng.permutation(np.arange(1, images + 1) * 3 + 1000)  # sparse, unordered, as in the devkit
    per_image = rng.integers(1, 4, images)
    image = np.repeat(np.arange(images), per_image)
    label = rng.integers(0, CLASSES, image.size)
    w, h = rng.integers(40, 300, image.size), rng.integers(40, 250, image.size)
    x, y = rng.integers(0, WIDTH - w), rng.integers(0, HEIGHT - h)
    boxes = np.stack([x, y, x + w - 1, y + h - 1], axis=1)
    return DetDemo(ids, image, label, boxes)


def classes_file() -> bytes:
    return "".join(f"{w} demo object {i + 1}\n" for i, w in enumerate(wnids())).encode()


def list_file(det: DetDemo, year: int) -> bytes:
    return "".join(f"DEMO{year}_val_{row + 1:08d} {int(i)}\n" for row, i in enumerate(det.ids)).encode()


def objects_file(det: DetDemo) -> bytes:
    names = wnids()
    rows = [detection.COMPACT_HEADER] + [
        f"{int(det.ids[r])},{names[c]},{','.join(str(int(v)) for v in b)}"
        for r, c, b in zip(det.image, det.label, det.boxes, strict=True)]
    return ("\n".join(rows) + "\n").encode()


def _table(det: DetDemo, draws: dict[str, np.ndarray], t: float) -> tuple[np.ndarray, ...]:
    # Confidences rounded as they are written (6 decimals), so the file scores as searched.
    conf = np.round(np.concatenate([1 / (1 + np.exp(-(draws["tp"] + t))),
                                    1 / (1 + np.exp(-draws["fp"]))]), 6)
    image = np.concatenate([det.image, draws["fp_image"]])
    label = np.concatenate([det.label, draws["fp_label"]])
    boxes = np.concatenate([det.boxes + draws["jitter"], draws["fp_boxes"]]).astype(np.int64)
    return image, label, conf, boxes


def _render(det: DetDemo, image: np.ndarray, label: np.ndarray, conf: np.ndarray,
            boxes: np.ndarray) -> bytes:
    lines = [f"{int(det.ids[i])} {c + 1} {p:.6f} {b[0]} {b[1]} {b[2]} {b[3]}"
             for i, c, p, b in zip(image, label, conf, boxes, strict=True)]
    return ("\n".join(lines) + "\n").encode()


def predictions(seed: int, det: DetDemo, target: float, tolerance: float = 5e-4) -> bytes:
    """A detection file whose mean AP on ``det`` is ``target`` (within ``tolerance``)."""
    rng = np.random.default_rng(seed)
    n_fp = det.images * FALSE_POSITIVES
    w, h = rng.integers(30, 200, n_fp), rng.integers(30, 150, n_fp)
    x, y = rng.integers(0, WIDTH - w), rng.integers(0, HEIGHT - h)
    draws = {"tp": rng.normal(size=det.image.size), "fp": rng.normal(size=n_fp),
             "jitter": rng.integers(-1, 2, det.boxes.shape),
             "fp_image": rng.integers(0, det.images, n_fp), "fp_label": rng.integers(0, CLASSES, n_fp),
             "fp_boxes": np.stack([x, y, x + w - 1, y + h - 1], axis=1)}
    images = detection.ImageList(tuple(f"DEMO_val_{r + 1:08d}" for r in range(det.images)), det.ids)
    truth = detection.DetTruth(images, detection.DetClasses(tuple(wnids()), tuple(wnids())),
                               det.image.astype(np.int64), det.label.astype(np.int64),
                               det.boxes.astype(np.float64))

    def score(t: float) -> float:
        image, label, conf, boxes = _table(det, draws, t)
        dets = detection.Detections(image.astype(np.int64), label.astype(np.int64), conf,
                                    boxes.astype(np.float64))
        return detection.evaluate_detection(dets, truth, bootstrap=0).score

    # Regula falsi (Illinois): mean AP is smooth enough in t that a handful of scorings do.
    low, high = -4.0, 4.0
    f_low, f_high = score(low) - target, score(high) - target
    best = min((abs(f_low), low), (abs(f_high), high))
    side = 0
    for _ in range(30):
        if best[0] <= tolerance or f_low * f_high > 0:
            break
        mid = (low * f_high - high * f_low) / (f_high - f_low)
        f_mid = score(mid) - target
        best = min(best, (abs(f_mid), mid))
        if f_mid * f_high > 0:
            high, f_high = mid, f_mid
            if side == 1:
                f_low /= 2
            side = 1
        else:
            low, f_low = mid, f_mid
            if side == -1:
                f_high /= 2
            side = -1
    if best[0] > 2 * tolerance:
        raise ValueError(f"no detection file lands on mean AP {target} (off by {best[0]:.4f})")
    return _render(det, *_table(det, draws, best[1]))
