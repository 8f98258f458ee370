"""ILSVRC DET (mean AP): hand-made cases around the devkit's rules, a reference
implementation on random cases, and the devkit's numbers on ../shared/det-sample."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from scorer import FormatError, detection

WNIDS = ["n00000003", "n00000001", "n00000002"]  # class ids 1, 2, 3 (not sorted on purpose)
DEVKIT_WITH_BLACKLIST, DEVKIT_WITHOUT = 0.313513944451, 0.314773031014


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scorer.cli", *args], capture_output=True, text=True)


def case(objects: list[str], predictions: list[str], ids: tuple[int, ...] = (10, 20, 30),
         blacklist: list[str] | None = None, bootstrap: int = 0) -> detection.DetectionResult:
    """Score lines against compact ground truth (``image_id,wnid,x0,y0,x1,y1``)."""
    images = detection.load_image_list("".join(f"img_{i} {i}\n" for i in ids).encode())
    classes = detection.load_det_classes("".join(f"{w}\n" for w in WNIDS).encode())
    csv = (detection.COMPACT_HEADER + "\n" + "".join(f"{o}\n" for o in objects)).encode()
    truth = detection.load_det_truth(images, classes, csv,
                                     "".join(f"{b}\n" for b in blacklist).encode() if blacklist else None)
    dets = detection.parse_detections("".join(f"{p}\n" for p in predictions).encode(), images=images,
                                      classes=len(classes))
    return detection.evaluate_detection(dets, truth, bootstrap=bootstrap)


def test_thresholds_are_per_object_with_plus_one_pixel_sizes() -> None:
    big = "10,n00000003,0,0,99,99"  # 100 x 100: threshold 0.5
    assert case([big], ["10 1 0.9 0 0 199 99"]).ap_per_class[0] == 1.0  # IoU exactly 0.5
    assert case([big], ["10 1 0.9 0 0 200 99"]).ap_per_class[0] == 0.0  # 10000/20100 < 0.5
    small = "10,n00000003,0,0,9,9"  # 10 x 10: threshold 100/400 = 0.25
    assert detection.object_thresholds(np.array([[0.0, 0, 9, 9], [0, 0, 99, 99]])).tolist() == [0.25, 0.5]
    assert case([small], ["10 1 0.9 0 0 39 9"]).ap_per_class[0] == 1.0  # IoU exactly 0.25
    assert case([small], ["10 1 0.9 0 0 40 9"]).ap_per_class[0] == 0.0
    # Boxes that touch at one pixel overlap (iw = 1); boxes one pixel apart do not.
    assert case(["10,n00000003,0,0,0,0"], ["10 1 0.9 0 0 0 0"]).ap_per_class[0] == 1.0
    assert case(["10,n00000003,0,0,0,0"], ["10 1 0.9 1 0 1 0"]).ap_per_class[0] == 0.0


def test_a_class_is_only_matched_by_its_own_detections() -> None:
    result = case(["10,n00000003,0,0,99,99"], ["10 2 0.9 0 0 99 99"])
    assert result.ap_per_class[0] == 0.0 and result.true_positives.tolist() == [False]


def test_greedy_in_confidence_order_takes_the_best_free_object() -> None:
    objects = ["10,n00000003,0,0,99,99", "10,n00000003,30,0,129,99"]
    # The confident detection overlaps both (IoU 0.67 with the first, 0.82 with the second)
    # and takes the second; the next one only fits the second (0.43 with the first): a
    # false positive (greedy, not an optimal assignment).
    preds = ["10 1 0.5 40 0 139 99", "10 1 0.9 20 0 119 99"]
    result = case(objects, preds)
    assert result.true_positives.tolist() == [False, True]
    # Equal IoU with two objects: the first object in the file's order is taken, so the
    # second detection, equally good for both, gets the other one.
    twin = ["10,n00000003,0,0,99,99", "10,n00000003,0,0,99,99"]
    assert case(twin, ["10 1 0.9 0 0 99 99", "10 1 0.8 0 0 99 99"]).true_positives.tolist() == [True, True]


def test_duplicates_are_false_positives_and_ties_keep_file_order() -> None:
    obj = ["10,n00000003,0,0,99,99"]
    # Same confidence: the first line is taken first, whatever its IoU.
    result = case(obj, ["10 1 0.7 0 0 80 99", "10 1 0.7 0 0 99 99"])
    assert result.true_positives.tolist() == [True, False]
    assert result.ap_per_class[0] == 1.0  # ranked TP then FP
    # Higher confidence first even when it comes later in the file.
    result = case(obj, ["10 1 0.7 0 0 99 99", "10 1 0.8 0 0 80 99"])
    assert result.true_positives.tolist() == [False, True]


def test_ties_across_images_rank_by_numeric_image_id() -> None:
    # Image id 20 is listed before id 10, but the devkit sorts detections by image id:
    # the tie puts the true positive (id 10) first, so AP is 1, not 0.5.
    result = case(["10,n00000003,0,0,99,99"], ["20 1 0.5 0 0 99 99", "10 1 0.5 0 0 99 99"], ids=(20, 10))
    assert result.ap_per_class[0] == 1.0


def test_voc_all_points_ap() -> None:
    objects = ["10,n00000003,0,0,99,99", "20,n00000003,0,0,99,99"]
    # Ranked TP, FP, TP: precision 1, 1/2, 2/3; made monotone 1, 2/3, 2/3.
    result = case(objects, ["10 1 0.9 0 0 99 99", "30 1 0.8 0 0 99 99", "20 1 0.7 0 0 99 99"])
    assert result.ap_per_class[0] == pytest.approx(0.5 + 0.5 * 2 / 3, abs=1e-15)
    # A missed object caps recall: AP 0.5.
    assert case(objects, ["10 1 0.9 0 0 99 99"]).ap_per_class[0] == 0.5


def test_empty_images_classes_without_detections_or_objects() -> None:
    objects = ["10,n00000003,0,0,99,99", "10,n00000001,0,0,49,49"]
    result = case(objects, ["30 1 0.9 0 0 99 99", "10 1 0.8 0 0 99 99"])  # image 30 has no objects
    ap = result.ap_per_class
    assert ap[0] == 0.5 and ap[1] == 0.0  # class 2 (n00000001): no detections
    assert np.isnan(ap[2]) and result.score == 0.25  # class 3 has no objects: left out
    assert result.warnings == ["1 class has no ground-truth objects; the mean AP leaves them out"]
    assert result.to_json()["ap_per_class"] == [0.5, 0.0, None]
    # Nothing to score at all (every object blacklisted): null, not NaN, in the JSON.
    nothing = case(["10,n00000003,0,0,99,99"], ["10 1 0.9 0 0 99 99"], blacklist=["10 n00000003"],
                   bootstrap=50)
    assert nothing.ignored.tolist() == [True] and nothing.positives.tolist() == [0, 0, 0]
    assert json.loads(json.dumps(nothing.to_json()))["score"] is None
    assert nothing.to_json()["ci95"] == [None, None]


def test_blacklist_ignores_detections_and_objects_of_that_image_and_class() -> None:
    objects = ["10,n00000003,0,0,99,99", "20,n00000003,0,0,99,99", "20,n00000001,0,0,99,99"]
    preds = ["20 1 0.9 300 300 399 399", "10 1 0.8 0 0 99 99", "20 2 0.7 0 0 99 99"]
    plain = case(objects, preds)
    assert plain.ap_per_class[0] == pytest.approx(0.25)  # FP, TP of 2 objects
    black = case(objects, preds, blacklist=["20 n00000003"])
    assert black.ap_per_class[0] == 1.0 and black.positives.tolist() == [1, 1, 0]
    assert black.ignored.tolist() == [True, False, False]
    assert black.ap_per_class[1] == 1.0  # another class of the same image still counts


def test_compact_truth_accepts_basenames_and_refuses_with_the_line() -> None:
    by_name = case(["img_10,n00000003,0,0,99,99"], ["10 1 0.9 0 0 99 99"])
    assert by_name.ap_per_class[0] == 1.0
    for rows, message in [
        (["40,n00000003,0,0,9,9"], "line 2: image id not in the image list (found '40')"),
        (["10,n99999999,0,0,9,9"], "line 2: not a class of the class list (found 'n99999999')"),
        (["10,n00000003,0,0,9"], "line 2: expected 6 fields"),
        (["10,n00000003,0,0,9,nan"], "line 2: a box coordinate must be finite (found 'nan')"),
    ]:
        with pytest.raises(FormatError, match=message.replace("(", r"\(").replace(")", r"\)")):
            case(rows, ["10 1 0.9 0 0 99 99"])


@pytest.mark.parametrize(("line", "message"), [
    ("11 1 0.5 0 0 9 9", "line 2: image id not in the image list (found '11')"),
    ("10 4 0.5 0 0 9 9", "line 2: class id out of range: ids are 1..3 (found '4')"),
    ("10 0 0.5 0 0 9 9", "line 2: class id out of range: ids are 1..3 (found '0')"),
    ("10 1.5 0.5 0 0 9 9", "line 2: class id out of range: ids are 1..3 (found '1.5')"),
    ("10 1 nan 0 0 9 9", "line 2: every field must be a finite number (not NaN or infinity)"),
    ("10 1 0.5 0 0 9 inf", "line 2: every field must be a finite number (not NaN or infinity)"),
    ("10 1 0.5 0 0 9", "line 2: expected 7 fields 'image_id class_id confidence xmin ymin xmax ymax', "
                       "found 6"),
    ("10 1 0.5 0 0 9 9 9", "line 2: expected 7 fields"),
    ("10 1 0.5 0 zero 9 9", "line 2: not a number (found 'zero')"),
    ("10 1 0.5 0 1-2 9 9", "line 2: not a number (found '1-2')"),
])
def test_bad_detection_lines_are_refused_with_the_line(line: str, message: str) -> None:
    images = detection.load_image_list(b"a 10\nb 20\n")
    data = f"20 1 0.9 0 0 9 9\n{line}\n10 2 0.1 0 0 9 9\n".encode()
    with pytest.raises(FormatError) as info:
        detection.parse_detections(data, images=images, classes=3)
    assert str(info.value).startswith(message)


def test_parsing_fast_and_precise_paths_agree() -> None:
    images = detection.load_image_list(b"a 10\nb 20\n")
    fast = detection.parse_detections(b"20 1 0.25 0 0 9.5 9\n\n10 3 -1 1e1 0 9 9\r\n", images=images,
                                      classes=3)
    assert fast.image.tolist() == [1, 0] and fast.label.tolist() == [0, 2]
    assert fast.confidence.tolist() == [0.25, -1.0] and fast.boxes[1].tolist() == [10.0, 0, 9, 9]
    # No final newline; a blank last line; a blank line in the middle of a file without one.
    for data in (b"20 1 0.25 0 0 9.5 9\n10 3 -1 1e1 0 9 9", b"20 1 0.25 0 0 9.5 9\n10 3 -1 1e1 0 9 9\n  ",
                 b"20 1 0.25 0 0 9.5 9\n\n10 3 -1 1e1 0 9 9"):
        again = detection.parse_detections(data, images=images, classes=3)
        assert again.image.tolist() == [1, 0] and again.boxes.tolist() == fast.boxes.tolist()
    # 6 then 8 fields: 14 tokens, a multiple of 7, still refused at the short line.
    with pytest.raises(FormatError, match="line 1: expected 7 fields .* found 6"):
        detection.parse_detections(b"20 1 0.9 0 0 9\n10 2 0.1 0 0 9 9 9\n", images=images, classes=3)
    for empty in (b"", b" \n\n"):
        with pytest.raises(FormatError, match="the file is empty"):
            detection.parse_detections(empty, images=images, classes=3)


def test_a_file_of_many_chunks_parses_as_one_with_its_line_numbers(monkeypatch) -> None:
    """The fast path reads whole lines a chunk at a time (so its temporaries stay small):
    values bit for bit numpy's float parser's, line numbers counted across chunks, blank
    lines and CRLF included, and a bad line in a later chunk still named by its number."""
    rng = np.random.default_rng(3)
    images = detection.load_image_list(b"a 10\nb 20\nc 30\n")
    lines = []
    for i in range(3000):
        box = rng.uniform(-5, 500, 4).round(int(rng.integers(0, 6)))
        lines.append(f"{(10, 20, 30)[i % 3]} {1 + i % 3} {rng.random():.{1 + i % 9}f} "
                     + " ".join(str(v) for v in box) + ("\r" if i % 7 == 0 else ""))
        if i % 500 == 0:
            lines.append("   ")  # a blank line now and then
    data = ("\n".join(lines) + "\n").encode()
    whole = detection.parse_detections(data, images=images, classes=3)
    monkeypatch.setattr(detection, "_CHUNK", 4096)  # ~30 lines a chunk
    chunked = detection.parse_detections(data, images=images, classes=3)
    reference = np.fromstring(data, dtype=np.float64, sep=" ").reshape(-1, 7)
    for parsed in (whole, chunked):
        assert np.array_equal(parsed.confidence, reference[:, 2])
        assert np.array_equal(parsed.boxes, reference[:, 3:])
        assert parsed.image.tolist() == [(0, 1, 2)[i % 3] for i in range(3000)]
    bad = lines.copy()
    bad[2400] = "20 1 0.5 0 0 9"  # line 2401 (blank lines are lines too)
    with pytest.raises(FormatError, match="line 2401: expected 7 fields"):
        detection.parse_detections(("\n".join(bad) + "\n").encode(), images=images, classes=3)
    bad[2400] = "40 1 0.5 0 0 9 9"
    with pytest.raises(FormatError, match="line 2401: image id not in the image list"):
        detection.parse_detections(("\n".join(bad) + "\n").encode(), images=images, classes=3)
    long_line = b"10 1 0.5 0 0 9" + b" " * 5000 + b"7\n"  # longer than a chunk: taken whole
    parsed = detection.parse_detections(data + long_line + data, images=images, classes=3)
    assert len(parsed) == 6001 and parsed.boxes[3000].tolist() == [0, 0, 9, 7]


def reference(objects: list[tuple[int, int, tuple[float, ...]]],
              dets: list[tuple[int, int, float, tuple[float, ...]]],
              n_classes: int) -> tuple[list[bool], float]:
    """The devkit's loops, written plainly: per image in confidence order (stable), each
    detection takes the free object of its class with the highest IoU over its threshold."""
    tp = [False] * len(dets)
    taken = [False] * len(objects)
    for image in {d[0] for d in dets}:
        mine = sorted((i for i, d in enumerate(dets) if d[0] == image), key=lambda i: -dets[i][2])
        for i in mine:
            _, label, _, b = dets[i]
            best, best_k = -np.inf, -1
            for k, (o_image, o_label, g) in enumerate(objects):
                if o_image != image or o_label != label or taken[k]:
                    continue
                iw = min(b[2], g[2]) - max(b[0], g[0]) + 1
                ih = min(b[3], g[3]) - max(b[1], g[1]) + 1
                if iw > 0 and ih > 0:
                    ua = ((b[2] - b[0] + 1) * (b[3] - b[1] + 1) + (g[2] - g[0] + 1) * (g[3] - g[1] + 1)
                          - iw * ih)
                    ov = iw * ih / ua
                    w, h = g[2] - g[0] + 1, g[3] - g[1] + 1
                    if ov >= min(0.5, w * h / ((w + 10) * (h + 10))) and ov > best:
                        best, best_k = ov, k
            if best_k >= 0:
                tp[i], taken[best_k] = True, True
    aps = []
    for c in range(n_classes):
        npos = sum(1 for o in objects if o[1] == c)
        ranked = sorted((i for i, d in enumerate(dets) if d[1] == c), key=lambda i: (-dets[i][2], dets[i][0]))
        ctp = np.cumsum([tp[i] for i in ranked]).astype(float)
        cfp = np.cumsum([not tp[i] for i in ranked]).astype(float)
        rec = np.concatenate(([0.0], ctp / npos, [1.0]))
        prec = np.concatenate(([0.0], ctp / np.maximum(ctp + cfp, 1), [0.0]))
        for j in range(prec.size - 2, -1, -1):
            prec[j] = max(prec[j], prec[j + 1])
        change = np.flatnonzero(rec[1:] != rec[:-1]) + 1
        aps.append(float(((rec[change] - rec[change - 1]) * prec[change]).sum()))
    return tp, float(np.mean(aps))


@pytest.mark.parametrize("seed", range(12))
def test_vectorized_matching_equals_the_plain_loops(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    if seed % 2:  # candidate pairs a few at a time, as a huge file would have them
        monkeypatch.setattr(detection, "PAIR_CHUNK", 1 + seed % 5)
    rng = np.random.default_rng(seed)
    n_images, n_classes = 4, 2
    objects = []
    for image in range(n_images):
        for _ in range(rng.integers(1, 5)):
            x, y = rng.integers(0, 40, 2)
            w, h = rng.integers(3, 40, 2)
            box = (float(x), float(y), float(x + w), float(y + h))
            objects.append((image, int(rng.integers(0, n_classes)), box))
    for c in range(n_classes):  # every class has an object
        objects.append((0, c, (0.0, 0.0, 20.0, 20.0)))
    dets = []
    for _ in range(rng.integers(5, 60)):
        image, label, g = objects[rng.integers(0, len(objects))]
        box = tuple(float(v) for v in np.asarray(g) + rng.integers(-6, 7, 4))
        conf = float(rng.integers(0, 4)) / 4  # many ties
        dets.append((image if rng.random() < 0.9 else int(rng.integers(0, n_images)), label, conf, box))
    ids = rng.permutation(100)[:n_images] + 1
    images = detection.ImageList(tuple(f"i{j}" for j in range(n_images)), ids.astype(np.int64))
    classes = detection.DetClasses(("n1", "n2"), ("a", "b"))
    # The reference ranks by image index; give it images in id order.
    by_id = {int(j): r for r, j in enumerate(np.argsort(ids))}
    truth = detection.DetTruth(images, classes, np.array([o[0] for o in objects]),
                               np.array([o[1] for o in objects]), np.array([o[2] for o in objects]))
    parsed = detection.Detections(np.array([d[0] for d in dets]), np.array([d[1] for d in dets]),
                                  np.array([d[2] for d in dets]), np.array([d[3] for d in dets]))
    result = detection.evaluate_detection(parsed, truth, bootstrap=0)
    want_tp, want_map = reference([(by_id[o[0]], o[1], o[2]) for o in objects],
                                  [(by_id[d[0]], d[1], d[2], d[3]) for d in dets], n_classes)
    assert result.true_positives.tolist() == want_tp
    assert result.score == pytest.approx(want_map, abs=1e-12)


def test_bootstrap_is_seeded_and_brackets_the_score() -> None:
    objects = [f"{i},n00000003,0,0,99,99" for i in (10, 20, 30)] + ["10,n00000001,0,0,9,9"]
    preds = ["10 1 0.9 0 0 99 99", "20 1 0.8 50 50 99 99", "30 1 0.7 0 0 99 99", "10 2 0.3 0 0 9 9",
             "20 2 0.4 0 0 9 9"]
    one = case(objects, preds, bootstrap=200)
    assert one.ci95 == case(objects, preds, bootstrap=200).ci95
    assert one.ci95[0] <= one.score <= one.ci95[1] and one.ci95[0] < one.ci95[1]
    assert case(objects, preds, bootstrap=0).ci95 == (one.score, one.score)
    assert not any("replicates" in w for w in one.warnings)


def test_a_huge_file_gets_fewer_replicates_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(detection, "BOOTSTRAP_BUDGET", 10)
    result = case(["10,n00000003,0,0,99,99"], ["10 1 0.9 0 0 99 99", "20 1 0.8 0 0 9 9"], bootstrap=300)
    assert result.warnings[-1] == ("the interval uses 200 bootstrap replicates, not 300, to bound the "
                                   "time a file this large may take")


# ---------------------------------------------------------------------------- det-sample


@pytest.fixture(scope="module")
def det(shared: Path) -> dict[str, object]:
    root = shared / "det-sample"
    images = detection.load_image_list(root / "val.txt")
    classes = detection.load_det_classes(root / "meta_det.mat")
    return {"root": root, "images": images, "classes": classes}


def test_det_sample_matches_the_devkit(det: dict) -> None:
    root, images, classes = det["root"], det["images"], det["classes"]
    dets = detection.parse_detections(root / "pred.txt", images=images, classes=len(classes))
    assert len(dets) == 8962
    with_bl = detection.evaluate_detection(
        dets, detection.load_det_truth(images, classes, root / "xml.tar.gz", root / "blacklist.txt"))
    without = detection.evaluate_detection(
        dets, detection.load_det_truth(images, classes, root / "xml.tar.gz"))
    assert with_bl.score == pytest.approx(DEVKIT_WITH_BLACKLIST, abs=1e-9)
    assert without.score == pytest.approx(DEVKIT_WITHOUT, abs=1e-9)
    assert with_bl.ci95[0] < with_bl.score < with_bl.ci95[1]
    assert detection.load_det_classes(root / "classes.txt").wnids == classes.wnids


def test_det_sample_from_a_folder_and_from_the_compact_csv(det: dict, tmp_path: Path) -> None:
    root, images, classes = det["root"], det["images"], det["classes"]
    with tarfile.open(root / "xml.tar.gz") as archive:
        archive.extractall(tmp_path, filter="data")
    folder = tmp_path / "xml"
    rows = [detection.COMPACT_HEADER]
    for name, image_id in zip(images.basenames, images.ids.tolist(), strict=True):
        for obj in ET.parse(folder / f"{name}.xml").getroot().iter("object"):
            box = obj.find("bndbox")
            assert box is not None
            coords = [box.findtext(t) for t in ("xmin", "ymin", "xmax", "ymax")]
            rows.append(",".join([str(image_id), obj.findtext("name") or "", *map(str, coords)]))
    compact = tmp_path / "boxes.csv"
    compact.write_text("\n".join(rows) + "\n")
    dets = detection.parse_detections(root / "pred.txt", images=images, classes=len(classes))
    for boxes in (folder, compact):
        truth = detection.load_det_truth(images, classes, boxes, root / "blacklist.txt")
        assert truth.objects == 4961
        result = detection.evaluate_detection(dets, truth, bootstrap=0)
        assert result.score == pytest.approx(DEVKIT_WITH_BLACKLIST, abs=1e-9)


def test_cli_json_and_exit_codes(det: dict, tmp_path: Path) -> None:
    root = det["root"]
    base = ["evaluate", "--task", "detection", "--labels", str(root / "val.txt"),
            "--boxes", str(root / "xml.tar.gz"), "--classes", str(root / "classes.txt")]
    out = run_cli(*base, "--predictions", str(root / "pred.txt"), "--blacklist", str(root / "blacklist.txt"),
                  "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["task"] == "detection" and data["images"] == 2000 and data["detections"] == 8962
    assert data["score"] == pytest.approx(DEVKIT_WITH_BLACKLIST, abs=1e-9)
    assert len(data["ap_per_class"]) == 200 and data["score"] == pytest.approx(np.mean(data["ap_per_class"]))
    assert data["ci95"][0] < data["score"] < data["ci95"][1]
    table = run_cli(*base, "--predictions", str(root / "pred.txt"), "--per-class")
    assert table.returncode == 0 and table.stdout.splitlines()[1].startswith("mean AP: 0.314773")
    lines = (root / "pred.txt").read_text().splitlines()
    lines[41] = "999999 1 0.5 0 0 9 9"
    bad = tmp_path / "bad.txt"
    bad.write_text("\n".join(lines) + "\n")
    out = run_cli(*base, "--predictions", str(bad), "--json")
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr == (f"scorer: predictions {bad}: line 42: image id not in the image list "
                          "(found '999999')\n")
    missing = run_cli("evaluate", "--task", "detection", "--predictions", str(root / "pred.txt"),
                      "--labels", str(root / "val.txt"))
    assert missing.returncode == 2 and "detection needs --labels" in missing.stderr


def test_truth_cache_is_used_only_for_the_files_it_was_built_from(det: dict, tmp_path: Path) -> None:
    """--truth-cache (the devkit's cache_groundtruth.mat, ours keyed by checksums): the first run
    parses the XML and writes it, later runs load it and score the same; another blacklist, a
    damaged cache or a cache of other files is rebuilt, never trusted."""
    root = det["root"]
    cache = tmp_path / "truth.npz"
    base = ["evaluate", "--task", "detection", "--labels", str(root / "val.txt"), "--boxes",
            str(root / "xml.tar.gz"), "--classes", str(root / "classes.txt"), "--predictions",
            str(root / "pred.txt"), "--json", "--bootstrap", "0", "--truth-cache", str(cache)]

    def score(*extra: str) -> float:
        out = run_cli(*base, *extra)
        assert out.returncode == 0 and out.stderr == "", out.stderr
        return json.loads(out.stdout)["score"]

    blacklist = ("--blacklist", str(root / "blacklist.txt"))
    assert score(*blacklist) == pytest.approx(DEVKIT_WITH_BLACKLIST, abs=1e-9)
    built = cache.read_bytes()
    assert score(*blacklist) == pytest.approx(DEVKIT_WITH_BLACKLIST, abs=1e-9)
    assert cache.read_bytes() == built  # loaded, not rebuilt
    # The cache's arrays are what parsing gives, exactly.
    images, classes = det["images"], detection.load_det_classes(root / "classes.txt")
    parsed = detection.load_det_truth(images, classes, root / "xml.tar.gz", root / "blacklist.txt")
    from scorer.artifact import ArtifactError, unpack_det_truth
    with np.load(io.BytesIO(built)) as archive:  # the key it was built for is inside it
        loaded = unpack_det_truth(built, str(archive["key"]), images, classes)
    for name in ("image", "label", "coords", "blacklist"):
        assert np.array_equal(getattr(loaded, name), getattr(parsed, name)), name
    with pytest.raises(ArtifactError, match="expected det-truth"):
        unpack_det_truth(built, "other files", images, classes)
    # No blacklist: other inputs, so the cache is rebuilt and the devkit's other number comes out.
    assert score() == pytest.approx(DEVKIT_WITHOUT, abs=1e-9)
    assert cache.read_bytes() != built
    cache.write_bytes(b"PK\x03\x04 damaged")
    assert score(*blacklist) == pytest.approx(DEVKIT_WITH_BLACKLIST, abs=1e-9)
    assert cache.read_bytes() == built
    # A folder of XML files is keyed by its files' names and bytes.
    with tarfile.open(root / "xml.tar.gz") as archive:
        archive.extractall(tmp_path, filter="data")
    folder = ["--boxes", str(tmp_path / "xml")]
    assert score(*blacklist, *folder) == pytest.approx(DEVKIT_WITH_BLACKLIST, abs=1e-9)
    from_folder = cache.read_bytes()
    first = next((tmp_path / "xml").glob("*.xml"))
    first.write_text(first.read_text().replace("<object>", "<object> ", 1))  # same objects
    assert score(*blacklist, *folder) == pytest.approx(DEVKIT_WITH_BLACKLIST, abs=1e-9)
    assert cache.read_bytes() != from_folder  # another key: rebuilt
    refused = run_cli("evaluate", "--task", "classification", "--labels", str(root / "val.txt"),
                      "--predictions", str(root / "pred.txt"), "--truth-cache", str(cache))
    assert refused.returncode == 2 and "--truth-cache applies to --task detection" in refused.stderr


def test_a_truth_cache_that_does_not_fit_its_lists_is_refused(det: dict) -> None:
    from scorer.artifact import ArtifactError, pack_det_truth, unpack_det_truth

    images, classes = det["images"], det["classes"]
    truth = detection.load_det_truth(images, classes, det["root"] / "xml.tar.gz",
                                     det["root"] / "blacklist.txt")
    data = pack_det_truth(truth, "k")
    fewer = detection.load_image_list(b"".join(f"{n} {i}\n".encode() for n, i in
                                               zip(images.basenames[:10], images.ids[:10].tolist(),
                                                   strict=True)))
    with pytest.raises(ArtifactError, match="for 2000 images and 200 classes, not 10 and 200"):
        unpack_det_truth(data, "k", fewer, classes)
    truth.label[0] = len(classes)
    with pytest.raises(ArtifactError, match="label out of range"):
        unpack_det_truth(pack_det_truth(truth, "k"), "k", images, classes)


def test_xml_problems_are_refused(det: dict) -> None:
    images = detection.load_image_list(b"ILSVRC2013_val_00000001 1\nnot_there 2\n")
    with pytest.raises(FormatError, match="no annotation file for image not_there"):
        detection.load_det_truth(images, det["classes"], det["root"] / "xml.tar.gz")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        data = b"<annotation><object><name>n0</name></object></annotation>"
        info = tarfile.TarInfo("x/ILSVRC2013_val_00000001.xml")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    one = detection.load_image_list(b"ILSVRC2013_val_00000001 1\n")
    with pytest.raises(FormatError, match="class is not in the class list"):
        detection.load_det_truth(one, det["classes"], buffer.getvalue())


@pytest.mark.parametrize("ids", [[3, 1, 2], [5, 10**12, 7]])  # a lookup table; a binary search
def test_image_ids_map_to_rows(ids: list[int]) -> None:
    images = detection.ImageList(tuple(f"i{j}" for j in range(3)), np.array(ids, dtype=np.int64))
    assert (images._lookup is not None) == (max(ids) < 1000)
    asked = np.array([ids[2], ids[0], -1, 0, 4, 6, 10**13, ids[1]])
    assert images.rows(asked).tolist() == [2, 0, -1, -1, -1, -1, -1, 1]
