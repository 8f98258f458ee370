"""Property: the vectorized metrics equal a plain per-image reference, written straight
from the protocol text, on random submissions (through the real text parsers)."""

from __future__ import annotations

import numpy as np
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from scorer_helpers import WNIDS, make_classes

import scorer
from scorer.fastparse import parse_kaggle_csv, parse_numbers
from scorer.kaggle import HEADER
from scorer.predictions import _parse_csv, _parse_precise
from scorer.sources import split_lines

CLASSES = make_classes()
coord = st.integers(min_value=-2, max_value=14)
box = st.tuples(coord, coord, coord, coord)
label = st.integers(min_value=0, max_value=3)  # few labels: many label matches


@st.composite
def cases(draw: st.DrawFn) -> dict:
    n = draw(st.integers(min_value=1, max_value=12))
    guesses = draw(st.integers(min_value=1, max_value=5))
    labels = draw(st.lists(label, min_size=n, max_size=n))
    gt_boxes = [draw(st.lists(st.tuples(box, st.one_of(st.just(labels[i]), label)), min_size=1, max_size=3))
                for i in range(n)]
    preds = []
    for i in range(n):
        row = []
        for _ in range(draw(st.integers(min_value=0, max_value=7))):
            if draw(st.booleans()):
                row.append((draw(label), draw(box)))
                continue
            # Near a ground-truth box: doubled height or width lands exactly on IoU 0.5.
            (x0, y0, x1, y1), lab = draw(st.sampled_from(gt_boxes[i]))
            dx = draw(st.sampled_from([0, x1 - x0 + 1, x1 - x0 + 2, x1 - x0, -1, 1]))
            dy = draw(st.sampled_from([0, y1 - y0 + 1, y1 - y0 + 2, y1 - y0, -1, 1]))
            row.append((draw(st.one_of(st.just(lab), label)), (x0, y0, x1 + dx, y1 + dy)))
        preds.append(row)
    blacklist = draw(st.lists(st.integers(min_value=1, max_value=n), unique=True, max_size=n - 1))
    as_wnids = draw(st.booleans())  # wnids force the precise parser, IDs the fast path
    return {"n": n, "guesses": guesses, "labels": labels, "gt_boxes": gt_boxes, "preds": preds,
            "blacklist": blacklist, "as_wnids": as_wnids}


def reference_iou(b: tuple, g: tuple) -> float | None:
    iw = min(b[2], g[2]) - max(b[0], g[0]) + 1
    ih = min(b[3], g[3]) - max(b[1], g[1]) + 1
    if iw <= 0 or ih <= 0:
        return None
    inter = iw * ih
    return inter / ((b[2] - b[0] + 1) * (b[3] - b[1] + 1) + (g[2] - g[0] + 1) * (g[3] - g[1] + 1) - inter)


def reference(case: dict) -> tuple[list[float], list[float]]:
    n, k_max = case["n"], case["guesses"]
    loc, cls = [], []
    for k in range(1, k_max + 1):
        loc_wrong = cls_wrong = 0
        for i in range(n):
            guesses = case["preds"][i][:k]
            if not any(lab == case["labels"][i] for lab, _ in guesses):
                cls_wrong += 1
            if i + 1 in case["blacklist"]:
                continue
            ok = any(lab == glab and (iou := reference_iou(b, g)) is not None and iou >= 0.5
                     for lab, b in guesses for g, glab in case["gt_boxes"][i])
            loc_wrong += not ok
        loc.append(loc_wrong / (n - len(case["blacklist"])))
        cls.append(cls_wrong / n)
    return loc, cls


def submission(case: dict) -> bytes:
    def name(lab: int) -> str:
        return WNIDS[lab] if case["as_wnids"] else str(lab + 1)
    return "".join(" ".join(f"{name(lab)} {' '.join(map(str, b))}" for lab, b in row) + "\n"
                   for row in case["preds"]).encode()


def ground_truth(case: dict) -> scorer.GroundTruth:
    rows = ["ImageId,PredictionString"]
    for i, boxes in enumerate(case["gt_boxes"]):
        groups = " ".join(f"{WNIDS[lab]} {' '.join(map(str, b))}" for b, lab in boxes)
        rows.append(f"img_{i + 1:08d},{groups}")
    labels = "".join(f"{lab + 1}\n" for lab in case["labels"])
    blacklist = "".join(f"{b}\n" for b in case["blacklist"])
    return scorer.load_ground_truth(CLASSES, labels=labels.encode(), boxes=("\n".join(rows) + "\n").encode(),
                                    blacklist=blacklist.encode())


@settings(max_examples=100, deadline=None)
@given(cases())
def test_localization_equals_reference(case: dict) -> None:
    assume(any(case["preds"]))  # a file without a single guess is rejected as empty
    predictions = scorer.parse_predictions(submission(case), task="localization", guesses=case["guesses"],
                                           classes=CLASSES, images=case["n"])
    result = scorer.evaluate(predictions, ground_truth(case), task="localization",
                             guesses=case["guesses"], classes=CLASSES, bootstrap=50)
    loc, cls = reference(case)
    assert result.error_at_k == loc
    assert result.cls_error_at_k == cls
    assert predictions.ignored_guesses == sum(max(0, len(p) - case["guesses"]) for p in case["preds"])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 9), st.lists(st.integers(0, 9), max_size=6)), min_size=1,
                max_size=15), st.integers(1, 5))
