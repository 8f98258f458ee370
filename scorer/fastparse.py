"""The vectorized fast paths: devkit text made of numbers (integers, or fractional
coordinates) and Kaggle CSVs with devkit-shaped wnids.

Each either returns arrays it can vouch for (every check the precise parser makes
has passed) or ``None``; the caller then runs the precise, per-line parser,
which accepts what these paths cannot (wnids in devkit text, '+' signs,
"007"-style labels) and explains the first error. Nothing here loops over lines
in Python.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

#: Above this, int64 parsing saturates and float64 stops being exact.
_MAX_EXACT = 2**53
_MINUS, _NEWLINE, _SPACE = ord("-"), ord("\n"), ord(" ")
_BLOCK = 1 << 20
#: Bytes a file with fractional coordinates may hold (no '+', letters other than e/E).
_FLOAT_BYTES = b"0123456789.eE-\t\n\v\f\r "
#: Longest label (in digits) the fractional path checks.
_LABEL_DIGITS = 6
#: A line may hold the track's guesses, or five if it takes fewer (a top-5 file is
#: accepted on a top-1 track), plus two spare: extras within that are ignored with a
#: warning, beyond it the file is refused (a line of 2,000 guesses is an attack).
STANDARD_GUESSES, SPARE_GUESSES = 5, 2


def accepted_guesses(guesses: int) -> int:
    """The most guesses a line may hold for a track that takes ``guesses``."""
    return max(guesses, STANDARD_GUESSES) + SPARE_GUESSES


class Parsed(NamedTuple):
    labels: np.ndarray  # (N, K) int32, -1 = no guess
    boxes: np.ndarray | None  # (N, K, 4) float64
    ignored: int  # guesses beyond K


def _numbers(data: bytes, dtype: type = np.int64) -> np.ndarray | None:
    """All tokens as ``dtype``, or None unless numpy can read every one.

    numpy's own text parser is the fastest way through the bytes; it warns (here:
    raises) at the first token it cannot read, which sends the file elsewhere.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            return np.fromstring(data, dtype=dtype, sep=" ")
        except (ValueError, Warning):
            return None


