"""``scorer evaluate``: score one submission file from the command line.

Exit codes: 0 scored; 2 a bad file or bad arguments (message on stderr, with the
file's role and the line number).

``--task detection`` (ILSVRC DET, mean AP) takes the image list as ``--labels``,
VOC XML (folder or tar) or the compact CSV as ``--boxes``, ``classes.txt`` or
``meta_det.mat`` as ``--classes`` and ``image_id wnid`` lines as ``--blacklist``.
``--real real.json`` adds the ReaL error to the other tasks. A task an operator installed
(``scorer.tasks``, entry-point group ``ilsvrc_challenge.tasks``) is scored through its own
``parse`` and ``evaluate``, read only when ``--task`` names none of the built-in ones.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from scorer.classes import ClassList, load_classes
from scorer.errors import FormatError
from scorer.memory import reuse_freed_memory
from scorer.metrics import Result, evaluate
from scorer.predictions import TASKS, Predictions, parse_predictions
from scorer.sources import (
    DEFAULT_MAX_DECOMPRESSED,
    Source,
    decode_text,
    read_bytes,
    sniff,
    split_lines,
    xml_files,
)
from scorer.truth import load_ground_truth

if TYPE_CHECKING:
    from scorer import detection

EXIT_OK, EXIT_BAD_INPUT = 0, 2
#: ``--task`` choices: the per-image tasks and detection.
CLI_TASKS = (*TASKS, "detection")


class _Bad(Exception):
    """A FormatError tagged with the role of the file it came from."""

    def __init__(self, role: str, error: Exception) -> None:
        super().__init__(f"{role}: {error}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scorer", description="Score ILSVRC-style submissions.")
    sub = parser.add_subparsers(dest="command", required=True)
    ev = sub.add_parser("evaluate", help="score one submission against ground truth")
    ev.add_argument("--task", required=True, metavar="TASK",
                    help=f"{', '.join(CLI_TASKS)}, or a task installed by the operator")
    ev.add_argument("--predictions", required=True, metavar="FILE")
    ev.add_argument("--labels", metavar="FILE",
                    help="ground-truth labels; optional when --boxes is a Kaggle solution CSV; "
                    "detection: the image list (val.txt)")
    ev.add_argument("--boxes", metavar="FILE_OR_DIR",
                    help="Kaggle solution CSV, or a folder or .tar/.tgz of PASCAL VOC XML files")
    ev.add_argument("--classes", metavar="FILE", help="meta.mat, LOC_synset_mapping.txt or a plain list")
    ev.add_argument("--blacklist", metavar="FILE", help="1-based image numbers excluded from localization; "
                    "detection: 'image_id wnid' lines")
    ev.add_argument("--real", metavar="FILE", help="ReaL labels (real.json): adds real_error_at_k")
    ev.add_argument("--truth-cache", metavar="FILE",
                    help="detection: keep the parsed ground truth in FILE (.npz, keyed by the "
                    "checksums of --labels, --boxes, --classes and --blacklist) and load it from "
                    "there on later runs with the same files; rebuilt when they change")
    ev.add_argument("--guesses", type=int, default=5, help="guesses per image (default 5)")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.add_argument("--per-class", action="store_true", help="also print the error of every class")
    ev.add_argument("--bootstrap", type=int, default=1000, help="bootstrap replicates (default 1000)")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--max-decompressed-mb", type=int, default=DEFAULT_MAX_DECOMPRESSED // 1024**2,
                    metavar="MB", help="refuse a predictions file that unpacks to more than this "
                    f"(default {DEFAULT_MAX_DECOMPRESSED // 1024**2})")
    return parser


def _classes_from_labels(labels: Source | None) -> ClassList:
    """Without --classes: IDs 1..1000 (more if the labels use more); wnids cannot be resolved.

    The range must not depend on the labels when they fit ILSVRC's 1000, or an
    out-of-range message would hint at which classes the ground truth holds.
    """
    if labels is None:
        raise FormatError("--classes is needed when the labels come from a CSV of wnids")
    data = read_bytes(labels)
    if sniff(data) == "csv":
        raise FormatError("--classes is needed when the labels are a Kaggle CSV (wnids)")
    top = 1000
    for number, line in enumerate(split_lines(decode_text(data)), 1):
        token = line.strip()
        if not (token.isascii() and token.isdigit()):
            raise FormatError("without --classes the labels must be class IDs (give --classes for wnids)",
                              line=number, token=token)
        top = max(top, int(token))
    ids = tuple(str(i) for i in range(1, top + 1))
    return ClassList(ids, ids)


def _load(role: str, func: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return func(*args, **kwargs)
    except (FormatError, ValueError) as exc:
        raise _Bad(role, exc) from None


def run_evaluate(args: argparse.Namespace) -> Result:
    return _run(args)[0]


def _run(args: argparse.Namespace) -> tuple[Result, Predictions, ClassList]:
    if args.labels is None and args.boxes is None:
        raise _Bad("arguments", ValueError("give --labels, or --boxes with a Kaggle solution CSV"))
    if args.classes:
        classes = _load(f"classes {args.classes}", load_classes, args.classes)
    else:
        classes = _load(f"labels {args.labels}", _classes_from_labels, args.labels)
    truth = _load("ground truth", load_ground_truth, classes, labels=args.labels, boxes=args.boxes,
                  blacklist=args.blacklist)
    predictions = _load(f"predictions {args.predictions}", parse_predictions, args.predictions,
                        task=args.task, guesses=args.guesses, classes=classes, images=truth.images,
                        max_decompressed=args.max_decompressed_mb * 1024**2)
    result = _load(f"predictions {args.predictions}", evaluate, predictions, truth, task=args.task,
                   guesses=args.guesses, classes=classes, bootstrap=args.bootstrap, seed=args.seed)
    return result, predictions, classes


def run_real(args: argparse.Namespace, predictions: Predictions, classes: ClassList) -> dict[str, Any]:
    """``real_error_at_k`` (k = 1..K) and ``real_images`` for ``--real``."""
    from scorer.real import load_real, score_real  # only for --real: start-up

    real = _load(f"real {args.real}", load_real, args.real, classes, images=predictions.images)
    errors, images = _load(f"real {args.real}", score_real, predictions.labels, real, args.guesses)
    return {"real_error_at_k": errors, "real_images": images}


def run_detection(args: argparse.Namespace) -> detection.DetectionResult:
    from scorer import detection  # imported for detection runs only: start-up of the others

    if args.labels is None or args.boxes is None or args.classes is None:
        raise _Bad("arguments", ValueError("detection needs --labels (the image list, val.txt), "
                                           "--boxes and --classes"))
    if args.real is not None:
        raise _Bad("arguments", ValueError("--real applies to classification, not detection"))
    classes = _load(f"classes {args.classes}", detection.load_det_classes, args.classes)
    images = _load(f"labels {args.labels}", detection.load_image_list, args.labels)
    if args.truth_cache is None:
        truth = _load("ground truth", detection.load_det_truth, images, classes, args.boxes,
                      args.blacklist)
    else:
        truth = _cached_det_truth(args, images, classes)
    dets = _load(f"predictions {args.predictions}", detection.parse_detections, args.predictions,
                 images=images, classes=len(classes),
                 max_decompressed=args.max_decompressed_mb * 1024**2)
    return detection.evaluate_detection(dets, truth, bootstrap=args.bootstrap, seed=args.seed)


def _digest(source: str) -> str:
    """sha256 of a file, or of a folder's ``*.xml`` files (names and bytes, sorted)."""
    digest = hashlib.sha256()
    path = Path(source)
    if path.is_dir():
        for name, data in xml_files(path):
            digest.update(f"{name}\0{len(data)}\0".encode())
            digest.update(data)
    else:
        digest.update(read_bytes(source))
    return digest.hexdigest()


