"""Hand-built cases: IoU at the 0.5 boundary, one-pixel boxes, several boxes, blacklists,
short lines, hierarchical costs, per-class errors, outcomes and their storage."""

from __future__ import annotations

import numpy as np
import pytest
from scorer_helpers import truth

import scorer

GT = (0, 0, 9, 9)  # 10 x 10 pixels, inclusive coordinates


def loc(classes: scorer.ClassList, lines: list[str], gt: scorer.GroundTruth,
        guesses: int = 5) -> scorer.Result:
    data = ("\n".join(lines) + "\n").encode()
    p = scorer.parse_predictions(data, task="localization", guesses=guesses, classes=classes,
                                 images=gt.images)
    return scorer.evaluate(p, gt, task="localization", guesses=guesses, classes=classes, bootstrap=200)


@pytest.mark.parametrize(("box", "correct"), [
    ("0 0 9 9", True),        # identical
    ("0 0 9 19", True),       # 100 / 200: IoU exactly 0.5 counts
    ("0 0 9 20", False),      # 100 / 210
    ("0 0 4 9", True),        # 50 / 100 = 0.5 (width 5 with the +1 rule)
    ("0 0 3 9", False),       # 40 / 100
    ("9 0 18 9", False),      # touches by one pixel column: overlap 10 / 190
    ("10 0 19 9", False),     # adjacent: no overlap at all
    ("9 9 0 0", False),       # degenerate (xmax < xmin): never matches
    ("-5 -5 9 9", False),     # negative coordinates are fine: 100 / 225
    ("0.0 0.0 9.0 19.0", True),   # fractional spelling of the 0.5 case
    ("0 0 9.5 19.5", False),  # 100 / 215.25: fractional, just below
])
def test_iou_boundary(classes: scorer.ClassList, box: str, correct: bool) -> None:
    gt = truth([0], [[GT]])
    result = loc(classes, [f"1 {box}"], gt)
    assert result.error == (0.0 if correct else 1.0)
    assert result.cls_error == 0.0


def test_one_pixel_boxes(classes: scorer.ClassList) -> None:
    gt = truth([0, 0, 0], [[(5, 5, 5, 5)]] * 3)
    result = loc(classes, ["1 5 5 5 5", "1 5 5 6 5", "1 6 6 6 6"], gt)
    # A one-pixel box has area 1; two pixels overlapping one: IoU 1/2 exactly.
    assert result.outcomes.tolist() == [1, 1, 0]


def test_several_boxes_labels_and_ranks(classes: scorer.ClassList) -> None:
    gt = truth([2, 2, 4], [
        [(0, 0, 9, 9), (100, 100, 149, 149)],
        [(0, 0, 9, 9), (100, 100, 149, 149, 7)],  # second box is of another class
        [(10, 10, 20, 20)],
    ])
    result = loc(classes, [
        "1 100 100 149 149  3 100 100 149 149",  # right box, wrong label first; match at k=2
        "3 100 100 149 149  8 100 100 149 149",  # k=2 box is class 8's: any gt box of that label counts
        "5 0 0 9 9  5 10 10 20 20",               # k=2
    ], gt)
    assert result.outcomes.tolist() == [2, 2, 2]
    assert result.error_at_k == [1.0, 0.0, 0.0, 0.0, 0.0]
    assert result.cls_error_at_k == [1 / 3, 0.0, 0.0, 0.0, 0.0]


def test_blacklist(classes: scorer.ClassList) -> None:
    gt = truth([0, 1, 2, 3], [[GT]] * 4, blacklist=[2])
    result = loc(classes, ["1 0 0 9 9", "9 0 0 9 9", "3 50 50 60 60", "4 50 50 60 60"], gt)
    # Image 2 is blacklisted: excluded from the localization error (2 wrong of 3);
    # the classification error still counts it (1 wrong of 4).
    assert result.outcomes.tolist() == [1, scorer.EXCLUDED, 0, 0]
    assert result.error == 2 / 3
    assert result.cls_error == 1 / 4
    assert np.isnan(result.per_class[1]) and result.per_class[0] == 0.0 and result.per_class[2] == 1.0


