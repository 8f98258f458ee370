"""The task registry (``scorer.tasks``): what each built-in task declares, and detection's
paired bootstrap of mean AP (replicates that resample the same images for every file)."""

from __future__ import annotations

import numpy as np
import pytest

import scorer.tasks
from scorer import detection
from scorer.tasks import Column, Task


def test_builtin_tasks_declare_direction_headline_columns_and_needs():
    tasks = {t.name: t for t in scorer.tasks.all()}
    assert list(tasks)[:4] == ["classification", "localization", "hierarchical", "detection"]
    assert {n: t.direction for n, t in tasks.items() if n in scorer.tasks.BUILTIN} == {
        "classification": "lower", "localization": "lower", "hierarchical": "lower", "detection": "higher"}
    assert [c.key for c in tasks["localization"].columns] == ["error", "cls_error", "top1"]
    assert tasks["hierarchical"].needs_costs and not tasks["classification"].needs_costs
    assert tasks["localization"].needs_boxes and tasks["detection"].needs_boxes
    assert tasks["detection"].headline == "mean AP" and tasks["detection"].rankings == ("categories",)
    assert not tasks["detection"].split_ok and tasks["classification"].split_ok
    assert tasks["detection"].sort_value(0.4) < tasks["detection"].sort_value(0.3)
    assert tasks["classification"].columns[0].header(5) == "Error (top-5)"
    with pytest.raises(scorer.tasks.UnknownTask, match="known tasks: classification, localization"):
        scorer.tasks.get("nope")


def test_a_task_must_say_which_way_is_better_and_lead_with_its_headline():
    common = {"name": "x", "title": "X", "file_format": "", "headline": "h", "parse": len, "evaluate": len}
    with pytest.raises(ValueError, match="direction must be 'lower' or 'higher'"):
        Task(direction="up", columns=(Column("error", "E"),), **common)
    with pytest.raises(ValueError, match="the first column must be the headline"):
        Task(direction="lower", columns=(Column("top1", "T", source="top1"),), **common)
    with pytest.raises(ValueError, match="source must be one of"):
        Column("x", "X", source="nothing")


def _synthetic(seed: int, keep: float):
    """A 120-image, 3-class set and a file keeping ``keep`` of perfect detections plus noise."""
    rng = np.random.default_rng(seed)
    ids = np.arange(1, 121)
    images = detection.load_image_list("".join(f"img_{i} {i}\n" for i in ids).encode())
    classes = detection.load_det_classes(b"n00000001\nn00000002\nn00000003\n")
    objects = [(i, int(rng.integers(0, 3)), 10, 10, 60, 60) for i in ids]
    csv = detection.COMPACT_HEADER + "\n" + "".join(
        f"{i},{classes.wnids[c]},{x0},{y0},{x1},{y1}\n" for i, c, x0, y0, x1, y1 in objects)
    truth = detection.load_det_truth(images, classes, csv.encode())
    draw = np.random.default_rng(99)  # the same noise for every file
    lines = [f"{i} {c + 1} {draw.random():.4f} {x0} {y0} {x1} {y1}"
             for i, c, x0, y0, x1, y1 in objects if draw.random() < keep]
    lines += [f"{int(draw.integers(1, 121))} {int(draw.integers(1, 4))} {draw.random():.4f} 100 100 150 150"
              for _ in range(150)]
    dets = detection.parse_detections(("\n".join(lines) + "\n").encode(), images=images, classes=3)
    return dets, truth


def test_detection_replicates_pair_image_wise_and_do_not_depend_on_batching():
    dets, truth = _synthetic(1, 0.9)
    weaker, _ = _synthetic(1, 0.6)
    a = detection.evaluate_detection(dets, truth, bootstrap=400, seed=0)
    b = detection.evaluate_detection(weaker, truth, bootstrap=400, seed=0)
    assert a.replicates.size == b.replicates.size == 400 and a.score > b.score
    # A file against itself: every paired replicate differs by exactly 0.
    assert detection.paired_replicates(a.replicates, a.replicates, 0.0) == (0.0, 0.0)
    low, high = detection.paired_replicates(a.replicates, b.replicates, b.score - a.score)
    assert low <= b.score - a.score <= high < 0  # a real loss, and the interval says so
    # Pairing is tighter than two independent intervals would be.
    assert high - low < (a.ci95[1] - a.ci95[0]) + (b.ci95[1] - b.ci95[0])
    # The board's comparison goes through the task: replicates stored as the Score's outcomes.
    task = scorer.tasks.get("detection")
    result = task.evaluate(dets, truth, bootstrap=400)
    stored = task.samples(task.pack_outcomes(result.outcomes), 1, 120)
    other = task.samples(task.pack_outcomes(task.evaluate(weaker, truth, bootstrap=400).outcomes), 1, 120)
    pair = task.paired(stored, other, None, bootstrap=400, level=0.95, point=b.score - a.score)
    assert (pair.low, pair.high) == pytest.approx((low, high)) and pair.significant
    assert task.paired(stored, other, np.ones(120, bool), bootstrap=400, level=0.95, point=0.0) is None


def test_bootstrap_draws_do_not_depend_on_the_batch_size(monkeypatch):
    dets, truth = _synthetic(2, 0.8)
    whole = detection.evaluate_detection(dets, truth, bootstrap=50, seed=3).replicates
    # A tiny batch budget: one replicate per batch, the same draws (sums may differ in the
    # last bits, BLAS adding in another order).
    monkeypatch.setattr(detection, "BATCH_CELLS", 1)
    batched = detection.evaluate_detection(dets, truth, bootstrap=50, seed=3).replicates
    np.testing.assert_allclose(whole, batched, rtol=1e-12, atol=0)
