"""The vectorized ground-truth parse (Kaggle box CSV, devkit label text) against the
precise token-by-token parser: the same arrays wherever the fast path answers, and the
precise parser's line-numbered messages wherever it declines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from scorer_helpers import WNIDS, make_classes

import scorer
from scorer import truth
from scorer.errors import FormatError

CLASSES = make_classes()
REAL = Path(__file__).resolve().parents[3] / "shared" / "ilsvrc" / "2012"
HEAD = "ImageId,PredictionString\n"


def precise(classes: scorer.ClassList, data: bytes, images: int | None) -> truth._Boxes:
    found = truth._csv_boxes_precise(classes, data, images)
    order = np.argsort(found.image, kind="stable")
    return truth._Boxes(found.image[order], found.label[order], found.coords[order])


def same(a: truth._Boxes, b: truth._Boxes) -> bool:
    return (np.array_equal(a.image, b.image) and np.array_equal(a.label, b.label)
            and a.coords.dtype == b.coords.dtype == np.float64 and np.array_equal(a.coords, b.coords)
            and a.image.dtype == b.image.dtype == np.int64 and a.label.dtype == np.int64)


def fast_agrees(data: bytes, images: int | None = None, classes: scorer.ClassList = CLASSES) -> bool:
    """True if the fast path answered (and then equals the precise parser)."""
    fast = truth._fast_csv(classes, data, images)
    if fast is None:
        return False
    assert same(fast, precise(classes, data, images))
    return True


@pytest.mark.skipif(not (REAL / "LOC_val_solution.csv").is_file(),
                    reason=f"{REAL} (the shared ILSVRC 2012 files) is absent")
def test_real_solution_csv_is_parsed_exactly() -> None:
    classes = scorer.load_classes(REAL / "meta.mat")
    data = (REAL / "LOC_val_solution.csv").read_bytes()
    assert fast_agrees(data, classes=classes)
    gt = scorer.load_ground_truth(classes, boxes=data)
    assert gt.images == 50_000 and gt.box_image.size == 80_477
    # Labels taken from the first box of each image: the devkit's label file agrees.
    labels = scorer.load_ground_truth(classes, labels=REAL / "ILSVRC2012_validation_ground_truth.txt")
    assert np.array_equal(gt.labels, labels.labels)


@pytest.mark.parametrize("body", [
    # extra spaces, a tab, Kaggle's trailing space
    f"img_2,  {WNIDS[4]}  5 6\t7 8 \nimg_1,{WNIDS[2]} 1 2 3 4 {WNIDS[2]} 10 20 30 40 \n",
    # CRLF line ends, no final line end
    f"img_1,{WNIDS[2]} 1 2 3 4\r\nimg_2,{WNIDS[4]} 5 6 7 8\r\n",
    f"img_1,{WNIDS[2]} 1 2 3 4\nimg_2,{WNIDS[4]} 5 6 7 8",
    # IDs as labels, fractional and exponent coordinates
    f"img_1,3 1.5 2e1 .5 3.\nimg_2,{WNIDS[4]} 0.1 1E2 7.25 8\n",
    # ImageIds with digits in their prefix, and zero-padded
    f"ILSVRC2012_val_00000002,{WNIDS[4]} 5 6 7 8\nILSVRC2012_val_00000001,{WNIDS[9]} 1 2 3 4\n",
])
def test_fast_path_takes_ordinary_files(body: str) -> None:
    assert fast_agrees((HEAD + body).encode())
    assert fast_agrees(("\ufeff" + HEAD.replace(",", " , ").upper() + body).encode(), images=2)


@pytest.mark.parametrize("body", [
    f"img_1,{WNIDS[2]} -1 2 3 4\nimg_2,{WNIDS[4]} 5 6 7 8\n",  # negative coordinate: legal
    f"img_1,{WNIDS[2]} +1 2 3 4\nimg_2,{WNIDS[4]} 5 6 7 8\n",  # '+' sign: legal
    f"img_1,{WNIDS[2]} 1_0 2 3 4\nimg_2,{WNIDS[4]} 5 6 7 8\n",  # Python's float reads 1_0
    f"img_1,03 1 2 3 4\nimg_2,{WNIDS[4]} 5 6 7 8\n",  # an ID with a leading zero
    f" img_1 ,{WNIDS[2]} 1 2 3 4\nimg_2,{WNIDS[4]} 5 6 7 8\n",  # spaces around the ImageId
    f"img_1,{WNIDS[2]} 1 2 3 4\n\nimg_2,{WNIDS[4]} 5 6 7 8\n",  # a blank line
    f"img_1,{WNIDS[2]} 1 2 3 4\nimg_2,{WNIDS[4]} 5 6 7 \u0668\n",  # an Arabic-Indic 8, read by float()
])
def test_unusual_but_valid_files_fall_back_and_still_parse(body: str) -> None:
    data = (HEAD + body).encode()
    assert truth._fast_csv(CLASSES, data, None) is None
    gt = scorer.load_ground_truth(CLASSES, boxes=data)
    assert gt.images == 2 and gt.box_image.tolist() == [0, 1]


BAD = [
    # (body, line, token, words of the precise parser's message)
    (f"img_1,{WNIDS[2]} 1 2 3 4\nimg_2,\n", 3, None, "groups of 'wnid xmin ymin xmax ymax'"),
    (f"img_1,{WNIDS[2]} 1 2 3 4\nimg_2, \r\n", 3, None, "groups of 'wnid xmin ymin xmax ymax'"),
    (f"img_1,{WNIDS[2]} 1 2 3\nimg_2,{WNIDS[4]} 5 6 7 8\n", 2, f"{WNIDS[2]} 1 2 3", "groups of"),
    (f"img_1,{WNIDS[2]} 1 2 3 4 5\nimg_2,{WNIDS[4]} 5 6 7 8\n", 2, f"{WNIDS[2]} 1 2 3 4", "groups of"),
    (f"img_1,{WNIDS[2]} 1 2 3 4\nimg_2,n99999999 5 6 7 8\n", 3, "n99999999", "not a class"),
    (f"img_1,{WNIDS[2]} 1 2 3 4\nimg_2,n1000004 5 6 7 8\n", 3, "n1000004", "not a class"),
    (f"img_1,{WNIDS[2]} 1 2 3 4\nimg_2,n100000040 5 6 7 8\n", 3, "n100000040", "not a class"),
    (f"img_1,{WNIDS[2]} 1 2 3 4\nimg_2,{WNIDS[4]}.0 5 6 7 8\n", 3, f"{WNIDS[4]}.0", "not a class"),
    (f"img_1,11 1 2 3 4\nimg_2,{WNIDS[4]} 5 6 7 8\n", 2, "11", "class ID out of range"),
    (f"img_1,0 1 2 3 4\nimg_2,{WNIDS[4]} 5 6 7 8\n", 2, "0", "class ID out of range"),
    (f"img_1,3.0 1 2 3 4\nimg_2,{WNIDS[4]} 5 6 7 8\n", 2, "3.0", "not a class"),
    (f"img_1,{WNIDS[2]} 1 2 x 4\nimg_2,{WNIDS[4]} 5 6 7 8\n", 2, "x", "must be a number"),
    (f"img_1,{WNIDS[2]} 1 2 n3 4\nimg_2,{WNIDS[4]} 5 6 7 8\n", 2, "n3", "must be a number"),
    (f"img_1,{WNIDS[2]} 1 2 n0 4\nimg_2,{WNIDS[4]} 5 6 7 8\n", 2, "n0", "must be a number"),
    (f"img_1,{WNIDS[2]} 1 2 3 1e\nimg_2,{WNIDS[4]} 5 6 7 8\n", 2, "1e", "must be a number"),
    (f"img_1,{WNIDS[2]} 1 2 3 4\nimg_2,{WNIDS[4]} 5 6 7 1e999\n", 3, "1e999", "finite"),
    (f"img_1,{WNIDS[2]} 1 2 3 4\nimg_2,{WNIDS[4]} 5 6,7 8 9\n", 3, "6,7", "must be a number"),
    (f"img_1,{WNIDS[2]} 1 2 3 4\nimg_1,{WNIDS[4]} 5 6 7 8\n", 3, "img_1",
     "duplicate ImageId (first on line 2)"),
    (f"img_1,{WNIDS[2]} 1 2 3 4\nimg_3,{WNIDS[4]} 5 6 7 8\n", None, None, "missing ImageId 'img_2'"),
    (f"img_1,{WNIDS[2]} 1 2 3 4\nimg,{WNIDS[4]} 5 6 7 8\n", 3, "img", "must end with the image's number"),
    (f"img_1,{WNIDS[2]} 1 2 3 4\nimg_2 {WNIDS[4]} 5 6 7 8\n", 3, f"img_2 {WNIDS[4]} 5 6 7 8", "no comma"),
]


@pytest.mark.parametrize(("body", "line", "token", "words"), BAD)
def test_hostile_files_get_the_precise_message(body: str, line: int | None, token: str | None,
                                               words: str) -> None:
    data = (HEAD + body).encode()
    assert truth._fast_csv(CLASSES, data, None) is None
    with pytest.raises(FormatError) as info:
        scorer.load_ground_truth(CLASSES, boxes=data)
    assert words in info.value.message
    if token is not None or line is not None:
        assert (info.value.line, info.value.token) == (line, token)
    with pytest.raises(FormatError) as slow:
        precise(CLASSES, data, None)
    assert str(slow.value) == str(info.value)


def test_header_and_image_count_are_checked() -> None:
    body = f"img_1,{WNIDS[2]} 1 2 3 4\nimg_2,{WNIDS[4]} 5 6 7 8\n"
    for data, images, words in [(("ImageId,Prediction\n" + body).encode(), None, "wrong CSV header"),
                                ((HEAD + body).encode(), 3, "expected 3 rows"),
                                ((HEAD + body).encode(), 1, "out of range")]:
        assert truth._fast_csv(CLASSES, data, images) is None
        with pytest.raises(FormatError, match=words):
            scorer.load_ground_truth(CLASSES, boxes=data, labels=b"1\n" * (images or 2))


def test_other_class_lists_use_the_precise_parser() -> None:
    odd = scorer.load_classes(b"cat\ndog\n")
    data = (HEAD + "img_1,cat 1 2 3 4\nimg_2,dog 5 6 7 8 1 1 2 2 3\n").encode()
    assert truth._fast_csv(odd, data, None) is None
    gt = scorer.load_ground_truth(odd, boxes=data.replace(b" 1 1 2 2 3", b" 2 1 1 2 2"))
    assert gt.box_label.tolist() == [0, 1, 1]


def test_label_text_fast_path_and_its_fallbacks() -> None:
    gt = scorer.load_ground_truth(CLASSES, labels=b"3\r\n10\n 1 \n")
    assert gt.labels.tolist() == [2, 9, 0]
    assert scorer.load_ground_truth(CLASSES, labels=f"{WNIDS[1]}\n07\n".encode()).labels.tolist() == [1, 6]
    for data, line, words in [(b"1\n\n2\n", 2, "found 0"), (b"1\n2\n\n", 3, "found 0"),
                              (b"1\n2 3\n", 2, "found 2"), (b"1\n-2\n", 2, "not a class"),
                              (b"1\n2.0\n", 2, "not a class"), (b"1\n0\n", 2, "out of range")]:
        with pytest.raises(FormatError) as info:
            scorer.load_ground_truth(CLASSES, labels=data)
        assert info.value.line == line and words in info.value.message


# Mostly valid tokens (so whole files often are), some hostile ones.
LABELS = [*WNIDS[:3], "1", "3", "10"] * 6 + ["11", "0", "03", "n1000000", "n100000000", "3.0", "x"]
HOSTILE = ["1e", "x", "-1", "+2", "n0", "nan", "inf", "1e999", "1,2", "1.2.3", "1E-2"]
COORDS = ["0", "7", "12", "1.5", "2e1", ".5", "3.", "00.25"] * 20 + HOSTILE
INTEGERS = ["0", "7", "12", "0012"] * 80 + HOSTILE  # numpy's integer path, mostly


def files(coords: list[str]) -> st.SearchStrategy:
    group = st.tuples(st.sampled_from(LABELS), *[st.sampled_from(coords)] * 4).map(list)
    return st.lists(st.tuples(st.sampled_from(["img_", "ILSVRC2012_val_000", "", "a1_"]),
                              st.lists(group, max_size=3),
                              st.sampled_from([[]] * 9 + [["5"]]),
                              st.sampled_from([" ", "  ", "\t", " \r"]),
                              st.sampled_from(["\n", "\r\n"])),
                    min_size=1, max_size=6)


@settings(max_examples=500, deadline=None)
@given(st.one_of(files(COORDS), files(INTEGERS)), st.permutations(range(6)), st.booleans())
def test_fast_path_never_disagrees(rows: list, order: list[int], sized: bool) -> None:
    numbers = [i + 1 for i in order if i < len(rows)]
    body = "".join(f"{prefix}{n},{sep.join(sum(groups, []) + stray)}{end}"
                   for n, (prefix, groups, stray, sep, end) in zip(numbers, rows, strict=True))
    data = (HEAD + body).encode()
    images = len(rows) if sized else None
    fast = truth._fast_csv(CLASSES, data, images)
    try:
        slow = precise(CLASSES, data, images)
    except FormatError:
        event("refused")
        assert fast is None
        return
    event("fast path" if fast is not None else "precise parser only")
    if fast is not None:
        assert same(fast, slow)
