"""Paired bootstrap: is one submission's error really lower than another's?

Both submissions were scored on the same images, so the fair comparison
resamples images (not submissions): each bootstrap replicate draws N images
with replacement and recomputes the difference of the two mean errors on that
same resample. Per image the pair (a_i, b_i) takes very few distinct values
(0/1 errors, small integer costs), so, as in ``scorer.stats.bootstrap_ci``, a
replicate is one multinomial draw of counts over the distinct pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scorer.metrics import EXCLUDED


@dataclass(frozen=True)
class PairedDifference:
    """``difference`` = mean error of b minus mean error of a, with its interval.

    ``significant`` is False when the interval contains 0: the data cannot tell
    the two apart at this level.
    """

    difference: float
    low: float
    high: float

    @property
    def significant(self) -> bool:
        return not (self.low <= 0.0 <= self.high)


def image_errors(outcomes: np.ndarray, task: str, guesses: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-image error and inclusion mask from stored outcomes (see ``scorer.Result``).

    Flat and localization: outcome k is the first correct guess (0: never), so an
    image is wrong at K unless 1 <= k <= K; localization marks blacklisted images
    ``EXCLUDED``. Hierarchical: the outcome is the image's cost itself.
    """
    outcomes = np.asarray(outcomes).reshape(-1)
    if task == "hierarchical":
        return outcomes.astype(np.uint8), np.ones(outcomes.size, dtype=bool)
    included = outcomes != EXCLUDED if task == "localization" else np.ones(outcomes.size, dtype=bool)
    wrong = ~((outcomes >= 1) & (outcomes <= guesses))
    return wrong.astype(np.uint8), included


def paired_bootstrap(
    a: np.ndarray,
    b: np.ndarray,
    included: np.ndarray | None = None,
    *,
    bootstrap: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> PairedDifference:
    """Percentile interval of ``mean(b) - mean(a)`` over the included images, paired.

    ``a`` and ``b`` are per-image errors of two submissions on the same images
    (small non-negative integers: 0/1 errors or costs up to 255).
    """
    a = np.asarray(a).reshape(-1)
    b = np.asarray(b).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"paired outcomes must cover the same images: {a.size} vs {b.size}")
    keep = np.ones(a.size, dtype=bool) if included is None else np.asarray(included, dtype=bool)
    if not keep.any():
        nan = float("nan")
        return PairedDifference(nan, nan, nan)
    # Excluded images never count, so only the kept ones form kinds: the number
    # of kept images is then fixed per replicate and the mean is a plain sum / n.
    if not keep.all():
        a, b = a[keep], b[keep]
    code = a.astype(np.int64) * 256 + b
    counts = np.bincount(code)
    kinds = np.flatnonzero(counts)
    diff_of_kind = (kinds % 256 - kinds // 256).astype(np.float64)
    n = int(keep.sum())
    point = float(counts[kinds] @ diff_of_kind / n)
    if bootstrap <= 0 or kinds.size == 1:
        return PairedDifference(point, point, point)
    rng = np.random.default_rng(seed)
    drawn = rng.multinomial(n, counts[kinds] / n, size=bootstrap).astype(np.float64)
    stats = drawn @ diff_of_kind / n
    tail = (1.0 - level) / 2.0
    low, high = _quantiles(stats, (tail, 1.0 - tail))
    return PairedDifference(point, low, high)


def _quantiles(values: np.ndarray, qs: tuple[float, float]) -> tuple[float, float]:
    """``np.percentile``'s default (linear) quantiles, without its per-call overhead,
    which dominates when a leaderboard compares a thousand pairs."""
    ordered = np.sort(values)
    out: list[float] = []
    for q in qs:
        position = q * (ordered.size - 1)
        below = int(np.floor(position))
        above = min(below + 1, ordered.size - 1)
        fraction = position - below
        out.append(float(ordered[below] + (ordered[above] - ordered[below]) * fraction))
    return out[0], out[1]


def tie_groups(significant_vs_above: list[bool]) -> list[int]:
    """Group numbers for a ranked list: a new group starts at each entry that is
    significantly worse than the entry above it (the first entry's flag is ignored)."""
    groups: list[int] = []
    for position, significant in enumerate(significant_vs_above):
        if position == 0:
            groups.append(1)
        else:
            groups.append(groups[-1] + (1 if significant else 0))
    return groups
