"""Detection's bootstrap replicates against their definition: a replicate's mean AP is the
mean AP of the resampled set itself, each drawn image copied as often as it was drawn,
scored by the plain evaluation. Checked for every way the bootstrap sums false positives
(dense float32 products, their float64 fallback, the sparse running sums)."""

from __future__ import annotations

import numpy as np
import pytest

from scorer import detection

N_IMAGES, N_CLASSES = 60, 4
Objects = list[tuple[int, int, tuple[int, ...]]]
Dets = list[tuple[int, int, float, tuple[float, ...]]]


def _data(seed: int) -> tuple[Objects, Dets]:
    """Objects (image, class, box) and detections (image, class, confidence, box): one to
    three objects an image, hits, near misses and false positives, every confidence
    distinct (so the copies of a detection sit side by side in any ranking)."""
    rng = np.random.default_rng(seed)
    objects, dets = [], []
    for image in range(N_IMAGES):
        for _ in range(int(rng.integers(1, 4))):
            x, y = (int(v) for v in rng.integers(0, 200, 2))
            box = (x, y, x + int(rng.integers(20, 80)), y + int(rng.integers(20, 80)))
            objects.append((image, int(rng.integers(0, N_CLASSES)), box))
    for image, label, box in objects:
        for _ in range(int(rng.integers(0, 3))):  # hits, duplicates and misses of the box
            jittered = np.add(box, rng.normal(0, 6, 4)).round(1).tolist()
            dets.append((image, label, tuple(float(v) for v in jittered)))
    for _ in range(250):  # false positives anywhere
        x, y = (float(v) for v in rng.uniform(0, 250, 2))
        dets.append((int(rng.integers(0, N_IMAGES)), int(rng.integers(0, N_CLASSES)),
                     (round(x, 1), round(y, 1), round(x + 40, 1), round(y + 40, 1))))
    confidence = rng.permutation(len(dets)) / len(dets)
    return objects, [(i, c, float(conf), b) for (i, c, b), conf in zip(dets, confidence, strict=True)]


def _resampled(objects: Objects, dets: Dets, weights: np.ndarray):
    """The set with image ``i`` present ``weights[i]`` times (ids 100*i + copy), parsed."""
    copies = [(i, k) for i in range(N_IMAGES) for k in range(int(weights[i]))]
    images = detection.load_image_list("".join(f"img_{100 * i + k} {100 * i + k}\n"
                                               for i, k in copies).encode())
    classes = detection.load_det_classes("".join(f"n{c:08d}\n" for c in range(1, N_CLASSES + 1)).encode())
    csv = detection.COMPACT_HEADER + "\n" + "".join(
        f"{100 * i + k},{classes.wnids[c]},{','.join(map(str, box))}\n"
        for i, k in copies for image, c, box in objects if image == i)
    truth = detection.load_det_truth(images, classes, csv.encode())
    lines = "".join(f"{100 * i + k} {c + 1} {conf!r} {' '.join(map(repr, box))}\n"
                    for i, k in copies for image, c, conf, box in dets if image == i)
    return detection.parse_detections(lines.encode(), images=images, classes=N_CLASSES), truth


def _weights(seed: int, replicates: int) -> np.ndarray:
    """The image weights of the bootstrap's first replicates (its own draws, a row each)."""
    rng = np.random.default_rng(seed)
    return np.stack([np.bincount(rng.integers(0, N_IMAGES, N_IMAGES), minlength=N_IMAGES)
                     for _ in range(replicates)])


@pytest.mark.parametrize("path", ["dense", "dense-float64", "sparse"])
def test_each_replicate_is_the_mean_ap_of_its_resampled_set(monkeypatch: pytest.MonkeyPatch,
                                                             path: str) -> None:
    if path == "sparse":
        monkeypatch.setattr(detection, "DENSE_FACTOR", 0)
    else:
        monkeypatch.setattr(detection, "DENSE_FACTOR", 10**9)
    if path == "dense-float64":
        monkeypatch.setattr(detection, "_FLOAT32_EXACT", 2)
    objects, dets = _data(5)
    result = detection.evaluate_detection(*_resampled(objects, dets, np.ones(N_IMAGES)), bootstrap=8, seed=11)
    expected = [detection.evaluate_detection(*_resampled(objects, dets, w), bootstrap=0).score
                for w in _weights(11, 8)]
    np.testing.assert_allclose(result.replicates, expected, rtol=0, atol=1e-12)
    assert len(set(np.round(expected, 9))) > 4  # the replicates do differ