def _cached_det_truth(args: argparse.Namespace, images: Any, classes: Any) -> detection.DetTruth:
    """``--truth-cache``: the devkit keeps its parsed ground truth in a .mat file; this keeps
    ours as an artifact (scorer.artifact), keyed by every file it depends on, so a cache left
    from other files is never used. A missing, stale or damaged cache is rebuilt."""
    from scorer import detection
    from scorer.artifact import ArtifactError, pack_det_truth, unpack_det_truth

    sources = (args.labels, args.boxes, args.classes, args.blacklist)
    key = "|".join(_load("ground truth", _digest, s) if s else "-" for s in sources)
    cache = Path(args.truth_cache)
    try:
        return unpack_det_truth(cache.read_bytes(), key, images, classes)
    except (OSError, ArtifactError):
        pass
    truth = _load("ground truth", detection.load_det_truth, images, classes, args.boxes, args.blacklist)
    partial = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
    try:  # written aside and renamed: a reader never sees half a cache
        partial.write_bytes(pack_det_truth(truth, key))
        os.replace(partial, cache)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        print(f"scorer: warning: --truth-cache {cache} not written: {exc}", file=sys.stderr)
    return truth


def render_detection(result: detection.DetectionResult, wnids: Sequence[str] | None = None) -> str:
    lines = [f"task detection, {result.images} images, {result.detections} detections",
             f"mean AP: {result.score:.6f} (95% CI {result.ci95[0]:.6f} .. {result.ci95[1]:.6f})"]
    lines.extend(f"warning: {w}" for w in result.warnings)
    if wnids is not None:
        lines.append(f"{'class':>5}  {'wnid':<12} AP")
        for i, (wnid, value) in enumerate(zip(wnids, result.ap_per_class, strict=True), 1):
            lines.append(f"{i:>5}  {wnid:<12} " + ("-" if np.isnan(value) else f"{value:.6f}"))
    return "\n".join(lines)


