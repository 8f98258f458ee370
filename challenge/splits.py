"""Public/private split of a phase's test images, Kaggle style.

A split phase names either a fraction of its images or an explicit list of
1-based image numbers (lines of the prediction file) that score the public
board; every other image scores the private board. A fractional split is drawn
from a generator seeded by the phase's ``split_secret``, which never leaves the
server, so nobody outside can derive which images are public, and the same
phase always gets the same split.

Subset scores are computed once, when a submission is scored (``subset_scores``,
called by the scoring job), and stored on its Score with the split's
fingerprint; a score whose fingerprint no longer matches (the organizer changed
the split) is recomputed from its stored per-image outcomes.
"""

from __future__ import annotations

import hashlib
import json
import math
from functools import lru_cache
from typing import Any

import numpy as np

import scorer
import scorer.tasks
from challenge.models import Phase, Score

SUBSETS = ("public", "private")
#: Same resampling as the headline interval (scorer.evaluate's defaults).
BOOTSTRAP = 1000


def is_split(phase: Phase) -> bool:
    """Does the phase have a public and a private board?"""
    return phase.public_fraction is not None or phase.public_images is not None


def check_split(fraction: float | None, images: list[int] | None, total: int) -> None:
    """Raise ValueError, saying what is wrong, unless this is a usable split of ``total`` images."""
    if fraction is not None and images is not None:
        raise ValueError("give either a public fraction or a list of public images, not both")
    if fraction is not None:
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) \
                or not 0.0 < float(fraction) < 1.0:
            raise ValueError(f"public fraction must be a number strictly between 0 and 1 "
                             f"(got {fraction!r})")
        public = round(float(fraction) * total)
        if not 0 < public < total:
            raise ValueError(f"a public fraction of {fraction} leaves one board without images "
                             f"({public} of {total} public)")
    if images is not None:
        if not isinstance(images, list) or not all(isinstance(i, int) and not isinstance(i, bool)
                                                    for i in images):
            raise ValueError("public images must be a list of image numbers (1-based lines)")
        bad = [i for i in images if not 1 <= i <= total]
        if bad:
            raise ValueError(f"public image {bad[0]} is outside 1..{total}")
        if len(set(images)) != len(images):
            raise ValueError("public images list an image twice")
        if not 0 < len(images) < total:
            raise ValueError(f"public images must be some but not all of the {total} images")


def split_key(phase: Phase) -> str:
    """A fingerprint of the split (changes with its secret, fraction, list or size)."""
    spec = json.dumps([phase.split_secret, phase.public_fraction, phase.public_images, phase.images])
    return hashlib.sha256(spec.encode()).hexdigest()[:20]


@lru_cache(maxsize=64)
def _mask(secret: str, fraction: float | None, images: tuple[int, ...] | None, total: int) -> np.ndarray:
    mask = np.zeros(total, dtype=bool)
    if images is not None:
        mask[np.asarray(images, dtype=np.int64) - 1] = True
    else:
        assert fraction is not None
        if not secret:
            raise ValueError("a split phase needs a split secret")
        seed = int.from_bytes(hashlib.sha256(f"split:{secret}".encode()).digest()[:8], "big")
        chosen = np.random.default_rng(seed).permutation(total)[: round(fraction * total)]
        mask[chosen] = True
    mask.setflags(write=False)
    return mask


def public_mask(phase: Phase) -> np.ndarray:
    """Boolean per image, True for the public ones (deterministic per phase). Server-side only."""
    images = tuple(phase.public_images) if phase.public_images is not None else None
    return _mask(phase.split_secret, phase.public_fraction, images, phase.images)


def subset_mask(phase: Phase, subset: str) -> np.ndarray:
    mask = public_mask(phase)
    return mask if subset == "public" else ~mask


def _finite(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _at_k(first: np.ndarray, guesses: int) -> list[float | None]:
    """Error at k = 1..K from first-correct indices (0: never; EXCLUDED counts as wrong,
    so callers drop excluded images first)."""
    return [_finite(float(((first < 1) | (first > k)).mean())) if first.size else None
            for k in range(1, guesses + 1)]


def _summary(outcomes: np.ndarray, task: str, guesses: int, mask: np.ndarray,
             cls_outcomes: np.ndarray | None = None) -> dict[str, Any]:
    wrong, included = scorer.image_errors(outcomes, task, guesses)
    keep = included & mask
    n = int(keep.sum())
    error = float(wrong[keep].mean()) if n else float("nan")
    # Only the cost at K is stored per image of a hierarchical track.
    error_at_k = [] if scorer.tasks.get(task).needs_costs else _at_k(outcomes[keep], guesses)
    low, high = scorer.bootstrap_ci(wrong[mask], included[mask], bootstrap=BOOTSTRAP)
    # A localization track's classification error counts every image of the subset (the
    # blacklist is a localization rule), as scorer.evaluate does on the whole set. Scores
    # stored before class outcomes were kept have none.
    cls_error_at_k = None if cls_outcomes is None else _at_k(cls_outcomes[mask], guesses)
    return {"error": _finite(error), "error_at_k": error_at_k,
            "cls_error": cls_error_at_k[-1] if cls_error_at_k else None,
            "cls_error_at_k": cls_error_at_k, "ci95": [_finite(low), _finite(high)], "images": n}


def subset_scores(phase: Phase, outcomes: np.ndarray,
                  cls_outcomes: np.ndarray | None = None) -> dict[str, Any] | None:
    """Scores of per-image ``outcomes`` (and, for localization, class outcomes) on the phase's
    public and private images (None: unsplit)."""
    if not is_split(phase):
        return None
    outcomes = np.asarray(outcomes).reshape(-1)
    if outcomes.size != phase.images:
        raise ValueError(f"outcomes cover {outcomes.size} images, the phase has {phase.images}")
    if cls_outcomes is not None:
        cls_outcomes = np.asarray(cls_outcomes).reshape(-1)
        if cls_outcomes.size != outcomes.size:
            raise ValueError(f"class outcomes cover {cls_outcomes.size} images, the phase has {phase.images}")
    track = phase.track
    public = public_mask(phase)
    return {"key": split_key(phase),
            "public": _summary(outcomes, track.task, track.guesses, public, cls_outcomes),
            "private": _summary(outcomes, track.task, track.guesses, ~public, cls_outcomes)}


def scores_of(phase: Phase, score: Score) -> dict[str, Any] | None:
    """The score's subset scores under the phase's current split (recomputed if stale)."""
    if not is_split(phase):
        return None
    stored = score.subsets
    if stored is not None and stored.get("key") == split_key(phase):
        return stored
    if score.outcomes is None:
        return None
    cls_outcomes = None if score.cls_outcomes is None else scorer.unpack_outcomes(score.cls_outcomes)
    return subset_scores(phase, scorer.unpack_outcomes(score.outcomes), cls_outcomes)
