"""Artifacts of parsed class lists and ground truth: exact round trips, nothing damaged trusted."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scorer_helpers import make_classes, truth

import scorer

FIELDS = ("labels", "box_image", "box_label", "box_coords", "blacklist")


def same_truth(a: scorer.GroundTruth, b: scorer.GroundTruth) -> None:
    assert a.images == b.images
    for name in FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.shape == y.shape, name
        np.testing.assert_array_equal(x, y, err_msg=name)


def test_a_small_truth_round_trips_exactly_with_fractional_boxes_and_a_blacklist() -> None:
    original = truth([0, 3, 9, 3], boxes=[[(0, 0, 10, 10)], [(1.5, 2.25, 3.1, 4.0, 7)], [],
                                          [(5, 5, 6, 6), (7, 7, 9, 9)]], blacklist=[2, 4])
    data = scorer.pack_ground_truth(original, "key-1")
    same_truth(scorer.unpack_ground_truth(data, "key-1", classes=10), original)


@pytest.mark.parametrize("key, classes", [("key-2", 10), ("key-1", 3)])
def test_an_artifact_for_another_key_or_class_count_is_refused(key: str, classes: int) -> None:
    data = scorer.pack_ground_truth(truth([0, 3, 9]), "key-1")
    with pytest.raises(scorer.ArtifactError):
        scorer.unpack_ground_truth(data, key, classes=classes)


def test_damaged_bytes_are_refused_not_trusted() -> None:
    data = scorer.pack_ground_truth(truth([0, 3, 9], boxes=[[(0, 0, 1, 1)]] * 3), "k")
    for damaged in (data[: len(data) // 2], b"", b"PK\x03\x04" + b"\0" * 100, data[:-30] + b"x" * 30,
                    scorer.pack_classes(make_classes(), "k")):
        with pytest.raises(scorer.ArtifactError):
            scorer.unpack_ground_truth(damaged, "k", classes=10)


def test_another_format_version_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scorer.artifact, "FORMAT_VERSION", scorer.ARTIFACT_FORMAT + 1)
    data = scorer.pack_ground_truth(truth([0, 1]), "k")
    monkeypatch.undo()
    with pytest.raises(scorer.ArtifactError, match="format"):
        scorer.unpack_ground_truth(data, "k", classes=10)


def test_an_artifact_never_unpickles() -> None:
    # An object array in the archive would need pickle, which the loader refuses.
    buffer = io.BytesIO()
    np.savez(buffer, format=np.array([scorer.ARTIFACT_FORMAT]), kind=np.array("truth"),
             key=np.array("k"), labels=np.array([object()], dtype=object))
    with pytest.raises(scorer.ArtifactError):
        scorer.unpack_ground_truth(buffer.getvalue(), "k", classes=10)


def test_a_text_class_list_round_trips() -> None:
    classes = make_classes()
    back = scorer.unpack_classes(scorer.pack_classes(classes, "c"), "c")
    assert back.wnids == classes.wnids and back.names == classes.names
    assert back.cost_matrix is None and not back.has_costs
    with pytest.raises(scorer.ArtifactError):
        scorer.unpack_classes(scorer.pack_classes(classes, "c"), "other")


# ---------------------------------------------------------------- the real devkit files

def _score(classes: scorer.ClassList, truth: scorer.GroundTruth, path: Path, task: str) -> scorer.Result:
    predictions = scorer.parse_predictions(path, task=task, guesses=5, classes=classes, images=truth.images)
    return scorer.evaluate(predictions, truth, task=task, guesses=5, classes=classes)


def _same_result(a: scorer.Result, b: scorer.Result) -> None:
    assert a.error_at_k == b.error_at_k and a.cls_error_at_k == b.cls_error_at_k and a.ci95 == b.ci95
    np.testing.assert_array_equal(a.outcomes, b.outcomes)
    np.testing.assert_array_equal(a.per_class, b.per_class)


def test_the_real_2012_truth_scores_the_same_from_its_artifact(shared: Path) -> None:
    root = shared / "2012"
    classes = scorer.load_classes(root / "meta.mat")
    parsed = scorer.load_ground_truth(classes, labels=root / "ILSVRC2012_validation_ground_truth.txt",
                                      boxes=root / "LOC_val_solution.csv")
    classes_back = scorer.unpack_classes(scorer.pack_classes(classes, "m"), "m")
    data = scorer.pack_ground_truth(parsed, "t")
    loaded = scorer.unpack_ground_truth(data, "t", classes=len(classes_back))
    same_truth(loaded, parsed)
    assert len(data) < 3_000_000  # 80,477 boxes in under 3 MB
    assert classes_back.wnids == classes.wnids and classes_back.names == classes.names
    np.testing.assert_array_equal(classes_back.cost_matrix, classes.cost_matrix)
    for name, task in (("demo.val.pred.txt", "classification"), ("demo.val.pred.det.txt", "localization")):
        _same_result(_score(classes_back, loaded, root / name, task),
                     _score(classes, parsed, root / name, task))


def test_the_real_2010_cost_matrix_and_hierarchical_cost_survive_the_artifact(shared: Path) -> None:
    root = shared / "2010"
    classes = scorer.load_classes(root / "meta.mat")
    parsed = scorer.load_ground_truth(classes, labels=root / "ILSVRC2010_validation_ground_truth.txt")
    back = scorer.unpack_classes(scorer.pack_classes(classes, "m"), "m")
    loaded = scorer.unpack_ground_truth(scorer.pack_ground_truth(parsed, "t"), "t", classes=len(back))
    assert back.costs is not None and back.hierarchy is not None
    np.testing.assert_array_equal(back.cost_matrix, classes.cost_matrix)
    result = _score(back, loaded, root / "demo.val.pred.txt", "hierarchical")
    _same_result(result, _score(classes, parsed, root / "demo.val.pred.txt", "hierarchical"))
    assert [round(e, 4) for e in result.error_at_k] == [10.3468, 8.7489, 7.8510, 7.2221, 6.7695]


def test_a_2012_meta_mat_builds_no_cost_matrix_until_asked(shared: Path) -> None:
    classes = scorer.load_classes(shared / "2012" / "meta.mat")
    assert classes.costs is None and classes.hierarchy is not None and classes.has_costs
    assert classes._built_costs == []  # reading the list did not build it
    assert classes.cost_matrix is not None and classes.cost_matrix.shape == (1000, 1000)
    assert classes.cost_matrix is classes.cost_matrix  # built once


def test_scipy_is_imported_only_when_a_meta_mat_is_read(tmp_path: Path) -> None:
    listing = tmp_path / "classes.txt"
    listing.write_text("n01 one\nn02 two\n")
    code = ("import sys, scorer; c = scorer.load_classes(sys.argv[1]); "
            "scorer.unpack_classes(scorer.pack_classes(c, 'k'), 'k'); "
            "print('scipy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(listing)], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
