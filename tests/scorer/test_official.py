"""The official devkit tables, to the exact counts, on the real files in ../shared."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import scorer
from scorer.hierarchy import cost_matrix

N = 50_000


def counts(errors: list[float]) -> list[int]:
    """Error rates back to wrong-image counts (exact: N * rate is an integer)."""
    return [round(e * N) for e in errors]


@pytest.fixture(scope="module")
def y2012(shared: Path) -> dict[str, object]:
    root = shared / "2012"
    classes = scorer.load_classes(root / "meta.mat")
    truth = scorer.load_ground_truth(classes, labels=root / "ILSVRC2012_validation_ground_truth.txt",
                                     boxes=root / "LOC_val_solution.csv")
    return {"root": root, "classes": classes, "truth": truth}


@pytest.fixture(scope="module")
def y2010(shared: Path) -> dict[str, object]:
    root = shared / "2010"
    classes = scorer.load_classes(root / "meta.mat")
    truth = scorer.load_ground_truth(classes, labels=root / "ILSVRC2010_validation_ground_truth.txt")
    return {"root": root, "classes": classes, "truth": truth}


def score(year: dict, name: str, task: str) -> scorer.Result:
    classes, truth = year["classes"], year["truth"]
    predictions = scorer.parse_predictions(year["root"] / name, task=task, guesses=5, classes=classes,
                                           images=N)
    return scorer.evaluate(predictions, truth, task=task, guesses=5, classes=classes)


def test_2012_flat_error(y2012: dict) -> None:
    result = score(y2012, "demo.val.pred.txt", "classification")
    assert result.error_at_k == [0.99898, 0.99802, 0.99722, 0.9962, 0.995]
    assert counts(result.error_at_k) == [49949, 49901, 49861, 49810, 49750]
    assert [round(e, 4) for e in result.error_at_k] == [0.9990, 0.9980, 0.9972, 0.9962, 0.9950]
    assert result.error == 0.995
    assert result.ci95[0] < result.error < result.ci95[1]


def test_2012_localization_and_classification_only(y2012: dict) -> None:
    result = score(y2012, "demo.val.pred.det.txt", "localization")
    assert counts(result.error_at_k) == [49999, 49995, 49989, 49985, 49982]
    assert [round(e, 4) for e in result.error_at_k] == [1.0, 0.9999, 0.9998, 0.9997, 0.9996]
    assert result.cls_error_at_k is not None
    assert counts(result.cls_error_at_k) == [49961, 49912, 49854, 49812, 49774]
    assert [round(e, 4) for e in result.cls_error_at_k] == [0.9992, 0.9982, 0.9971, 0.9962, 0.9955]
    assert result.cls_error == result.cls_error_at_k[-1]
    # The outcome vector carries every k: 18 images localized, at these ranks.
    assert np.bincount(result.outcomes, minlength=6)[1:].tolist() == [1, 4, 6, 4, 3]


def test_2010_flat_error(y2010: dict) -> None:
    result = score(y2010, "demo.val.pred.txt", "classification")
    assert [round(e, 4) for e in result.error_at_k] == [0.9101, 0.8716, 0.8422, 0.8191, 0.8003]
    assert counts(result.error_at_k) == [45505, 43578, 42109, 40956, 40013]


def test_2010_hierarchical_cost(y2010: dict) -> None:
    result = score(y2010, "demo.val.pred.txt", "hierarchical")
    assert [round(e, 4) for e in result.error_at_k] == [10.3468, 8.7489, 7.8510, 7.2221, 6.7695]
    assert [round(e * N) for e in result.error_at_k] == [517340, 437446, 392551, 361106, 338477]
    assert result.outcomes.mean() == result.error


def test_cost_matrix_from_hierarchy_equals_the_2010_cost_matrix(y2010: dict) -> None:
    classes = y2010["classes"]
    assert classes.hierarchy is not None and classes.cost_matrix is not None
    computed = cost_matrix(classes.hierarchy, len(classes))
    np.testing.assert_array_equal(computed, classes.cost_matrix)


def test_2012_meta_mat_maps_ids_and_wnids(y2012: dict, shared: Path) -> None:
    classes = y2012["classes"]
    assert len(classes) == 1000
    assert classes.index("1") == classes.index("n02119789") == 0
    kaggle = scorer.load_classes(shared / "2012" / "LOC_synset_mapping.txt")
    assert len(kaggle) == 1000 and kaggle.wnids[0] == "n01440764"
    assert sorted(kaggle.wnids) == sorted(classes.wnids)
    # Without a cost_matrix in the file, the hierarchy gives one.
    assert classes.cost_matrix is not None and classes.cost_matrix.shape == (1000, 1000)


def test_devkit_predictions_against_kaggle_ground_truth(y2012: dict, shared: Path) -> None:
    """The same demo submission written as a Kaggle CSV of wnids, scored with Kaggle's class list
    and labels taken from LOC_val_solution.csv, gives the same numbers."""
    root = shared / "2012"
    meta = y2012["classes"]
    kaggle = scorer.load_classes(root / "LOC_synset_mapping.txt")
    truth = scorer.load_ground_truth(kaggle, boxes=root / "LOC_val_solution.csv")
    rows = ["ImageId,PredictionString"]
    for i, line in enumerate((root / "demo.val.pred.det.txt").read_text().splitlines(), 1):
        tokens = line.split()
        for g in range(0, len(tokens), 5):
            tokens[g] = meta.wnids[int(tokens[g]) - 1]
        rows.append(f"ILSVRC2012_val_{i:08d},{' '.join(tokens)}")
    rows[1:] = rows[:0:-1]  # any row order
    data = ("\n".join(rows) + "\n").encode()
    predictions = scorer.parse_predictions(data, task="localization", guesses=5, classes=kaggle, images=N)
    result = scorer.evaluate(predictions, truth, task="localization", guesses=5, classes=kaggle)
    assert counts(result.error_at_k) == [49999, 49995, 49989, 49985, 49982]
    assert result.cls_error_at_k is not None
    assert counts(result.cls_error_at_k) == [49961, 49912, 49854, 49812, 49774]


def test_cli_reproduces_the_devkit_table(shared: Path) -> None:
    root = shared / "2012"
    out = subprocess.run(
        [sys.executable, "-m", "scorer.cli", "evaluate", "--task", "localization",
         "--predictions", str(root / "demo.val.pred.det.txt"),
         "--labels", str(root / "ILSVRC2012_validation_ground_truth.txt"),
         "--boxes", str(root / "LOC_val_solution.csv"), "--classes", str(root / "meta.mat"), "--json"],
        capture_output=True, text=True, check=True,
    )
    data = json.loads(out.stdout)
    assert data["task"] == "localization" and data["images"] == N
    assert data["error"] == 0.99964
    assert data["error_at_k"] == [0.99998, 0.9999, 0.99978, 0.9997, 0.99964]
    assert data["cls_error_at_k"] == [0.99922, 0.99824, 0.99708, 0.99624, 0.99548]
    low, high = data["ci95"]
    assert low <= data["error"] <= high
