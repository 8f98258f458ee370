"""The command-line contract, run as a real process."""

from __future__ import annotations

import json
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from scorer_helpers import WNIDS

LABELS = [1, 2, 3, 1]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scorer.cli", *args], capture_output=True, text=True)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "classes.txt").write_text("".join(f"{w} class {i}\n" for i, w in enumerate(WNIDS, 1)))
    (tmp_path / "labels.txt").write_text("".join(f"{x}\n" for x in LABELS))
    rows = ["ImageId,PredictionString"] + [f"img_{i:08d},{WNIDS[x - 1]} 0 0 9 9"
                                           for i, x in enumerate(LABELS, 1)]
    (tmp_path / "boxes.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "cls.txt").write_text("1 2\n3 2\n3 2 1\n4\n")
    (tmp_path / "loc.txt").write_text("1 0 0 9 9\n2 0 0 30 30\n9 0 0 9 9 3 0 0 9 19\n1 0 0 9 9\n")
    (tmp_path / "blacklist.txt").write_text("2\n")
    (tmp_path / "bad.txt").write_text("1 0 0 9 9\n2 0 0 30 30\n3 0 zero 9 9\n1 0 0 9 9\n")
    return {p.stem: str(p) for p in tmp_path.iterdir()}


def test_json_classification(files: dict[str, str]) -> None:
    out = run("evaluate", "--task", "classification", "--predictions", files["cls"],
              "--labels", files["labels"], "--guesses", "3", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["task"] == "classification" and data["images"] == 4
    assert data["error_at_k"] == [0.5, 0.25, 0.25] and data["error"] == 0.25
    assert len(data["ci95"]) == 2 and "cls_error_at_k" not in data


def test_json_localization_with_blacklist_and_labels_from_the_csv(files: dict[str, str]) -> None:
    out = run("evaluate", "--task", "localization", "--predictions", files["loc"], "--boxes", files["boxes"],
              "--classes", files["classes"], "--blacklist", files["blacklist"], "--json", "--per-class")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    # Image 2 (wrong box) is blacklisted; image 3 is right at k=2 (IoU exactly 0.5).
    assert data["error_at_k"] == [1 / 3, 0.0, 0.0, 0.0, 0.0]
    assert data["cls_error_at_k"] == [0.25, 0.0, 0.0, 0.0, 0.0]
    assert data["per_class"][:3] == [0.0, None, 0.0] and data["per_class"][3] is None


def test_table(files: dict[str, str]) -> None:
    out = run("evaluate", "--task", "localization", "--predictions", files["loc"],
              "--labels", files["labels"],
              "--boxes", files["boxes"], "--classes", files["classes"], "--per-class")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "task localization, 4 images, 5 guesses"
    assert lines[1].split() == ["k", "error", "cls", "error"]
    assert lines[2].split() == ["1", "0.50000", "0.25000"]
    assert any(line.split()[:2] == ["1", WNIDS[0]] for line in lines)


def test_bad_file_exits_2_with_the_line(files: dict[str, str]) -> None:
    out = run("evaluate", "--task", "localization", "--predictions", files["bad"],
              "--labels", files["labels"],
              "--boxes", files["boxes"], "--classes", files["classes"], "--json")
    assert out.returncode == 2
    assert out.stdout == ""
    assert out.stderr.strip() == (f"scorer: predictions {files['bad']}: line 3: a box coordinate must be a "
                                  "number (guesses are 'label xmin ymin xmax ymax') (found 'zero')")


def test_bad_arguments_exit_2(files: dict[str, str], tmp_path: Path) -> None:
    assert run("evaluate", "--task", "detection", "--predictions", files["cls"]).returncode == 2
    missing = run("evaluate", "--task", "classification", "--predictions", str(tmp_path / "nope.txt"),
                  "--labels", files["labels"])
    assert missing.returncode == 2 and "no such file" in missing.stderr
    no_truth = run("evaluate", "--task", "classification", "--predictions", files["cls"])
    assert no_truth.returncode == 2 and "--labels" in no_truth.stderr


def test_a_gzip_bomb_is_refused_by_line_and_the_limit_is_an_option(files: dict[str, str],
                                                                 tmp_path: Path) -> None:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb = tmp_path / "bomb.txt.gz"
    bomb.write_bytes(b"".join(packer.compress(b"1\n" * 2**19) for _ in range(256)) + packer.flush())
    out = run("evaluate", "--task", "classification", "--predictions", str(bomb), "--labels", files["labels"])
    assert out.returncode == 2
    assert out.stderr == (f"scorer: predictions {bomb}: line 105: too many lines: expected 4 lines "
                          "(one per image) and at most 100 blank lines after them\n")
    out = run("evaluate", "--task", "classification", "--predictions", files["cls"], "--labels",
              files["labels"], "--max-decompressed-mb", "0")
    assert out.returncode == 2 and "--max-decompressed-mb must be at least 1" in out.stderr