def test_blacklist_file(classes: scorer.ClassList) -> None:
    base = dict(labels=b"1\n2\n3\n", boxes=(
        b"ImageId,PredictionString\nimg_1,n10000000 0 0 9 9\nimg_2,n10000001 0 0 9 9\n"
        b"img_3,n10000002 0 0 9 9\n"))
    gt = scorer.load_ground_truth(classes, **base, blacklist=b"3\r\n1\n")
    assert gt.blacklist.tolist() == [True, False, True]
    for bad, token in [(b"4\n", "4"), (b"0\n", "0"), (b"x\n", "x")]:
        with pytest.raises(scorer.FormatError) as info:
            scorer.load_ground_truth(classes, **base, blacklist=bad)
        assert (info.value.line, info.value.token) == (1, token)
        assert "1..3" in info.value.message


def test_short_lines_and_error_at_each_k(classes: scorer.ClassList) -> None:
    gt = truth([0, 1, 2, 3])
    data = b"1\n5 6 2\n\n9 8 7 6 4\n"
    p = scorer.parse_predictions(data, task="classification", guesses=5, classes=classes, images=4)
    r = scorer.evaluate(p, gt, task="classification", guesses=5, classes=classes)
    assert r.outcomes.tolist() == [1, 3, 0, 5]
    assert r.error_at_k == [0.75, 0.75, 0.5, 0.5, 0.25]
    assert r.to_json()["error_at_k"] == r.error_at_k and "cls_error_at_k" not in r.to_json()
    # A track with fewer guesses than the file: extras ignored, not errors.
    r2 = scorer.evaluate(scorer.parse_predictions(data, task="classification", guesses=2, classes=classes,
                                                  images=4), gt, task="classification", guesses=2,
                         classes=classes)
    assert r2.error_at_k == [0.75, 0.75]
    assert r2.warnings == ["4 guesses beyond the first 2 per image were ignored"]


def test_hierarchical_missing_guess_costs_the_maximum() -> None:
    wnids = ("a1", "a2", "b1")
    costs = np.array([[0, 1, 3], [1, 0, 3], [3, 3, 0]], dtype=np.uint8)
    classes = scorer.ClassList(wnids, wnids, costs)
    gt = truth([0, 0, 2])
    p = scorer.parse_predictions(b"2 3\n\na1\n", task="hierarchical", guesses=2, classes=classes, images=3)
    r = scorer.evaluate(p, gt, task="hierarchical", guesses=2, classes=classes)
    assert r.error_at_k == [(1 + 3 + 3) / 3, (1 + 3 + 3) / 3]
    assert r.outcomes.tolist() == [1, 3, 3]
    assert r.per_class[0] == 2.0 and np.isnan(r.per_class[1]) and r.per_class[2] == 3.0


def test_image_count_mismatch_is_a_format_error(classes: scorer.ClassList) -> None:
    p = scorer.parse_predictions(b"1\n2\n", task="classification", guesses=5, classes=classes, images=None)
    with pytest.raises(scorer.FormatError, match="expected 3 lines .* found 2"):
        scorer.evaluate(p, truth([0, 1, 2]), task="classification", guesses=5, classes=classes)


def test_outcomes_and_arrays_round_trip() -> None:
    outcomes = np.random.default_rng(0).integers(0, 6, 100_000).astype(np.uint8)
    packed = scorer.pack_outcomes(outcomes)
    assert len(packed) < 60_000
    np.testing.assert_array_equal(scorer.unpack_outcomes(packed), outcomes)
    for array in (np.array([0.25, np.nan, 1.0]), np.arange(12, dtype=np.int16).reshape(3, 4)):
        back = scorer.unpack_array(scorer.pack_array(array))
        assert back.dtype == array.dtype
        np.testing.assert_array_equal(back, array)


def test_bootstrap_is_seeded_and_matches_index_resampling() -> None:
    rng = np.random.default_rng(3)
    wrong = rng.random(5_000) < 0.3
    a = scorer.bootstrap_ci(wrong, bootstrap=2000, seed=7)
    assert a == scorer.bootstrap_ci(wrong, bootstrap=2000, seed=7)
    assert a[0] < wrong.mean() < a[1]
    # The plain way: resample image indices.
    draws = rng.integers(0, wrong.size, size=(2000, wrong.size))
    plain = np.percentile(wrong[draws].mean(axis=1), [2.5, 97.5])
    assert abs(a[0] - plain[0]) < 0.004 and abs(a[1] - plain[1]) < 0.004
    # Excluded (blacklisted) images never count.
    lo, hi = scorer.bootstrap_ci(np.array([1, 1, 0, 0]), np.array([True, True, False, False]), seed=1)
    assert lo == hi == 1.0