def _main_detection(args: argparse.Namespace) -> int:
    from scorer import detection

    try:
        result = run_detection(args)
    except _Bad as exc:
        print(f"scorer: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.json:
        print(json.dumps(result.to_json()))
    else:
        wnids = detection.load_det_classes(args.classes).wnids if args.per_class else None
        print(render_detection(result, wnids))
    return EXIT_OK


def _finite(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def render_table(result: Result, classes_shown: Sequence[str] | None = None) -> str:
    name = "mean cost" if result.task == "hierarchical" else "error"
    header = f"{'k':>2}  {name:>9}"
    if result.cls_error_at_k is not None:
        header += f"  {'cls error':>9}"
    lines = [f"task {result.task}, {result.images} images, {result.guesses} guesses", header]
    for k, value in enumerate(result.error_at_k, 1):
        row = f"{k:>2}  {value:>9.5f}"
        if result.cls_error_at_k is not None:
            row += f"  {result.cls_error_at_k[k - 1]:>9.5f}"
        lines.append(row)
    lines.append(f"{name} at {result.guesses}: {result.error:.5f} "
                 f"(95% CI {result.ci95[0]:.5f} .. {result.ci95[1]:.5f})")
    lines.extend(f"warning: {w}" for w in result.warnings)
    if classes_shown is not None:
        lines.append(f"{'class':>5}  {'wnid':<12} {name}")
        for i, (wnid, value) in enumerate(zip(classes_shown, result.per_class, strict=True), 1):
            lines.append(f"{i:>5}  {wnid:<12} " + ("-" if np.isnan(value) else f"{value:.5f}"))
    return "\n".join(lines)


def _main_installed(args: argparse.Namespace) -> int:
    """An operator-installed task: the registry's parse and evaluate, its headline and direction."""
    import scorer.tasks  # the registry reads entry points: only for a task not built in

    try:
        task = scorer.tasks.get(args.task)
    except scorer.tasks.UnknownTask as exc:
        print(f"scorer: --task: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        if args.classes is None or args.labels is None:
            raise _Bad("arguments", ValueError(f"task {task.name} needs --classes and --labels"))
        classes = _load(f"classes {args.classes}", task.load_classes, read_bytes(args.classes))
        truth = _load("ground truth", task.load_truth, classes, labels=args.labels, boxes=args.boxes,
                      blacklist=args.blacklist)
        predictions = _load(f"predictions {args.predictions}", task.parse, args.predictions,
                            guesses=args.guesses, classes=classes, images=truth.images,
                            max_decompressed=args.max_decompressed_mb * 1024**2)
        result = _load(f"predictions {args.predictions}", task.evaluate, predictions, truth,
                       guesses=args.guesses, classes=classes, bootstrap=args.bootstrap, seed=args.seed)
    except _Bad as exc:
        print(f"scorer: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.json:
        print(json.dumps({**result.to_json(), "headline": task.headline, "direction": task.direction}))
    else:
        print(f"task {task.name}, {result.images} images: {task.headline} {result.error:.6f} "
              f"({task.direction} is better)")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if argv is None:  # a process of its own (not a caller's function call): one file, then exit
        reuse_freed_memory()
    if args.guesses < 1:
        print("scorer: --guesses must be at least 1", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.max_decompressed_mb < 1:
        print("scorer: --max-decompressed-mb must be at least 1", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.task == "detection":
        return _main_detection(args)
    if args.truth_cache is not None:
        print("scorer: --truth-cache applies to --task detection (the other tasks parse their "
              "ground truth in a fraction of a second)", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.task not in CLI_TASKS:
        return _main_installed(args)
    try:
        result, predictions, classes = _run(args)
        real = run_real(args, predictions, classes) if args.real else None
    except _Bad as exc:
        print(f"scorer: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.json:
        out = result.to_json()
        if real is not None:
            out.update(real)
        if args.per_class:
            out["per_class"] = [_finite(x) for x in result.per_class]
        print(json.dumps(out))
    else:
        wnids = None
        if args.per_class:
            wnids = load_classes(args.classes).wnids if args.classes else tuple(
                str(i + 1) for i in range(result.per_class.size))
        table = render_table(result, wnids)
        if real is not None:
            table += "\nReaL error (" + f"{real['real_images']} images): " + " ".join(
                f"k={k} {e:.6f}" for k, e in enumerate(real["real_error_at_k"], 1))
        print(table)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
