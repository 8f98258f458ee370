"""ILSVRC 2010-2011 hierarchical cost: the mean over images of the smallest WordNet height
between a guess and the true class; lower is better. Needs a class list with costs."""

from __future__ import annotations

from functools import partial

from scorer.metrics import evaluate
from scorer.predictions import parse_predictions
from scorer.tasks.base import Column, Task

TASK = Task(
    name="hierarchical",
    title="Hierarchical cost",
    file_format="As classification: one line per image with up to K class labels.",
    direction="lower",
    headline="mean hierarchical cost",
    columns=(Column("error", "Cost ({k})"), Column("top1", "Top-1", source="top1")),
    panel="cost",
    parse=partial(parse_predictions, task="hierarchical"),
    evaluate=partial(evaluate, task="hierarchical"),
    needs_costs=True,
)
