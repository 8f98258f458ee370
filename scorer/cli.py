"""``scorer evaluate``: score one submission file from the command line.

Exit codes: 0 scored; 2 a bad file or bad arguments (message on stderr, with the
file's role and the line number).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from scorer.classes import ClassList, load_classes
from scorer.errors import FormatError
from scorer.metrics import Result, evaluate
from scorer.predictions import TASKS, parse_predictions
from scorer.sources import DEFAULT_MAX_DECOMPRESSED, Source, decode_text, read_bytes, sniff, split_lines
from scorer.truth import load_ground_truth

EXIT_OK, EXIT_BAD_INPUT = 0, 2


class _Bad(Exception):
    """A FormatError tagged with the role of the file it came from."""

    def __init__(self, role: str, error: Exception) -> None:
        super().__init__(f"{role}: {error}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scorer", description="Score ILSVRC-style submissions.")
    sub = parser.add_subparsers(dest="command", required=True)
    ev = sub.add_parser("evaluate", help="score one submission against ground truth")
    ev.add_argument("--task", required=True, choices=TASKS)
    ev.add_argument("--predictions", required=True, metavar="FILE")
    ev.add_argument("--labels", metavar="FILE",
                    help="ground-truth labels; optional when --boxes is a Kaggle solution CSV")
    ev.add_argument("--boxes", metavar="FILE_OR_DIR",
                    help="Kaggle solution CSV, or a folder or .tar/.tgz of PASCAL VOC XML files")
    ev.add_argument("--classes", metavar="FILE", help="meta.mat, LOC_synset_mapping.txt or a plain list")
    ev.add_argument("--blacklist", metavar="FILE", help="1-based image numbers excluded from localization")
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
    return _load(f"predictions {args.predictions}", evaluate, predictions, truth, task=args.task,
                 guesses=args.guesses, classes=classes, bootstrap=args.bootstrap, seed=args.seed)


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


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.guesses < 1:
        print("scorer: --guesses must be at least 1", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.max_decompressed_mb < 1:
        print("scorer: --max-decompressed-mb must be at least 1", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        result = run_evaluate(args)
    except _Bad as exc:
        print(f"scorer: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.json:
        out = result.to_json()
        if args.per_class:
            out["per_class"] = [_finite(x) for x in result.per_class]
        print(json.dumps(out))
    else:
        wnids = None
        if args.per_class:
            wnids = load_classes(args.classes).wnids if args.classes else tuple(
                str(i + 1) for i in range(result.per_class.size))
        print(render_table(result, wnids))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
