"""Ground truth from label files, Kaggle CSVs and PASCAL VOC XML (folder, tar, tgz)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
from scorer_helpers import WNIDS

import scorer


def voc(objects: list[tuple[str, int, int, int, int]]) -> bytes:
    parts = "".join(
        f"<object><name>{w}</name><bndbox><xmin>{a}</xmin><ymin>{b}</ymin><xmax>{c}</xmax>"
        f"<ymax>{d}</ymax></bndbox></object>" for w, a, b, c, d in objects)
    return f"<annotation><filename>x</filename>{parts}</annotation>".encode()


ANNOTATIONS = {
    "ILSVRC2012_val_00000002.xml": voc([(WNIDS[4], 5, 6, 7, 8)]),
    "ILSVRC2012_val_00000001.xml": voc([(WNIDS[2], 1, 2, 3, 4), (WNIDS[2], 10, 20, 30, 40)]),
}


def check(gt: scorer.GroundTruth) -> None:
    assert gt.images == 2
    assert gt.labels.tolist() == [2, 4]
    assert gt.box_image.tolist() == [0, 0, 1]
    assert gt.box_label.tolist() == [2, 2, 4]
    assert gt.box_coords.tolist() == [[1, 2, 3, 4], [10, 20, 30, 40], [5, 6, 7, 8]]


def test_xml_folder(classes: scorer.ClassList, tmp_path: Path) -> None:
    for name, data in ANNOTATIONS.items():
        (tmp_path / "val" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "val" / name).write_bytes(data)
    check(scorer.load_ground_truth(classes, boxes=tmp_path / "val"))
    check(scorer.load_ground_truth(classes, labels=b"3\nn10000004\n", boxes=tmp_path / "val"))


@pytest.mark.parametrize("mode", ["w", "w:gz"])
def test_xml_tar(classes: scorer.ClassList, tmp_path: Path, mode: str) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        for name, data in ANNOTATIONS.items():
            info = tarfile.TarInfo(f"val/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    check(scorer.load_ground_truth(classes, boxes=buffer.getvalue()))
    (tmp_path / "val.tgz").write_bytes(buffer.getvalue())
    check(scorer.load_ground_truth(classes, boxes=tmp_path / "val.tgz"))


def test_xml_problems(classes: scorer.ClassList, tmp_path: Path) -> None:
    (tmp_path / "ILSVRC2012_val_00000002.xml").write_bytes(voc([("n99", 1, 1, 2, 2)]))
    with pytest.raises(scorer.FormatError, match="unknown class"):
        scorer.load_ground_truth(classes, boxes=tmp_path)
    (tmp_path / "ILSVRC2012_val_00000002.xml").write_bytes(voc([(WNIDS[0], 1, 1, 2, 2)]))
    with pytest.raises(scorer.FormatError, match="expected 2 annotation files, found 1 .none for image 1"):
        scorer.load_ground_truth(classes, boxes=tmp_path)
    (tmp_path / "ILSVRC2012_val_00000001.xml").write_bytes(b"<annotation><object>")
    with pytest.raises(scorer.FormatError, match="not well-formed XML"):
        scorer.load_ground_truth(classes, boxes=tmp_path)


def test_kaggle_solution_gives_labels(classes: scorer.ClassList) -> None:
    csv = (f"ImageId,PredictionString\nimg_2,{WNIDS[4]} 5 6 7 8\n"
           f"img_1,{WNIDS[2]} 1 2 3 4 {WNIDS[2]} 10 20 30 40\n").encode()
    check(scorer.load_ground_truth(classes, boxes=csv))
    check(scorer.load_ground_truth(classes, labels=csv, boxes=csv))


def test_ground_truth_errors_name_the_line(classes: scorer.ClassList) -> None:
    cases = [
        (dict(labels=b"1\n2 3\n"), 2, "2 3", "expected one label per line, found 2"),
        (dict(labels=b"1\n11\n"), 2, "11", "class ID out of range"),
        (dict(labels=b""), None, None, "the label file is empty"),
        (dict(labels=b"1\n2\n", boxes=b"ImageId,PredictionString\nimg_1,n10000000 1 2 3\nimg_2,\n"), 2,
         "n10000000 1 2 3", "groups of 'wnid xmin ymin xmax ymax'"),
        (dict(labels=b"1\n", boxes=b"ImageId,PredictionString\nimg_1,n10000000 1 2 3 nan\n"), 2, "nan",
         "finite"),
        (dict(labels=b"1\n", boxes=b"1 2 3 4 5\n"), None, None, "boxes must be a Kaggle solution CSV"),
    ]
    for kwargs, line, token, words in cases:
        with pytest.raises(scorer.FormatError) as info:
            scorer.load_ground_truth(classes, **kwargs)
        assert (info.value.line, info.value.token) == (line, token)
        assert words in info.value.message


def test_labels_need_a_source(classes: scorer.ClassList) -> None:
    with pytest.raises(scorer.FormatError, match="needs labels"):
        scorer.load_ground_truth(classes)
    gt = scorer.load_ground_truth(classes, labels=b"1\n2\n")
    assert not gt.has_boxes and gt.blacklist.tolist() == [False, False]
    assert gt.labels.dtype == np.int64


def test_class_lists(classes: scorer.ClassList) -> None:
    assert len(classes) == 10 and classes.names[0] == "class 1"
    assert classes.index("10") == classes.index(WNIDS[9]) == 9
    for token in ("0", "11", "n1", ""):
        with pytest.raises(KeyError):
            classes.index(token)
    plain = scorer.load_classes(b"cat\ndog\n")
    assert plain.wnids == ("cat", "dog") and plain.names == ("cat", "dog")
    for data, line, words in [(b"a\na\n", 2, "twice"), (b"a\n\nb\n", 2, "empty line"),
                              (b"a\n7 seven\n", 2, "must not be a number"), (b"", None, "empty")]:
        with pytest.raises(scorer.FormatError) as info:
            scorer.load_classes(data)
        assert info.value.line == line and words in info.value.message
