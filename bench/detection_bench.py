"""Detection benchmark: 900,000 detections on the det-sample images (../shared/ilsvrc).

Prints the whole-process time of ``scorer evaluate --task detection`` (parse,
validate, match, mean AP, bootstrap interval) against a floor process measured
in the same run: Python + numpy reading the same file and parsing it as float64,
nothing else. Goal: ratio <= 2. With GNU Octave on the PATH and a checkout of
the ILSVRC 2014 devkit's ``eval_detection.m`` (zhoubolei/CAM has one; set
ILSVRC_DEVKIT to its folder), the devkit's time is printed too; else the reason
it is not.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from scorer import detection

SHARED = Path(__file__).resolve().parents[2] / "shared" / "ilsvrc" / "det-sample"
DETECTIONS = 900_000
REPEAT = 5
GOAL = 2.0
FLOOR = "import sys, numpy as np; np.fromstring(open(sys.argv[1], 'rb').read(), dtype=np.float64, sep=' ')"


def make_detections(seed: int = 0) -> bytes:
    """About a tenth near a ground-truth object of its class (jittered, so some match,
    some are duplicates, some miss the threshold), the rest random boxes and classes;
    confidences on a 0.001 grid, so ties are common."""
    images = detection.load_image_list(SHARED / "val.txt")
    classes = detection.load_det_classes(SHARED / "classes.txt")
    truth = detection.load_det_truth(images, classes, SHARED / "xml.tar.gz")
    rng = np.random.default_rng(seed)
    near = DETECTIONS // 10
    obj = rng.integers(0, truth.objects, near)
    jitter = rng.normal(0, 8, (near, 4))
    near_boxes = truth.coords[obj] + jitter
    n_far = DETECTIONS - near
    x0, y0 = rng.uniform(0, 400, (2, n_far))
    w, h = rng.uniform(5, 300, (2, n_far))
    far_boxes = np.stack([x0, y0, x0 + w, y0 + h], axis=1)
    image = np.concatenate([truth.image[obj], rng.integers(0, len(images), n_far)])
    label = np.concatenate([truth.label[obj], rng.integers(0, len(classes), n_far)])
    conf = np.concatenate([rng.uniform(0.3, 1.0, near), rng.uniform(0.0, 0.7, n_far)]).round(3)
    boxes = np.concatenate([near_boxes, far_boxes]).round(1)
    order = rng.permutation(DETECTIONS)
    table = np.column_stack([images.ids[image], label + 1, conf, boxes])[order]
    fmt = "%d %d %.3f %.1f %.1f %.1f %.1f"
    return ("\n".join(fmt % tuple(row) for row in table.tolist()) + "\n").encode()


def best_of(commands: dict[str, list[str]], repeat: int = REPEAT) -> dict[str, float]:
    """Best wall time of each command; runs interleaved, so a change in the machine's
    load falls on all of them alike."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeat):
        for name, argv in commands.items():
            start = time.perf_counter()
            subprocess.run(argv, check=True, capture_output=True)
            times[name].append(time.perf_counter() - start)
    return {name: min(values) for name, values in times.items()}


def octave_time(pred: Path) -> str:
    octave = shutil.which("octave")
    if octave is None:
        return "eval_detection.m under Octave: skipped (octave is not installed)"
    devkit = os.environ.get("ILSVRC_DEVKIT")
    if not devkit or not (Path(devkit) / "eval_detection.m").is_file():
        return ("eval_detection.m under Octave: skipped (set ILSVRC_DEVKIT to a folder holding the "
                "2014 devkit's eval_detection.m, e.g. from zhoubolei/CAM)")
    return "eval_detection.m under Octave: not run (needs the XML unpacked and the devkit's paths)"


def main() -> None:
    if not SHARED.is_dir():
        print(f"detection bench: skipped ({SHARED} not found)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        pred = Path(tmp) / "pred.txt"
        pred.write_bytes(make_detections())
        size = pred.stat().st_size / 1024**2
        argv = [sys.executable, "-m", "scorer.cli", "evaluate", "--task", "detection", "--predictions",
                str(pred), "--labels", str(SHARED / "val.txt"), "--boxes", str(SHARED / "xml.tar.gz"),
                "--classes", str(SHARED / "classes.txt"), "--blacklist", str(SHARED / "blacklist.txt"),
                "--json"]
        best = best_of({"floor": [sys.executable, "-c", FLOOR, str(pred)], "full": argv,
                        "no_ci": [*argv, "--bootstrap", "0"]})
        floor, full, no_ci = best["floor"], best["full"], best["no_ci"]
        print(f"detection: {DETECTIONS:,} detections ({size:.1f} MB), best of {REPEAT} interleaved runs")
        print(f"  floor (python + numpy parse as float64): {floor:.3f} s")
        print(f"  scorer evaluate, 1000-replicate CI:      {full:.3f} s  ratio {full / floor:.2f} "
              f"(goal <= {GOAL}: {'met' if full / floor <= GOAL else 'NOT met'})")
        print(f"  scorer evaluate, --bootstrap 0:          {no_ci:.3f} s  ratio {no_ci / floor:.2f}")
        print(f"  {octave_time(pred)}")


if __name__ == "__main__":
    main()
