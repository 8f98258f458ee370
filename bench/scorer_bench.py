"""Scorer benchmark: a synthetic 100,000-image test-size submission, 5 guesses.

For classification and localization it prints the time to parse + validate +
score every k + the bootstrap interval, the throughput, the peak memory
(tracemalloc, which sees numpy's buffers) and the ratio to a floor measured in
the same run: numpy alone turning the same bytes into integers.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np

import scorer

IMAGES = 100_000
GUESSES = 5
CLASSES = 1000
REPEAT = 5
TARGETS = {"classification": ("seconds", 0.1), "localization": ("floor ratio", 2.5)}


def _classes() -> scorer.ClassList:
    wnids = tuple(f"n{i:08d}" for i in range(1, CLASSES + 1))
    return scorer.ClassList(wnids, wnids)


def _lines(table: np.ndarray) -> bytes:
    return ("\n".join(" ".join(map(str, row)) for row in table.tolist()) + "\n").encode()


def make_files(seed: int = 0) -> dict[str, bytes]:
    """Ground truth (labels, ~1.6 boxes per image as a Kaggle CSV) and two submissions,
    about a third of whose guesses carry the right label."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(1, CLASSES + 1, IMAGES)
    guesses = rng.integers(1, CLASSES + 1, (IMAGES, GUESSES))
    lucky = rng.random((IMAGES, GUESSES)) < 0.07
    guesses[lucky] = np.broadcast_to(truth[:, None], guesses.shape)[lucky]
    x0, y0 = rng.integers(0, 300, (2, IMAGES, GUESSES))
    w, h = rng.integers(20, 200, (2, IMAGES, GUESSES))
    loc = np.stack([guesses, x0, y0, x0 + w, y0 + h], axis=2).reshape(IMAGES, -1)

    # Ground-truth boxes, ~1.6 per image: the first near the first guess's box (so some
    # localizations succeed), a second for half the images, a third for a tenth.
    boxes = 1 + (rng.random(IMAGES) < 0.5) + (rng.random(IMAGES) < 0.1)
    first = np.maximum(loc[:, 1:5] + rng.integers(-15, 16, (IMAGES, 4)), 0).tolist()
    second = np.maximum(loc[:, 6:10] + rng.integers(-100, 100, (IMAGES, 4)), 0).tolist()
    third = np.maximum(loc[:, 11:15] + rng.integers(-100, 100, (IMAGES, 4)), 0).tolist()
    rows = ["ImageId,PredictionString"]
    for i, (label, count) in enumerate(zip(truth.tolist(), boxes.tolist(), strict=True)):
        wnid = f"n{label:08d}"
        parts = [f"{wnid} {a} {b} {c} {d}" for a, b, c, d in [first[i], second[i], third[i]][:count]]
        rows.append(f"ILSVRC2012_test_{i + 1:08d},{' '.join(parts)}")
    return {
        "labels": _lines(truth[:, None]),
        "boxes": ("\n".join(rows) + "\n").encode(),
        "classification": _lines(guesses),
        "localization": _lines(loc),
    }


def best_of(func: Callable[[], Any], repeat: int = REPEAT) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def peak_bytes(func: Callable[[], Any]) -> int:
    tracemalloc.start()
    try:
        func()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main() -> None:
    print(f"scorer benchmark: {IMAGES:,} images, {GUESSES} guesses, {CLASSES} classes "
          f"(best of {REPEAT})")
    classes = _classes()
    started = time.perf_counter()
    files = make_files()
    truth = scorer.load_ground_truth(classes, labels=files["labels"], boxes=files["boxes"])
    print(f"  setup (synthetic files, ground truth with {truth.box_image.size:,} boxes): "
          f"{time.perf_counter() - started:.1f} s")
    header = (f"  {'task':<15}{'MB':>6}{'floor s':>9}{'check s':>9}{'total s':>9}{'MB/s':>7}"
              f"{'x floor':>9}{'peak MB':>9}{'x file':>8}  target")
    print(header)
    for task in ("classification", "localization"):
        data = files[task]

        def check(data: bytes = data, task: str = task) -> scorer.Predictions:
            return scorer.parse_predictions(data, task=task, guesses=GUESSES, classes=classes,
                                            images=IMAGES)

        def full(check: Callable[[], scorer.Predictions] = check, task: str = task) -> scorer.Result:
            return scorer.evaluate(check(), truth, task=task, guesses=GUESSES, classes=classes,
                                   bootstrap=1000)

        floor = best_of(lambda data=data: np.fromstring(data, dtype=np.int64, sep=" "))
        checking = best_of(check)
        total = best_of(full)
        peak = peak_bytes(full)
        mb = len(data) / 1e6
        kind, limit = TARGETS[task]
        value = total if kind == "seconds" else total / floor
        verdict = "met" if value < limit else "MISSED"
        print(f"  {task:<15}{mb:>6.1f}{floor:>9.3f}{checking:>9.3f}{total:>9.3f}{mb / total:>7.0f}"
              f"{total / floor:>9.2f}{peak / 1e6:>9.1f}{peak / len(data):>8.1f}  "
              f"{kind} < {limit}: {verdict}; peak < 10x file: {'met' if peak < 10 * len(data) else 'MISSED'}")
    result = full()
    print(f"  (localization error {result.error:.4f}, classification-only {result.cls_error:.4f}, "
          f"95% CI {result.ci95[0]:.4f}..{result.ci95[1]:.4f})")


if __name__ == "__main__":
    main()
