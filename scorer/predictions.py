"""Submissions: devkit text files and Kaggle CSVs, validated without any ground truth."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from scorer.classes import ClassList
from scorer.errors import FormatError
from scorer.fastparse import Parsed, accepted_guesses, parse_kaggle_csv, parse_numbers
from scorer.kaggle import HEADER, read_rows
from scorer.sources import DEFAULT_MAX_DECOMPRESSED, Source, decode_text, read_bytes, sniff, split_lines

TASKS = ("classification", "localization", "hierarchical")
GROUP = "'label xmin ymin xmax ymax'"
#: Lines per block when a file needs the precise parser somewhere.
_BLOCK_LINES = 2000
#: Blank lines accepted after the last image (a CSV may have them anywhere).
BLANK_TAIL = 100
#: Bytes a line may spend per token it may hold: a wnid, a float's repr, spacing.
BYTES_PER_TOKEN = 32
_NUL, _NEWLINE = 0, ord("\n")
#: The CSV fast path rewrites wnids of this shape as IDs.
_WNID_SHAPE = re.compile(r"n\d{8}\Z")


@dataclass(eq=False)
class Predictions:
    """Up to K guesses per image, most confident first; label -1 = no guess."""

    labels: np.ndarray  # (N, K) int32
    boxes: np.ndarray | None  # (N, K, 4) float64, localization only
    ignored_guesses: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def images(self) -> int:
        return int(self.labels.shape[0])


def check_task(task: str, guesses: int) -> None:
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, not {task!r}")
    if not 1 <= guesses <= 254:
        raise ValueError(f"guesses must be 1..254, not {guesses}")


def line_bytes(task: str, guesses: int) -> int:
    """The longest line a submission may have, in bytes (without its line end)."""
    group = 5 if task == "localization" else 1
    return BYTES_PER_TOKEN * (accepted_guesses(guesses) * group + 1)  # + 1: a CSV's ImageId


def parse_predictions(
    data: Source, *, task: str, guesses: int, classes: ClassList, images: int | None,
    max_decompressed: int = DEFAULT_MAX_DECOMPRESSED,
) -> Predictions:
    """Validate and parse a submission; raises ``FormatError`` with the first problem.

    ``images=None`` accepts any number of lines (or CSV rows 1..max). The file is
    refused while it is read (unpacked) at its first line longer than ``line_bytes``,
    past ``images`` lines plus ``BLANK_TAIL`` blank ones, or past ``max_decompressed``
    bytes, so no file costs more memory than a full-size valid one.
    """
    check_task(task, guesses)
    group = 5 if task == "localization" else 1
    guard = _ShapeGuard(line_bytes(task, guesses), images,
                        f"{guesses} labels" if group == 1 else f"{guesses} groups {GROUP}")
    raw = read_bytes(data, max_bytes=max_decompressed, check=guard)
    if not raw or raw.isspace():
        raise FormatError("the file is empty")
    kind = sniff(raw)
    if kind in ("mat", "tar"):
        raise _binary()
    parsed: Parsed | None = None
    if kind == "text":
        parsed = parse_numbers(raw, group=group, guesses=guesses, n_classes=len(classes), images=images)
    elif kind == "csv" and all(_WNID_SHAPE.match(w) for w in classes.wnids):
        parsed = parse_kaggle_csv(raw, header=HEADER, group=group, guesses=guesses,
                                  lookup=classes.lookup(), images=images)
    if parsed is None:
        text = decode_text(raw)
        del raw  # an unpacked file is held once, as text, by the precise parser
        if kind == "csv":
            parsed = _parse_csv(text, group, guesses, classes, images)
        else:
            parsed = _parse_lines(text, group, guesses, classes, images)
    warnings = []
    if parsed.ignored:
        warnings.append(
            f"{parsed.ignored} guesses beyond the first {guesses} per image were ignored"
        )
    return Predictions(parsed.labels, parsed.boxes, parsed.ignored, warnings)


def _binary() -> FormatError:
    return FormatError("this is a binary file (MATLAB or tar), expected a text submission", line=1)


class _ShapeGuard:
    """Checks each piece of a submission as it is read: the first line longer than
    ``max_bytes``, a line past the last one allowed, a NUL byte, a MATLAB or tar file.
    Vectorized per piece; state carried across pieces is the line count and the
    length of the unfinished line."""

    def __init__(self, max_bytes: int, images: int | None, shape: str) -> None:
        self.max_bytes, self.images, self.shape = max_bytes, images, shape
        self.max_lines: int | None = None
        self.started = False
        self.csv = False
        self.lines = 0  # complete lines so far
        self.current = 0  # bytes of the unfinished line

    def __call__(self, piece: memoryview) -> None:
        if not self.started:
            self.started = True
            kind = sniff(bytes(piece[:512]))
            if kind in ("mat", "tar"):
                raise _binary()
            self.csv = kind == "csv"
            if self.images is not None:
                self.max_lines = self.images + BLANK_TAIL + self.csv
        buf = np.frombuffer(piece, dtype=np.uint8)
        if buf.size == 0:
            return
        ends = np.flatnonzero(buf == _NEWLINE)
        before = self.lines
        long_at = None
        if ends.size:
            lengths = np.diff(ends, prepend=-1) - 1
            lengths[0] += self.current
            over = np.flatnonzero(lengths > self.max_bytes)
            if over.size:
                long_at = before + int(over[0]) + 1
            self.lines += int(ends.size)
            self.current = int(buf.size - ends[-1] - 1)
        else:
            self.current += int(buf.size)
        if long_at is None and self.current > self.max_bytes:
            long_at = self.lines + 1
        many_at = None
        if self.max_lines is not None and (self.lines > self.max_lines
                                           or (self.lines == self.max_lines and self.current)):
            many_at = self.max_lines + 1
        nul_at = None
        if buf.min() == _NUL:
            nul_at = before + int(np.searchsorted(ends, np.argmin(buf))) + 1
        first = min((at for at in (long_at, many_at, nul_at) if at is not None), default=None)
        if first is None:
            return
        if first == nul_at:
            raise FormatError("this is a binary file, expected plain text (a NUL byte was found)",
                              line=first)
        if first == long_at:
            raise FormatError(f"the line is longer than {self.max_bytes:,} bytes; expected at most "
                              f"{self.shape}", line=first)
        what = (f"a header and {self.images:,} rows (one per image)" if self.csv
                else f"{self.images:,} lines (one per image)")
        raise FormatError(f"too many lines: expected {what} and at most {BLANK_TAIL} blank lines after "
                          "them", line=first)


def _parse_lines(text: str, group: int, guesses: int, classes: ClassList,
                 images: int | None) -> Parsed:
    lines = split_lines(text)
    if images is not None and len(lines) > images and not "".join(lines[images:]).strip():
        del lines[images:]
    if images is not None and len(lines) != images:
        raise FormatError(
            f"expected {images} lines (one per image), found {len(lines)}",
            line=images + 1 if len(lines) > images else None,
        )
    return _parse_blocks(lines, group, guesses, classes)


def _parse_blocks(lines: list[str], group: int, guesses: int, classes: ClassList) -> Parsed:
    """Blocks of lines: the integer fast path where it vouches for a block, the precise
    parser elsewhere. A file with one bad line costs one precise block, not N lines."""
    parts: list[Parsed] = []
    for lo in range(0, len(lines), _BLOCK_LINES):
        block = lines[lo : lo + _BLOCK_LINES]
        data = ("\n".join(block) + "\n").encode()
        fast = parse_numbers(data, group=group, guesses=guesses, n_classes=len(classes),
                              images=len(block))
        parts.append(fast if fast is not None else _parse_precise(block, lo, group, guesses, classes))
    boxes = None if group == 1 else np.concatenate([p.boxes for p in parts if p.boxes is not None])
    return Parsed(np.concatenate([p.labels for p in parts]), boxes, sum(p.ignored for p in parts))


def _parse_precise(lines: list[str], offset: int, group: int, guesses: int,
                   classes: ClassList) -> Parsed:
    """Line by line; ``offset`` lines come before these in the file."""
    filler = _Filler(len(lines), group, guesses, classes)
    for row, line in enumerate(lines):
        filler.fill(row, line.split(), offset + row + 1)
    return filler.result()


def _parse_csv(text: str, group: int, guesses: int, classes: ClassList,
               images: int | None) -> Parsed:
    rows = read_rows(text, images)
    filler = _Filler(len(rows), group, guesses, classes)
    for row in rows:
        filler.fill(row.image, row.rest.split(), row.line)
    return filler.result()


class _Filler:
    """Per-line precise parsing. Lines are read with C-level list operations; only a
    line that fails them is walked token by token, to name the bad token."""

    def __init__(self, n: int, group: int, guesses: int, classes: ClassList) -> None:
        self.n, self.group, self.guesses, self.classes = n, group, guesses, classes
        self.accepted = accepted_guesses(guesses)
        self.ignored = 0
        self.rows: list[int] = []
        self.cols: list[int] = []
        self.labels: list[int] = []
        self.coords: list[float] = []
        lookup = {str(i + 1): i for i in range(len(classes))}
        lookup.update(classes.lookup())
        self.lookup = lookup

    def label(self, token: str, line: int) -> int:
        index = self.lookup.get(token)
        if index is None:
            try:
                index = self.classes.index(token)  # "007" and other spellings of an ID
            except KeyError:
                raise self.classes.label_error(token, line) from None
        return index

    def fill(self, row: int, tokens: list[str], line: int) -> None:
        group, guesses = self.group, self.guesses
        if len(tokens) > self.accepted * group:
            raise FormatError(f"{-(-len(tokens) // group):,} guesses; at most {self.accepted} are "
                              f"accepted (the track takes {guesses})", line=line)
        if len(tokens) % group:
            tail = tokens[len(tokens) - len(tokens) % group :]
            raise FormatError(
                f"a localization guess is 5 tokens {GROUP}; this line has {len(tokens)} tokens, "
                f"so its last guess is incomplete",
                line=line, token=" ".join(tail),
            )
        count = len(tokens) // group
        if count == 0:
            return
        if count > guesses:
            self.ignored += count - guesses
        if group == 1:
            label_tokens, coord_tokens = tokens, []
        else:
            label_tokens = tokens[::group]
            coord_tokens = tokens.copy()
            del coord_tokens[::group]
        try:
            labels = [self.lookup[t] for t in label_tokens]
        except KeyError:
            labels = [self.label(t, line) for t in label_tokens]
        coords: list[float] = []
        if coord_tokens:
            joined = "".join(coord_tokens)
            try:
                # float() also takes "1_000" and non-ASCII digits; those go token by token.
                if "_" in joined or not joined.isascii():
                    raise ValueError
                coords = list(map(float, coord_tokens))
                total = sum(coords)
                if total - total != 0.0:  # NaN or infinity somewhere (or a huge sum)
                    raise ValueError
            except ValueError:
                coords = [_coord(t, line) for t in coord_tokens]
        kept = min(count, guesses)
        self.rows.extend([row] * kept)
        self.cols.extend(range(kept))
        self.labels.extend(labels[:kept])
        self.coords.extend(coords[: 4 * kept])

    def result(self) -> Parsed:
        labels = np.full((self.n, self.guesses), -1, dtype=np.int32)
        rows, cols = np.asarray(self.rows, dtype=np.int64), np.asarray(self.cols, dtype=np.int64)
        labels[rows, cols] = self.labels
        boxes = None
        if self.group > 1:
            boxes = np.zeros((self.n, self.guesses, 4), dtype=np.float64)
            boxes[rows, cols] = np.asarray(self.coords, dtype=np.float64).reshape(-1, 4)
        return Parsed(labels, boxes, self.ignored)


def _coord(token: str, line: int) -> float:
    try:
        # float() also takes "1_000" and non-ASCII digits; a coordinate is ASCII
        # digits, a sign, a point and an exponent.
        if "_" in token or not token.isascii():
            raise ValueError(token)
        value = float(token)
    except ValueError:
        raise FormatError(f"a box coordinate must be a number (guesses are {GROUP})", line=line,
                          token=token) from None
    if not math.isfinite(value):
        raise FormatError("a box coordinate must be finite, not NaN or infinity", line=line, token=token)
    return value