def _blocks(line_starts: np.ndarray, size: int) -> Iterator[tuple[int, int, int, int]]:
    """Runs of whole lines of about ``_BLOCK`` bytes: (first line, end line, first byte, end byte)."""
    per_block = max(1, int(line_starts.size * _BLOCK // max(size, 1)))
    for lo in range(0, line_starts.size, per_block):
        hi = min(lo + per_block, line_starts.size)
        yield lo, hi, int(line_starts[lo]), int(line_starts[hi]) if hi < line_starts.size else size


def _starts(part: np.ndarray) -> np.ndarray:
    """Where a token starts in ``part`` (a run of whole lines): a byte above ' ' after
    one at or below it."""
    solid = part > _SPACE
    starts = np.empty(part.size, dtype=bool)
    starts[0] = solid[0]
    np.greater(solid[1:], solid[:-1], out=starts[1:])
    return starts


def _token_counts(buf: np.ndarray, line_starts: np.ndarray) -> np.ndarray:
    """Tokens on each line. Masks and ``np.add.reduceat`` (which casts its whole input
    to the sum's dtype) run on blocks of about a megabyte, so they cost a few
    megabytes whatever the file's size."""
    out = np.empty(line_starts.size, dtype=np.int64)
    for lo, hi, begin, end in _blocks(line_starts, buf.size):
        out[lo:hi] = np.add.reduceat(_starts(buf[begin:end]), line_starts[lo:hi] - begin, dtype=np.int32)
    return out


def _token_positions(buf: np.ndarray, line_starts: np.ndarray) -> np.ndarray:
    """Byte offset of every token's first byte (blocks of lines, as ``_token_counts``)."""
    return np.concatenate([np.flatnonzero(_starts(buf[begin:end])) + begin
                           for _, _, begin, end in _blocks(line_starts, buf.size)])


def _token_ends(buf: np.ndarray, line_starts: np.ndarray) -> np.ndarray:
    """Byte offset just past every token (blocks of lines, as ``_token_positions``)."""
    parts = []
    for _, _, begin, end in _blocks(line_starts, buf.size):
        solid = buf[begin:end] > _SPACE
        ends = np.empty(solid.size, dtype=bool)
        ends[-1] = solid[-1]
        np.greater(solid[:-1], solid[1:], out=ends[:-1])
        parts.append(np.flatnonzero(ends) + begin + 1)
    return np.concatenate(parts)


def _plain_labels(buf: np.ndarray, line_starts: np.ndarray, labels: np.ndarray, group: int) -> bool:
    """Whether every label token (each ``group``-th) is written as plain digits.

    numpy's float parser would also read "7.0" or "1e2"; the precise parser rejects
    those as labels, so the fast path must too.
    """
    if labels.size == 0:
        return True
    if (labels != np.floor(labels)).any() or labels.min() < 1 or labels.max() >= 10**_LABEL_DIGITS:
        return False
    where = _token_positions(buf, line_starts)[::group]
    width = 1 + sum((labels >= 10**d).astype(np.int64) for d in range(1, _LABEL_DIGITS))
    offsets = np.arange(_LABEL_DIGITS + 1)
    at = np.minimum(where[:, None] + offsets, buf.size - 1)
    chars = buf[at] - np.uint8(48)
    digits = (chars <= 9) | (offsets >= width[:, None])
    after = where + width
    ends = (after >= buf.size) | (buf[np.minimum(after, buf.size - 1)] <= _SPACE)
    return bool(digits.all() and ends.all())


def _label_indices(raw: np.ndarray, n_classes: int,
                   wnids: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray | None:
    """Class indices of ID labels (1..n), and of wnid numbers written negative; None if any is unknown."""
    out = raw - 1
    if wnids is not None and raw.size and raw.min() < 0:
        keys, index = wnids
        negative = raw < 0
        wanted = -raw[negative]
        at = np.minimum(np.searchsorted(keys, wanted), keys.size - 1)
        if not np.array_equal(keys[at], wanted):
            return None
        out[negative] = index[at]
    if out.size and (out.min() < 0 or out.max() >= n_classes):
        return None
    return out


def parse_numbers(
    data: bytes, *, group: int, guesses: int, n_classes: int, images: int | None,
    wnids: tuple[np.ndarray, np.ndarray] | None = None,
) -> Parsed | None:
    """Parse a devkit file whose tokens are all numbers, or return None (also when a
    line holds more than ``accepted_guesses(guesses)`` guesses).

    ``wnids`` (sorted wnid numbers, their class indices) lets negative labels stand
    for wnids (``-1440764`` for ``n01440764``), see ``parse_kaggle_csv``.
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    # A NUL ends numpy's C-string parse early (the precise path calls the file binary);
    # '+' is legal in a coordinate but not in a label, so let the precise path decide.
    if buf.size == 0 or b"\x00" in data or b"+" in data:
        return None
    # numpy reads a lone '-' as 0 and "- 2" as -2; a minus must touch its digits.
    if b"-" in data:
        minus = np.flatnonzero(buf == _MINUS)
        if minus[-1] + 1 >= buf.size or ((buf[minus + 1] - 48) > 9).any():
            return None
    # Count tokens per line (in blocks: no mask as large as the file) before numpy
    # parses them.
    line_starts = np.concatenate([[0]] + [np.flatnonzero(buf[lo : lo + _BLOCK] == _NEWLINE) + lo + 1
                                          for lo in range(0, buf.size, _BLOCK)])
    if data[-1:] == b"\n":
        line_starts = line_starts[:-1]
    counts = _token_counts(buf, line_starts)
    # Past the cap the precise parser names the line; checked before numpy allocates
    # 8 bytes per token, so a padded line costs nothing here.
    if counts.size and counts.max() > accepted_guesses(guesses) * group:
        return None
    values = _numbers(data)
    fractional = values is None
    if fractional:
        # Fractional coordinates: numpy's float parser (7x slower, still far ahead of
        # Python), on bytes a float may hold; labels are proven plain digits below.
        # bytes.translate, not a numpy lookup: np.take would cast every byte to an
        # 8-byte index (9x the file in memory).
        if group == 1 or wnids is not None or data.translate(None, _FLOAT_BYTES):
            return None
        values = _numbers(data, np.float64)
        if values is None or not np.isfinite(values).all():
            return None
    # numpy accepted every byte, so its token count must equal ours; a mismatch
    # means something odd: let the precise path look.
    if values.size != counts.sum():
        return None
    lines = counts.size
    if images is not None and lines > images and not counts[images:].any():
        lines = images  # blank lines after the last image
        counts = counts[:images]
    if lines == 0 or (images is not None and lines != images):
        return None
    if values.size and (values.max() > _MAX_EXACT or values.min() < -_MAX_EXACT):
        return None
    if group > 1:
        if (counts % group).any():
            return None
        table = values.reshape(-1, group)
        raw_labels = table[:, 0]
        # In wnid mode a negative coordinate was an 'n' in the file: not a number.
        if wnids is not None and table.size and table[:, 1:].min() < 0:
            return None
        if fractional:
            if not _plain_labels(buf, line_starts, raw_labels, group):
                return None
            raw_labels = raw_labels.astype(np.int64)
    else:
        table = None
        raw_labels = values
    indices = _label_indices(raw_labels, n_classes, wnids)
    if indices is None:
        return None

    per_line = counts // group
    total = int(per_line.sum())
    if total == lines * guesses and (per_line == guesses).all():
        labels = indices.astype(np.int32).reshape(lines, guesses)
        boxes = None if table is None else table[:, 1:].astype(np.float64).reshape(lines, guesses, 4)
        return Parsed(labels, boxes, 0)

    kept = np.minimum(per_line, guesses)
    row = np.repeat(np.arange(lines), per_line)
    col = np.arange(total) - np.repeat(np.cumsum(per_line) - per_line, per_line)
    keep = col < guesses
    row, col = row[keep], col[keep]
    labels = np.full((lines, guesses), -1, dtype=np.int32)
    labels[row, col] = indices[keep]
    boxes = None
    if table is not None:
        boxes = np.zeros((lines, guesses, 4), dtype=np.float64)
        boxes[row, col] = table[keep, 1:]
    return Parsed(labels, boxes, int((per_line - kept).sum()))


#: An ImageId's number has at most this many digits on the fast path (int64-safe).
_ID_DIGITS = 18
_COMMA, _LETTER_N = ord(","), ord("n")


def _csv_rows(buf: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Each row's ImageId number, and the bytes without the ImageId column; None unless
    every line is ``<anything without a comma><digits>,<rest>``."""
    if buf.size == 0:
        return None
    commas = np.flatnonzero(buf == _COMMA)
    line_ends = np.flatnonzero(buf == _NEWLINE)
    if buf[-1] != _NEWLINE:
        line_ends = np.append(line_ends, buf.size)
    line_starts = np.concatenate(([0], line_ends[:-1] + 1))
    # Exactly one comma per line: the i-th comma lies inside the i-th line.
    if commas.size != line_ends.size or not ((commas >= line_starts) & (commas < line_ends)).all():
        return None
    # The digits just before each comma, read right to left one place at a time (an
    # ImageId has few): at most _ID_DIGITS, at least one.
    numbers = np.zeros(commas.size, dtype=np.int64)
    alive = np.ones(commas.size, dtype=bool)
    for place in range(_ID_DIGITS + 1):
        at = commas - (place + 1)
        digit = buf[np.maximum(at, 0)] - np.uint8(48)
        alive &= (digit <= 9) & (at >= line_starts)
        if place == 0 and not alive.all():
            return None  # a line without digits before its comma
        if not alive.any():
            break
        if place == _ID_DIGITS:
            return None  # too many digits for int64
        numbers += np.where(alive, digit, 0).astype(np.int64) * 10**place
    # Drop every byte from a line's start through its comma (a mask set a column at a
    # time: ImageIds are short; a cumulative sum over the whole file for long ones).
    width = commas - line_starts + 1
    shortest, longest = int(width.min()), int(width.max())
    if longest <= 64:
        keep = np.ones(buf.size, dtype=bool)
        for k in range(longest):
            keep[line_starts + k if k < shortest else line_starts[width > k] + k] = False
    else:
        delta = np.zeros(buf.size + 1, dtype=np.int8)
        delta[line_starts] = 1
        delta[commas + 1] = -1
        keep = np.cumsum(delta[:-1], dtype=np.int8, out=delta[:-1]) == 0
    return numbers, buf[keep]


def _csv_body(data: bytes, header: str, images: int | None, *,
              empty_ok: bool = True) -> tuple[np.ndarray, bytes, int] | None:
    """What both Kaggle CSV fast paths start with: the header checked, the ImageId
    column dropped, the ImageIds exactly 1..N once, and the wnids rewritten as negative
    numbers ('n01440764' -> -1440764) so numpy parses every token at once. Returns
    (ImageIds in file order, the rewritten text, N), or None for anything unusual
    (the precise parser then explains)."""
    start = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    end = data.find(b"\n", start)
    if end < 0:
        return None
    first = data[start:end]
    if not first.isascii() or first.decode().strip().replace(" ", "").lower() != header.lower():
        return None
    buf = np.frombuffer(data, dtype=np.uint8, offset=end + 1)
    if (buf.size == 0 and not empty_ok) or (buf.size and buf.max() > 127):
        return None
    rows = _csv_rows(buf)
    if rows is None:
        return None
    index, rest = rows
    total = images if images is not None else int(index.max())
    if index.size != total or not np.array_equal(np.sort(index), np.arange(1, total + 1)):
        return None
    # The rewrite is only safe when nothing else in the file is negative, and every 'n'
    # starts a well-formed wnid.
    if (rest == _MINUS).any() or not _wnids_plain(rest):
        return None
    rest[rest == _LETTER_N] = _MINUS
    return index, rest.tobytes(), total


def parse_kaggle_csv(
    data: bytes | str, *, header: str, group: int, guesses: int, lookup: dict[str, int],
    images: int | None,
) -> Parsed | None:
    """A Kaggle CSV rewritten as devkit text (ImageIds dropped, wnids as IDs) and parsed by
    ``parse_numbers``, or None for anything unusual (the precise parser then explains).

    Works on the bytes as read (an ASCII file needs no decoding), through views, so
    the file is not copied before its ImageIds are dropped."""
    if isinstance(data, str):
        data = data.encode()
    body = _csv_body(data, header, images)
    if body is None:
        return None
    index, text, total = body
    keys = np.array([int(w[1:]) for w in lookup], dtype=np.int64)
    order_keys = np.argsort(keys)
    wnid_table = (keys[order_keys], np.array(list(lookup.values()), dtype=np.int64)[order_keys])
    parsed = parse_numbers(text, group=group, guesses=guesses,
                            n_classes=len(lookup), images=total, wnids=wnid_table)
    if parsed is None:
        return None
    order = np.argsort(index, kind="stable")
    return Parsed(parsed.labels[order], None if parsed.boxes is None else parsed.boxes[order],
                  parsed.ignored)


def _wnids_plain(buf: np.ndarray) -> bool:
    """Whether every 'n' in ``buf`` starts a token of exactly 'n' and eight digits: read
    as numbers, 'n1440764' and 'n001440764' would both pass as the wnid n01440764."""
    at = np.flatnonzero(buf == _LETTER_N)
    if at.size == 0:
        return True
    span = 1 + _WNID_DIGITS
    if at[-1] + span > buf.size:
        return False
    digits = buf[at[:, None] + np.arange(1, span)]
    if not (((digits - np.uint8(48)) <= 9).all()):
        return False
    after = at + span
    ends = (after == buf.size) | (buf[np.minimum(after, buf.size - 1)] <= _SPACE)
    before = (at == 0) | (buf[np.maximum(at - 1, 0)] <= _SPACE)
    return bool(ends.all() and before.all())


class BoxTable(NamedTuple):
    """A Kaggle solution CSV's boxes, in file order within each image, images in order."""

    image: np.ndarray  # (M,) int64, 0-based, sorted
    label: np.ndarray  # (M,) int64 class index
    coords: np.ndarray  # (M, 4) float64 xmin ymin xmax ymax
    images: int  # N (every image 1..N has a row with at least one box)


#: Digits in a wnid on the fast path (``n01440764``).
_WNID_DIGITS = 8


def _label_tokens_plain(buf: np.ndarray, where: np.ndarray, raw: np.ndarray) -> bool:
    """Whether each label token (starting at ``where``, value ``raw`` after the
    'n' -> '-' rewrite) is written exactly as the precise parser reads it: an ID as
    plain digits without leading zeros, a wnid as '-' and eight digits; each followed
    by a separator or the end. 'n1440764' or 'n01440764.0' would otherwise pass as
    the wnid n01440764."""
    if raw.size == 0:
        return True
    if (raw != np.floor(raw)).any():
        return False
    value = np.abs(raw).astype(np.int64)
    negative = raw < 0
    # Leading zeros in an ID would pass the digit check but shift the terminator; a
    # zero-valued label is never a class either way.
    if (~negative & ((value < 1) | (value >= 10**_LABEL_DIGITS))).any():
        return False
    width = np.where(negative, 1 + _WNID_DIGITS,
                     1 + sum((value >= 10**d).astype(np.int64) for d in range(1, _LABEL_DIGITS)))
    span = 1 + _WNID_DIGITS
    offsets = np.arange(span + 1)
    at = np.minimum(where[:, None] + offsets, buf.size - 1)
    chars = buf[at]
    digit = (chars - np.uint8(48)) <= 9
    sign_ok = np.where(negative, chars[:, 0] == _MINUS, digit[:, 0])
    body = digit[:, 1:] | (offsets[1:] >= width[:, None])
    after = where + width
    if after.max() > buf.size:  # a token cut short by the end of the buffer
        return False
    ends = (after == buf.size) | (buf[np.minimum(after, buf.size - 1)] <= _SPACE)
    return bool(sign_ok.all() and body.all() and ends.all())


def parse_kaggle_boxes(data: bytes, *, header: str, lookup: dict[str, int],
                       images: int | None) -> BoxTable | None:
    """A Kaggle solution CSV (``ImageId,PredictionString`` with ``wnid xmin ymin xmax
    ymax`` repeated) parsed on the whole buffer, or None for anything the precise
    parser (``scorer.truth``) might read differently or refuse; it then runs and
    names the line. Wnids must all look like ``n01440764`` (the caller checks).

    Accepted here: ASCII, one comma per line, no blank lines, every ImageId number
    1..N once, at least one group of five tokens per row, IDs or wnids as labels,
    non-negative decimal coordinates (integers, or with '.', 'e'), all finite.
    """
    if b"\x00" in data:
        return None
    body = _csv_body(data, header, images, empty_ok=False)
    if body is None:
        return None
    index, text, total = body
    if text.translate(None, _FLOAT_BYTES):
        return None
    tbuf = np.frombuffer(text, dtype=np.uint8)
    line_starts = np.concatenate(([0], np.flatnonzero(tbuf == _NEWLINE) + 1))
    if text[-1:] == b"\n":
        line_starts = line_starts[:-1]
    if line_starts.size != index.size:
        return None
    # Token starts and ends once for the whole buffer; tokens per line from them.
    starts = _token_positions(tbuf, line_starts)
    counts = np.diff(np.searchsorted(starts, line_starts), append=starts.size)
    if (counts == 0).any() or (counts % 5).any():
        return None
    values = _numbers(text)
    integers = values is not None
    if values is None:
        values = _numbers(text, np.float64)
        if values is None or not np.isfinite(values).all():
            return None
    if values.size != starts.size or (values.size and np.abs(values).max() > _MAX_EXACT):
        return None
    table = values.reshape(-1, 5)
    raw = table[:, 0]
    where = starts[::5]
    # Each wnid's '-' is at its token's start (checked below); any other '-' was an
    # 'n' inside a coordinate or ID, which the precise parser refuses.
    if int(np.count_nonzero(tbuf == _MINUS)) != int(np.count_nonzero(raw < 0)):
        return None
    if integers:
        # numpy's integer parser took every token, so a label token is a sign (only
        # at its start: "1-5" fails it) and digits; its length then tells the rest.
        length = _token_ends(tbuf, line_starts)[::5] - where
        value = np.abs(raw)
        digits = 1 + sum((value >= 10**d).astype(np.int64) for d in range(1, _LABEL_DIGITS + 1))
        negative = raw < 0
        if not np.array_equal(length, np.where(negative, 1 + _WNID_DIGITS, digits)):
            return None
        if (~negative & ((value < 1) | (value >= 10**_LABEL_DIGITS))).any():
            return None
    elif not _label_tokens_plain(tbuf, where, raw):
        return None
    keys = np.array([int(w[1:]) for w in lookup], dtype=np.int64)
    order_keys = np.argsort(keys)
    wnid_table = (keys[order_keys], np.array(list(lookup.values()), dtype=np.int64)[order_keys])
    labels = _label_indices(raw.astype(np.int64), len(lookup), wnid_table)
    if labels is None:
        return None
    box_image = np.repeat(index - 1, counts // 5)
    coords = np.ascontiguousarray(table[:, 1:], dtype=np.float64)
    if (np.diff(index) < 0).any():  # rows out of order: sort the boxes by image, stably
        order = np.argsort(box_image, kind="stable")
        box_image, labels, coords = box_image[order], labels[order], coords[order]
    return BoxTable(box_image, labels, coords, total)