def test_hierarchical_equals_reference(rows: list, guesses: int) -> None:
    assume(any(gs for _, gs in rows))  # a file without a single guess is rejected as empty
    rng = np.random.default_rng(len(rows))
    costs = rng.integers(1, 19, (10, 10)).astype(np.uint8)
    costs = np.minimum(costs, costs.T)
    np.fill_diagonal(costs, 0)
    classes = scorer.ClassList(CLASSES.wnids, CLASSES.names, costs)
    truth = scorer.load_ground_truth(classes, labels="".join(f"{t + 1}\n" for t, _ in rows).encode())
    data = "".join(" ".join(str(g + 1) for g in gs) + "\n" for _, gs in rows).encode()
    p = scorer.parse_predictions(data, task="hierarchical", guesses=guesses, classes=classes,
                                 images=len(rows))
    result = scorer.evaluate(p, truth, task="hierarchical", guesses=guesses, classes=classes, bootstrap=50)
    worst = int(costs.max())
    for k in range(1, guesses + 1):
        per_image = [min([int(costs[g, t]) for g in gs[:k]] + ([worst] if len(gs) < k else []))
                     for t, gs in rows]
        assert result.error_at_k[k - 1] == sum(per_image) / len(rows)


VALID = ["1", "1", "1", "2", "10", "7", "007", "-3", "-0", "4"]  # weighted so whole lines often parse
FLOATS = ["5.5", "1e2", "1.", ".5", "1e", "e5", "1.e5", "-.5", "0.5e-3", "1E2", "7.0", "-2.5", "1.5.5"]
TOKENS = [*VALID, *VALID, *FLOATS, "0", "11", "-", "+4", "x", "9" * 20, "--1", "3-", "inf"]
junk_line = st.lists(st.sampled_from(TOKENS), max_size=11).flatmap(
    lambda tokens: st.lists(st.sampled_from([" ", "  ", "\t", " \r", "\v"]), min_size=len(tokens) + 1,
                            max_size=len(tokens) + 1).map(
        lambda gaps: "".join(g + t for g, t in zip(gaps, [*tokens, ""], strict=True))))
junk = st.lists(junk_line, min_size=1, max_size=6).map(lambda lines: "\n".join(lines) + "\n")


def _parse_lines_precise(text: str, group: int, images: int | None) -> object:
    """The per-line parser alone (parse_predictions mixes it with the fast path per block)."""
    lines = split_lines(text)
    if images is not None and len(lines) > images and not "".join(lines[images:]).strip():
        del lines[images:]
    if images is not None and len(lines) != images:
        raise scorer.FormatError("line count")
    return _parse_precise(lines, 0, group, 3, CLASSES)


@settings(max_examples=400, deadline=None)
@given(st.one_of(junk, st.text(alphabet="0123456789 -+\n\r\t\v.e_x", min_size=1, max_size=60)),
       st.sampled_from([1, 5]), st.one_of(st.none(), st.integers(1, 6)))
@example("1 2 3 4 -\n", 5, None)  # numpy alone reads a lone '-' as 0
@example("1 2 3 4 - 5\n", 5, None)
@example("1e0 0.5 0 9 9\n", 5, None)  # numpy's float parser reads "1e0" as a label 1
@example("10 0.5 0 9 9\n1e1 0.5 0 9 9\n", 5, None)
def test_fast_path_never_disagrees_with_the_precise_parser(text: str, group: int, images: int | None) -> None:
    """On integer-ish junk the fast path either declines or returns exactly what the
    per-line parser returns; it never accepts what the precise parser rejects."""
    fast = parse_numbers(text.encode(), group=group, guesses=3, n_classes=10, images=images)
    try:
        precise = _parse_lines_precise(text, group, images)
    except scorer.FormatError:
        assert fast is None
        return
    if fast is not None:
        np.testing.assert_array_equal(fast.labels, precise.labels)
        if group > 1:
            np.testing.assert_array_equal(fast.boxes, precise.boxes)
        assert fast.ignored == precise.ignored


CSV_TOKENS = [*VALID, *WNIDS[:3], "n5", "n1000000", "-2", "nan", "x", "11", f"x{WNIDS[0]}"]
csv_row = st.tuples(st.sampled_from(["img_", "ILSVRC2012_val_000", "", "a1b"]),
                    st.lists(st.sampled_from(CSV_TOKENS), max_size=11))


@settings(max_examples=300, deadline=None)
@given(st.lists(csv_row, min_size=1, max_size=5), st.sampled_from([1, 5]), st.booleans(), st.randoms())
@example([("img_", ["1", "2", "3", "4", "n5"])], 5, True, None)  # 'n5' is no wnid, not -5
def test_csv_fast_path_never_disagrees(rows: list, group: int, shuffle: bool, random: object) -> None:
    lines = [f"{prefix}{i + 1}," + " ".join(tokens) for i, (prefix, tokens) in enumerate(rows)]
    if shuffle and random is not None:
        random.shuffle(lines)  # type: ignore[attr-defined]
    text = "ImageId,PredictionString\n" + "\n".join(lines) + "\n"
    fast = parse_kaggle_csv(text, header=HEADER, group=group, guesses=3, lookup=CLASSES.lookup(),
                            images=len(rows))
    try:
        precise = _parse_csv(text, group, 3, CLASSES, len(rows))
    except scorer.FormatError:
        assert fast is None
        return
    if fast is not None:
        np.testing.assert_array_equal(fast.labels, precise.labels)
        if group > 1:
            np.testing.assert_array_equal(fast.boxes, precise.boxes)
        assert fast.ignored == precise.ignored
