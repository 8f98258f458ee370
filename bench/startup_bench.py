"""Whole-process benchmark of ``scorer evaluate`` (start-up, ground truth, parse, score).

Each line is a ratio of two processes timed in the same minute, runs interleaved
(so a change in the machine's load falls on both), best of ``REPEAT``:

(a) 50,000-image classification with the real 2012 files (``meta.mat``, the
    devkit's ground truth, ``demo.val.pred.txt``) against a numpy floor process;
    the issue's goal is the devkit's ``eval_flat`` under Octave, run in the same
    interleaving when ``octave`` is installed and ``$ILSVRC_DEVKIT_EVAL`` holds
    ``eval_flat.m`` (2012 devkit) or ``eval_clsloc.m`` (zhoubolei/CAM), its top-5
    error checked against the scorer's; else "skipped: <reason>".
(b) 100,000-image localization (synthetic: 1,000 classes, ~1.6 boxes per image in
    a Kaggle solution CSV, 5 guesses) against its numpy floor process. Goal <= 1.8x.
(c) detection, 900,000 detections on det-sample, against a process that only parses
    the file as float64 (``detection_bench``'s floor). Goal <= 2x.

The numpy floor process: ``python -c`` that imports numpy, reads each input file
and turns its numbers into int64 with ``np.fromstring(data, dtype=np.int64,
sep=" ")`` (numpy's fastest text parser, faster than ``np.loadtxt``); the box CSV,
which numpy cannot parse as it is, after one ``bytes.translate`` turning every
byte but a digit into a space (ImageIds, commas, the wnids' 'n'). Nothing is
validated, mapped or scored: no real scorer can be faster.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import detection_bench
import octave_devkit
import scorer_bench
from shared_files import devkit_dir, shared_dir

ROOT = Path(__file__).resolve().parents[1]
SHARED = shared_dir()
REAL = SHARED / "2012"
REPEAT = 5
DET_REPEAT = 3
#: The issue's figure for the devkit's eval_flat under Octave on this machine.
OCTAVE_EVAL_FLAT_S = 0.25
LOC_GOAL, DET_GOAL = 1.8, 2.0
FLOOR = ("import sys, numpy as np\n"
         "digits_only = bytes(b if 48 <= b <= 57 else 32 for b in range(256))\n"
         "for name in sys.argv[1:]:\n"
         "    data = open(name, 'rb').read()\n"
         "    if name.endswith('.csv'):\n"
         "        data = data.translate(digits_only)\n"
         "    np.fromstring(data, dtype=np.int64, sep=' ')\n")


class Times(NamedTuple):
    best: float  # wall seconds
    median: float
    cpu: float  # best user + system seconds: steadier than wall on a busy machine


def timed(commands: dict[str, list[str]], repeat: int = REPEAT) -> dict[str, Times]:
    """Wall and CPU time of each command, runs interleaved."""
    wall: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for _ in range(repeat):
        for name, argv in commands.items():
            start = time.perf_counter()
            child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
            _, status, usage = os.wait4(child.pid, 0)
            wall[name].append(time.perf_counter() - start)
            assert child.stderr is not None
            error = child.stderr.read()
            child.stderr.close()
            if status:
                raise RuntimeError(f"{name} failed: {error.decode(errors='replace')[-500:]}")
            cpu[name].append(usage.ru_utime + usage.ru_stime)
    return {name: Times(min(wall[name]), statistics.median(wall[name]), min(cpu[name]))
            for name in commands}


def evaluate(*args: str) -> list[str]:
    return [sys.executable, "-m", "scorer.cli", "evaluate", *args, "--json"]


def floor(*files: Path) -> list[str]:
    return [sys.executable, "-c", FLOOR, *map(str, files)]


def verdict(value: float, goal: float) -> str:
    return "OK" if value <= goal else "SLOW"


def line(label: str, full: Times, base: Times, goal: float) -> str:
    ratio = full.best / base.best
    return (f"  {label}:\n      {full.best:.3f} s (median {full.median:.3f}) vs floor {base.best:.3f} s "
            f"(median {base.median:.3f}): ratio {ratio:.2f} (CPU time {full.cpu / base.cpu:.2f}), "
            f"goal <= {goal}  {verdict(ratio, goal)}")


def classification(tmp: Path) -> None:
    files = {"pred": REAL / "demo.val.pred.txt", "gt": REAL / "ILSVRC2012_validation_ground_truth.txt",
             "meta": REAL / "meta.mat"}
    if not all(f.is_file() for f in files.values()):
        print(f"  (a) classification: skipped ({REAL} lacks the 2012 files)")
        return
    commands = {"scorer": evaluate("--task", "classification", "--predictions", str(files["pred"]),
                                   "--labels", str(files["gt"]), "--classes", str(files["meta"])),
                "floor": floor(files["pred"], files["gt"])}
    folder, skip = devkit_dir()
    devkit = octave_devkit.Devkit(folder, tmp) if folder is not None else None
    if octave_devkit.octave() is None:
        skip = "octave is not installed"
    elif devkit is not None and not (devkit.has("eval_flat") or devkit.has("eval_clsloc")):
        skip = f"no eval_flat.m or eval_clsloc.m in {folder}"
    what = ""
    if not skip and devkit is not None:
        commands["octave"], what = devkit.flat_error(files["pred"], files["gt"])
        # Octave's own start-up, for reading the figure: what the devkit cannot go under.
        commands["octave_start"] = devkit.script("printf('ERROR 0\\n');")
    t = timed(commands)
    full, base = t["scorer"], t["floor"]
    print(f"  (a) classification, 50,000 images with meta.mat:\n      {full.best:.3f} s (median "
          f"{full.median:.3f}) vs numpy floor {base.best:.3f} s (median {base.median:.3f}): ratio "
          f"{full.best / base.best:.2f} (CPU time {full.cpu / base.cpu:.2f})")
    if "octave" in t:
        oct_, start = t["octave"], t["octave_start"]
        _, out = octave_devkit.run(commands["octave"])
        theirs = octave_devkit.value(out, "ERROR")
        _, out = octave_devkit.run(commands["scorer"], env={**os.environ, "PYTHONPATH": str(ROOT)})
        ours = float(json.loads(out)["error"])
        print(f"      devkit under Octave ({what}): {oct_.best:.3f} s (median {oct_.median:.3f}; "
              f"Octave start-up alone {start.best:.3f} s)\n      scorer/devkit {full.best / oct_.best:.2f}, "
              f"goal <= 1  {verdict(full.best, oct_.best)}; top-5 error devkit {theirs:.6f}, scorer "
              f"{ours:.6f}: {'agree' if abs(theirs - ours) <= 1e-9 else 'DIFFER'}")
    else:
        print(f"      devkit under Octave: skipped: {skip}; against the issue's "
              f"{OCTAVE_EVAL_FLAT_S} s for eval_flat: goal <= {OCTAVE_EVAL_FLAT_S} s  "
              f"{verdict(full.best, OCTAVE_EVAL_FLAT_S)}")


def localization(tmp: Path) -> None:
    made = scorer_bench.make_files()
    (tmp / "classes.txt").write_text("".join(f"n{i:08d} class {i}\n"
                                             for i in range(1, scorer_bench.CLASSES + 1)))
    for name, key in (("labels.txt", "labels"), ("boxes.csv", "boxes"), ("pred.txt", "localization")):
        (tmp / name).write_bytes(made[key])
    t = timed({"scorer": evaluate("--task", "localization", "--predictions", str(tmp / "pred.txt"),
                                  "--labels", str(tmp / "labels.txt"), "--boxes", str(tmp / "boxes.csv"),
                                  "--classes", str(tmp / "classes.txt")),
               "floor": floor(tmp / "pred.txt", tmp / "labels.txt", tmp / "boxes.csv")})
    print(line(f"(b) localization, {scorer_bench.IMAGES:,} images, box CSV ground truth",
               t["scorer"], t["floor"], LOC_GOAL))


def detection(tmp: Path) -> None:
    det = SHARED / "det-sample"
    if not det.is_dir():
        print(f"  (c) detection: skipped ({det} not found)")
        return
    pred = tmp / "det.txt"
    pred.write_bytes(detection_bench.make_detections())
    t = timed({"scorer": evaluate("--task", "detection", "--predictions", str(pred),
                                  "--labels", str(det / "val.txt"), "--boxes", str(det / "xml.tar.gz"),
                                  "--classes", str(det / "classes.txt"),
                                  "--blacklist", str(det / "blacklist.txt")),
               "floor": [sys.executable, "-c", detection_bench.FLOOR, str(pred)]}, DET_REPEAT)
    print(line(f"(c) detection, {detection_bench.DETECTIONS:,} detections, float64-parse floor",
               t["scorer"], t["floor"], DET_GOAL))


def main() -> None:
    # As an installed package has: with PYTHONDONTWRITEBYTECODE=1 (set here and in the
    # Docker image) every process would otherwise compile scorer/ from source.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "scorer")], check=True)
    print(f"start-up bench: whole `scorer evaluate` processes, interleaved, best of {REPEAT} "
          f"({DET_REPEAT} for detection); scorer/ byte-compiled first")
    print("  numpy floor = python importing numpy, reading the inputs, np.fromstring(int64) on each "
          "(the box CSV after one bytes.translate of non-digits to spaces)")
    with tempfile.TemporaryDirectory(prefix="startup-bench-") as tmp:
        classification(Path(tmp))
        localization(Path(tmp))
        detection(Path(tmp))


if __name__ == "__main__":
    main()
