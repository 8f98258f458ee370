"""Validation: every bad file gets one FormatError with line, token and a plain sentence;
odd-but-legal files are accepted."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from scorer_helpers import WNIDS

import scorer
from scorer.fastparse import parse_kaggle_csv, parse_numbers
from scorer.kaggle import HEADER
from scorer.predictions import _parse_precise


def parse(data: bytes, task: str = "classification", images: int | None = 3, guesses: int = 5,
          classes: scorer.ClassList | None = None) -> scorer.Predictions:
    assert classes is not None
    return scorer.parse_predictions(data, task=task, guesses=guesses, classes=classes, images=images)


BAD = [
    # (case, task, data, line, token, words in the message)
    ("too few lines", "classification", b"1\n2\n", None, None, "expected 3 lines (one per image), found 2"),
    ("too many lines", "classification", b"1\n2\n3\n4\n", 4, None,
     "expected 3 lines (one per image), found 4"),
    ("not a number", "localization", b"1 0 0 5 5\n2 0 x 5 5\n3 0 0 5 5\n", 2, "x", "must be a number"),
    ("label above range", "classification", b"1\n11\n2\n", 2, "11", "class ID out of range: IDs are 1..10"),
    ("label zero", "classification", b"1 2\n3 0\n2\n", 2, "0", "class ID out of range"),
    ("negative label", "classification", b"1\n2\n-3\n", 3, "-3", "not a class"),
    ("fractional label", "classification", b"1\n2.0\n3\n", 2, "2.0", "not a class"),
    ("unknown wnid", "classification", b"1\nn99999999\n3\n", 2, "n99999999", "not a class"),
    ("group of 3", "localization", b"1 0 0 5 5 2 0 0\n1 0 0 5 5\n1 0 0 5 5\n", 1, "2 0 0",
     "a localization guess is 5 tokens"),
    ("label alone", "localization", b"1 0 0 5 5\n7\n1 0 0 5 5\n", 2, "7", "incomplete"),
    ("nan", "localization", b"1 0 0 5 5\n1 0 0 nan 5\n1 0 0 5 5\n", 2, "nan", "finite"),
    ("infinity", "localization", b"1 0 0 5 5\n1 0 0 5 5\n1 -inf 0 5 5\n", 3, "-inf", "finite"),
    ("underscore number", "localization", b"1 0 0 5 5\n1 0 0 1_0 5\n1 0 0 5 5\n", 2, "1_0", "number"),
    ("empty", "classification", b"", None, None, "the file is empty"),
    ("blank", "classification", b" \r\n\n\t\n", None, None, "the file is empty"),
    ("binary", "classification", b"1\n2\x00\x01\x02\n3\n", 2, None, "binary file"),
    ("matlab", "classification", b"MATLAB 5.0 MAT-file" + bytes(200), 1, None, "binary file"),
    ("not utf-8", "classification", b"1\n2\n\xff\xfe3\n", 3, None, "not valid UTF-8"),
    ("bad gzip", "classification", b"\x1f\x8b\x08garbage", None, None, "not a valid gzip stream"),
    ("csv header", "classification", b"Id,Labels\nimg_1,1\nimg_2,1\nimg_3,1\n", 1, "Id,Labels",
     "wrong CSV header: expected 'ImageId,PredictionString'"),
    ("csv duplicate", "classification", b"ImageId,PredictionString\nimg_1,1\nimg_2,1\nimg_1,2\n", 4,
     "img_1", "duplicate ImageId (first on line 2)"),
    ("csv missing", "classification",
     b"ImageId,PredictionString\nimg_00000001,1\nimg_00000003,1\n", None, None,
     "expected 3 rows (one per image), found 2; missing ImageId 'img_00000002' (image 2)"),
    ("csv id out of range", "classification",
     b"ImageId,PredictionString\nimg_1,1\nimg_2,1\nimg_4,1\n", 4, "img_4",
     "ImageId number out of range: expected 1..3"),
    ("csv id without number", "classification", b"ImageId,PredictionString\nfirst,1\n", 2, "first",
     "must end with the image's number"),
    ("csv bad label", "classification", b"ImageId,PredictionString\nimg_1,1\nimg_2,n0\nimg_3,1\n", 3, "n0",
     "not a class"),
]


@pytest.mark.parametrize(("task", "data", "line", "token", "words"),
                         [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_bad_file(classes: scorer.ClassList, task: str, data: bytes, line: int | None,
                  token: str | None, words: str) -> None:
    with pytest.raises(scorer.FormatError) as info:
        parse(data, task, classes=classes)
    error = info.value
    assert isinstance(error, ValueError)
    assert (error.line, error.token) == (line, token)
    assert words in error.message
    text = str(error)
    assert text.startswith(f"line {line}: " if line else error.message)
    if token is not None:
        assert text.endswith(f"(found {token!r})")


def test_error_rendering() -> None:
    error = scorer.FormatError("a box coordinate must be a number", line=12, token="tok")
    assert str(error) == "line 12: a box coordinate must be a number (found 'tok')"
    assert str(scorer.FormatError("the file is empty")) == "the file is empty"
    assert len(scorer.FormatError("x", token="a" * 1000).token or "") < 50


def test_gzip_crlf_extra_spaces_and_ids_or_wnids(classes: scorer.ClassList) -> None:
    text = f"  1   {WNIDS[1]}\t3 \r\n2\r\n\r\n".encode()
    for data in (text, gzip.compress(text)):
        p = parse(data, classes=classes)
        assert p.labels.tolist() == [[0, 1, 2, -1, -1], [1, -1, -1, -1, -1], [-1] * 5]
        assert p.ignored_guesses == 0 and p.warnings == []


def test_fewer_guesses_allowed_more_are_ignored_with_a_warning(classes: scorer.ClassList) -> None:
    p = parse(b"1 2 3 4 5 6 7\n1\n1 2 3 4 5 6\n", classes=classes)
    assert p.labels.tolist() == [[0, 1, 2, 3, 4], [0, -1, -1, -1, -1], [0, 1, 2, 3, 4]]
    assert p.ignored_guesses == 3
    assert p.warnings == ["3 guesses beyond the first 5 per image were ignored"]


def test_odd_boxes_are_accepted(classes: scorer.ClassList) -> None:
    """Degenerate, negative and fractional coordinates are legal; they just never match."""
    p = parse(b"1 50 50 10 10\n2 -5 -5 20 20\n3 0.5 1.25 1e2 99.75\n", "localization", classes=classes)
    assert p.boxes is not None
    assert p.boxes[:, 0].tolist() == [[50, 50, 10, 10], [-5, -5, 20, 20], [0.5, 1.25, 100, 99.75]]


def test_trailing_blank_lines_and_any_count(classes: scorer.ClassList) -> None:
    assert parse(b"1\n2\n3\n\n\n", classes=classes).images == 3
    assert parse(b"1\n2\n3\n4\n5\n", images=None, classes=classes).images == 5


def test_kaggle_csv_any_order(classes: scorer.ClassList) -> None:
    data = (f"ImageId,PredictionString\r\nILSVRC2012_val_00000002,{WNIDS[4]} 1 2 3 4\r\n"
            f"ILSVRC2012_val_00000001,3 0 0 9 9 {WNIDS[0]} 1 1 5 5\r\n").encode()
    p = parse(data, "localization", images=2, classes=classes)
    assert p.labels.tolist() == [[2, 0, -1, -1, -1], [4, -1, -1, -1, -1]]
    assert p.boxes is not None and p.boxes[0, 1].tolist() == [1, 1, 5, 5]


def test_fast_path_equals_precise_path(classes: scorer.ClassList) -> None:
    rng = np.random.default_rng(1)
    lines = []
    for _ in range(200):
        groups = rng.integers(0, 8)
        tokens = [f"{rng.integers(1, 11)} {' '.join(map(str, rng.integers(0, 500, 4)))}"
                  for _ in range(groups)]
        lines.append("  ".join(tokens) + (" \r" if rng.random() < 0.3 else ""))
    text = "\n".join(lines) + "\n"
    fast = parse(text.encode(), "localization", images=200, classes=classes)
    precise = _parse_precise(text.split("\n")[:-1], 0, 5, 5, classes)
    np.testing.assert_array_equal(fast.labels, precise.labels)
    np.testing.assert_array_equal(fast.boxes, precise.boxes)
    assert fast.ignored_guesses == precise.ignored > 0


def test_huge_integers_take_the_precise_path(classes: scorer.ClassList) -> None:
    with pytest.raises(scorer.FormatError) as info:
        parse(b"1\n99999999999999999999999\n1\n", classes=classes)
    assert (info.value.line, info.value.token) == (2, "99999999999999999999999")


def test_unknown_task_or_guesses_is_a_programming_error(classes: scorer.ClassList) -> None:
    with pytest.raises(ValueError, match="task must be one of"):
        parse(b"1\n", "detection", images=1, classes=classes)
    with pytest.raises(ValueError, match="guesses must be"):
        parse(b"1\n", guesses=0, images=1, classes=classes)


def test_well_formed_files_take_the_fast_paths(classes: scorer.ClassList) -> None:
    text = f"ImageId,PredictionString\r\nimg_2,{WNIDS[4]} 1 2 3 4\r\nimg_1,3 0 0 9 9 {WNIDS[0]} 1 1 5 5\r\n"
    fast = parse_kaggle_csv(text, header=HEADER, group=5, guesses=5, lookup=classes.lookup(), images=2)
    assert fast is not None and fast.labels[:, :2].tolist() == [[2, 0], [4, -1]]
    assert parse_numbers(b"1 -1 -2 3 4\r\n2 0 0 9 9\n", group=5, guesses=5, n_classes=10,
                          images=2) is not None


def test_errors_and_oddities_deep_in_a_long_file(classes: scorer.ClassList) -> None:
    """Blocks of lines: fast where possible, precise where needed, line numbers exact."""
    lines = [f"{i % 10 + 1} 0 0 9 9" for i in range(5000)]
    lines[2500] = f"{WNIDS[3]} 0.5 0 9 9"  # needs the precise parser, and is fine
    p = parse(("\n".join(lines) + "\n").encode(), "localization", images=5000, classes=classes)
    assert p.labels[:, 0].tolist() == [3 if i == 2500 else i % 10 for i in range(5000)]
    assert p.boxes is not None and p.boxes[2500, 0].tolist() == [0.5, 0, 9, 9]
    lines[4320] = "3 0 0 9 inf"
    with pytest.raises(scorer.FormatError) as info:
        parse(("\n".join(lines) + "\n").encode(), "localization", images=5000, classes=classes)
    assert (info.value.line, info.value.token) == (4321, "inf")
