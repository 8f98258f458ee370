"""ReaL labels: the rule, the wnid mapping, the size bound, and the README's table."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import scorer
from scorer.real import load_real, real_error_at_k

#: ReaL error of the 2012 demo classification submission, k = 1..5 (../shared README).
README = [0.9987616627879667, 0.9975873775006939, 0.9966265986292888, 0.995345560134082,
          0.9940004697141149]
#: A track whose classes are NOT in wnid order: class 0 is the third wnid in sorted order.
TRACK_WNIDS = ["n00000030", "n00000010", "n00000020", "n00000040"]


def track() -> scorer.ClassList:
    return scorer.load_classes("".join(f"{w} c\n" for w in TRACK_WNIDS).encode())


def test_indices_are_wnid_sorted_and_mapped_to_the_track() -> None:
    classes = track()
    # Sorted wnids: 0 n00000010 (track 1), 1 n00000020 (track 2), 2 n00000030 (track 0), 3 n00000040.
    real = load_real(json.dumps([[2], [0, 1], [], [3], [1]]).encode(), classes, images=5)
    assert real.counted_images == 4
    labels = np.array([[0, 1], [3, 2], [0, 1], [1, 3], [-1, 2]], dtype=np.int32)
    # Image 1: track 0 = sorted 2, right at k=1. Image 2: right at k=2 (track 2 = sorted 1).
    # Image 3: empty set, left out. Image 4: right at k=2. Image 5: no first guess, right at k=2.
    assert real_error_at_k(labels, real) == [0.75, 0.0]


def test_the_size_and_entries_are_bounded() -> None:
    classes = track()
    for data, message in [
        ([[0], [1]], "expected 3 lists (one per image of the labels), found 2"),
        ([[0], [1], [1], [2]], "expected 3 lists (one per image of the labels), found 4"),
        ({"a": 1}, "expected a JSON list"),
        ([[0], 1, [2]], "entry 2: expected a list of label indices"),
        ([[0], [1, 4], [2]], "entry 2: a label index must be 0..3 (0-based, wnid-sorted) (found '4')"),
        ([[0], [], [-1]], "entry 3: a label index must be 0..3"),
        ([[0], [1.0], [2]], "entry 2: a label must be an integer index (found '1.0')"),
        ([[0], [True], [2]], "entry 2: a label must be an integer index (found 'True')"),
    ]:
        with pytest.raises(scorer.FormatError) as info:
            load_real(json.dumps(data).encode(), classes, images=3)
        assert str(info.value).startswith(message), str(info.value)
    with pytest.raises(scorer.FormatError, match="line 2: not valid JSON"):
        load_real(b"[[0],\n[1],,]", classes, images=3)
    ids = scorer.ClassList(("1", "2"), ("1", "2"))
    with pytest.raises(scorer.FormatError, match="give --classes with wnids"):
        load_real(b"[[0]]", ids, images=1)


@pytest.fixture(scope="module")
def y2012(shared: Path) -> Path:
    return shared / "2012"


def test_readme_table_with_meta_mat(y2012: Path) -> None:
    classes = scorer.load_classes(y2012 / "meta.mat")
    predictions = scorer.parse_predictions(y2012 / "demo.val.pred.txt", task="classification", guesses=5,
                                           classes=classes, images=50_000)
    real = load_real(y2012 / "real.json", classes, images=50_000)
    assert real.counted_images == 46_837
    assert real_error_at_k(predictions.labels, real) == README


def test_the_same_with_kaggle_class_order(y2012: Path) -> None:
    """The demo file written with wnids, scored with LOC_synset_mapping.txt's order."""
    meta = scorer.load_classes(y2012 / "meta.mat")
    kaggle = scorer.load_classes(y2012 / "LOC_synset_mapping.txt")
    assert kaggle.wnids != meta.wnids
    ids = scorer.parse_predictions(y2012 / "demo.val.pred.txt", task="classification", guesses=5,
                                   classes=meta, images=50_000).labels
    as_kaggle = np.array([kaggle.index(w) for w in meta.wnids])[ids]
    real = load_real(y2012 / "real.json", kaggle, images=50_000)
    assert real_error_at_k(as_kaggle, real) == README


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scorer.cli", *args], capture_output=True, text=True)


def test_cli_adds_real_columns_and_refuses_a_wrong_size(y2012: Path, tmp_path: Path) -> None:
    base = ["evaluate", "--task", "classification", "--predictions", str(y2012 / "demo.val.pred.txt"),
            "--labels", str(y2012 / "ILSVRC2012_validation_ground_truth.txt"), "--classes",
            str(y2012 / "meta.mat")]
    out = run(*base, "--real", str(y2012 / "real.json"), "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["real_error_at_k"] == README and data["real_images"] == 46_837
    assert data["error_at_k"] == [0.99898, 0.99802, 0.99722, 0.9962, 0.995]
    short = tmp_path / "real.json"
    short.write_text(json.dumps(json.loads((y2012 / "real.json").read_text())[:-1]))
    out = run(*base, "--real", str(short), "--json")
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr == (f"scorer: real {short}: expected 50,000 lists (one per image of the labels), "
                          "found 49,999\n")
    plain = run(*base, "--real", str(y2012 / "real.json"))
    assert plain.returncode == 0 and "ReaL error (46837 images): k=1 0.998762" in plain.stdout
