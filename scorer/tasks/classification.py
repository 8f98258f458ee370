"""ILSVRC classification (2010-2014 CLS): flat top-k error, lower is better."""

from __future__ import annotations

from functools import partial

from scorer.metrics import evaluate
from scorer.predictions import parse_predictions
from scorer.tasks.base import Column, Task

TASK = Task(
    name="classification",
    title="Classification",
    file_format="One line per image, in the image list's order: up to K class labels (IDs 1..N "
                "or wnids), most confident first; or a Kaggle CSV 'ImageId,PredictionString'.",
    direction="lower",
    headline="top-k error",
    columns=(Column("error", "Error ({k})"), Column("top1", "Top-1", source="top1")),
    panel="error",
    real_ok=True,
    parse=partial(parse_predictions, task="classification"),
    evaluate=partial(evaluate, task="classification"),
)
