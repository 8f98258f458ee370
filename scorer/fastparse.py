"""The vectorized fast path for devkit text files made only of integers.

It either returns arrays it can vouch for (every check the precise parser makes
has passed) or ``None``; the caller then runs the precise, per-line parser,
which accepts what this path cannot (wnids, fractional or negative coordinates)
and explains the first error. Nothing here loops over lines in Python.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

#: Bytes an integer-only file may hold: digits and whitespace (CRLF included).
_ALLOWED = np.zeros(256, dtype=bool)
_ALLOWED[np.frombuffer(b"0123456789 \t\r\n", dtype=np.uint8)] = True
#: Above this, int64 parsing saturates and float64 stops being exact.
_MAX_EXACT = 2**53


class Parsed(NamedTuple):
    labels: np.ndarray  # (N, K) int32, -1 = no guess
    boxes: np.ndarray | None  # (N, K, 4) float64
    ignored: int  # guesses beyond K


def parse_integers(
    data: bytes, *, group: int, guesses: int, n_classes: int, images: int | None
) -> Parsed | None:
    """Parse a devkit file whose tokens are all integers, or return None."""
    buf = np.frombuffer(data, dtype=np.uint8)
    if buf.size == 0 or not np.take(_ALLOWED, buf).all():
        return None
    # With only digits and whitespace left, "digit" is simply ">= '0'".
    digit = buf >= 48
    starts = np.flatnonzero(digit[1:] > digit[:-1]) + 1
    if digit[0]:
        starts = np.concatenate(([0], starts))
    del digit
    ends = np.flatnonzero(buf == 10)
    if data[-1:] != b"\n":
        ends = np.concatenate((ends, [buf.size]))
    before = np.searchsorted(starts, ends)  # tokens before each line's end
    lines = ends.size
    if images is not None and lines > images and images > 0 and before[images - 1] == starts.size:
        lines = images  # blank lines after the last image
    if lines == 0 or (images is not None and lines != images):
        return None
    counts = np.diff(before[:lines], prepend=0)

    values = np.fromstring(data, dtype=np.int64, sep=" ")
    if values.size != starts.size or (values.size and values.max() > _MAX_EXACT):
        return None
    if group > 1:
        if (counts % group).any():
            return None
        table = values.reshape(-1, group)
        raw_labels = table[:, 0]
    else:
        table = None
        raw_labels = values
    if raw_labels.size and (raw_labels.min() < 1 or raw_labels.max() > n_classes):
        return None

    per_line = counts // group
    total = int(per_line.sum())
    if total == lines * guesses and (per_line == guesses).all():
        labels = (raw_labels - 1).astype(np.int32).reshape(lines, guesses)
        boxes = None if table is None else table[:, 1:].astype(np.float64).reshape(lines, guesses, 4)
        return Parsed(labels, boxes, 0)

    kept = np.minimum(per_line, guesses)
    row = np.repeat(np.arange(lines), per_line)
    col = np.arange(total) - np.repeat(np.cumsum(per_line) - per_line, per_line)
    keep = col < guesses
    row, col = row[keep], col[keep]
    labels = np.full((lines, guesses), -1, dtype=np.int32)
    labels[row, col] = raw_labels[keep] - 1
    boxes = None
    if table is not None:
        boxes = np.zeros((lines, guesses, 4), dtype=np.float64)
        boxes[row, col] = table[keep, 1:]
    return Parsed(labels, boxes, int((per_line - kept).sum()))
