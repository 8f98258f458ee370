"""Confidence intervals and compact storage of per-image outcomes."""

from __future__ import annotations

import io
import zlib

import numpy as np


def bootstrap_ci(
    values: np.ndarray,
    included: np.ndarray | None = None,
    *,
    bootstrap: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``mean(values[included])``, resampling images.

    Per-image values take very few distinct values (0/1 errors, small integer
    costs), so instead of resampling N indices B times we draw, per replicate,
    how many images of each distinct (value, included) kind the resample holds:
    one multinomial draw of size N. Same distribution, B x (distinct kinds) work.
    """
    values = np.asarray(values).reshape(-1)
    keep = np.ones(values.size, dtype=bool) if included is None else np.asarray(included, dtype=bool)
    if values.size == 0:
        return (float("nan"), float("nan"))
    if bootstrap <= 0 or not keep.any():
        point = float(values[keep].mean()) if keep.any() else float("nan")
        return (point, point)
    kind_value, kind_kept, counts = _kinds(values, keep)
    rng = np.random.default_rng(seed)
    drawn = rng.multinomial(values.size, counts / counts.sum(), size=bootstrap).astype(np.float64)
    weight = drawn @ kind_kept
    total = drawn @ (kind_value * kind_kept)
    with np.errstate(invalid="ignore", divide="ignore"):
        stats = total / weight
    stats = stats[np.isfinite(stats)]
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(stats, [tail, 100.0 - tail])
    return (float(low), float(high))


def _kinds(values: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (value, kept) pairs and how many images have each."""
    if values.dtype.kind in "bu" and values.dtype.itemsize <= 2:
        # Outcomes and 0/1 errors: one bincount instead of a sort of N pairs.
        counts = np.bincount(values.astype(np.int64) * 2 + keep, minlength=2)
        codes = np.flatnonzero(counts)
        return (codes // 2).astype(np.float64), (codes % 2).astype(np.float64), counts[codes]
    codes, counts = np.unique(np.stack([values.astype(np.float64), keep]), axis=1, return_counts=True)
    return codes[0], codes[1], counts


def pack_outcomes(outcomes: np.ndarray) -> bytes:
    """uint8 per-image outcomes, zlib-compressed (a 100,000-image vector is a few KB)."""
    return zlib.compress(np.ascontiguousarray(outcomes, dtype=np.uint8).tobytes(), 6)


def unpack_outcomes(data: bytes) -> np.ndarray:
    return np.frombuffer(zlib.decompress(data), dtype=np.uint8).copy()


def pack_array(array: np.ndarray) -> bytes:
    """Any numeric array (dtype and shape kept, NaN included), compressed."""
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    return zlib.compress(buffer.getvalue(), 6)


def unpack_array(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(zlib.decompress(data)), allow_pickle=False)
