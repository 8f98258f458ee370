"""scorer: the official ILSVRC metrics, exact to the development kits, at memory speed.

Pure numpy (scipy only for a ``.mat`` that ``scorer.matfile`` cannot read); never imports the web platform.
Detection (mean AP) is ``scorer.detection``; ReaL labels are ``scorer.real``; the registry of
tasks the platform reads (format, metric, direction, headline, columns) is ``scorer.tasks``.
"""

import importlib
import os
from types import ModuleType

# One BLAS thread unless the operator says otherwise (set before numpy is first
# imported, so only when the scorer is what imports it). The scorer's products are
# small (the bootstrap's per-class sums); OpenBLAS's idle threads spin, and on a busy
# machine (a worker beside others) the 1,000-replicate detection interval took 3-4x
# as long threaded as on one thread: 3.3-5 s against 1.0-1.3 s for 900,000 detections.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from scorer.artifact import (
    FORMAT_VERSION as ARTIFACT_FORMAT,
)
from scorer.artifact import (
    ArtifactError,
    pack_classes,
    pack_ground_truth,
    unpack_classes,
    unpack_ground_truth,
)
from scorer.classes import ClassList, load_classes
from scorer.errors import FormatError
from scorer.metrics import EXCLUDED, Result, evaluate
from scorer.paired import PairedDifference, image_errors, paired_bootstrap, tie_groups
from scorer.predictions import TASKS, Predictions, parse_predictions
from scorer.sources import Source
from scorer.stats import bootstrap_ci, pack_array, pack_outcomes, unpack_array, unpack_outcomes
from scorer.truth import GroundTruth, load_ground_truth

__all__ = [
    "EXCLUDED", "TASKS", "ClassList", "FormatError", "GroundTruth", "Predictions", "Result", "Source",
    "bootstrap_ci", "evaluate", "load_classes", "load_ground_truth", "pack_array", "pack_outcomes",
    "parse_predictions", "unpack_array", "unpack_outcomes",
    "PairedDifference", "image_errors", "paired_bootstrap", "tie_groups",
    "detection", "real",
    "ARTIFACT_FORMAT", "ArtifactError", "pack_classes", "pack_ground_truth", "unpack_classes",
    "unpack_ground_truth",
]


#: Imported on first use (``scorer.detection``, ``from scorer import real``): a
#: classification or localization run does not pay for XML, tar and DET code.
_LAZY = ("detection", "real")


def __getattr__(name: str) -> ModuleType:
    if name in _LAZY:
        return importlib.import_module(f"scorer.{name}")
    raise AttributeError(f"module 'scorer' has no attribute {name!r}")
