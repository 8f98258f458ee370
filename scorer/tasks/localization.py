"""ILSVRC classification with localization (CLS-LOC): an image is right at k when one of its
first k guesses names a true class with a box of IoU >= 0.5; lower is better. Needs boxes."""

from __future__ import annotations

from functools import partial

from scorer.metrics import evaluate
from scorer.predictions import parse_predictions
from scorer.tasks.base import Column, Task


def _rehearsal(n_classes: int, guesses: int, images: int) -> bytes:
    line = " ".join(f"{1 + g % n_classes} 0 0 99 99" for g in range(guesses))
    return ((line + "\n") * images).encode()


TASK = Task(
    name="localization",
    title="Classification with localization",
    file_format="One line per image: up to K groups 'label xmin ymin xmax ymax' (inclusive "
                "pixels), most confident first; or a Kaggle CSV.",
    direction="lower",
    headline="localization error",
    columns=(Column("error", "Loc. error ({k})"), Column("cls_error", "Cls. error ({k})", source="cls_error"),
             Column("top1", "Top-1", source="top1")),
    panel="error",
    parse=partial(parse_predictions, task="localization"),
    evaluate=partial(evaluate, task="localization"),
    needs_boxes=True,
    rehearsal=_rehearsal,
)
